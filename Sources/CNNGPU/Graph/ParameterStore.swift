/// Every parameter of a model on one backend, in two flat allocations — trainable weights, and
/// non-trainable buffers (batch-norm running statistics) — with one view per parameter. The
/// trainable weights, their gradients and the optimizer state share one layout, so an optimizer
/// update is a single launch and a data-parallel allreduce would be a single call.
public final class ParameterStore {
    public struct Entry {
        /// "conv1.weight", "bn1.running_mean", …
        public let name: String
        public let node: Int
        public let spec: ParameterSpec
        /// Offset in its flat buffer (trainable or not).
        public let offset: Int
    }

    public let backend: any Backend
    public let entries: [Entry]
    /// All trainable parameters, and their gradients in the same layout.
    public let weights: any DeviceBuffer
    public let gradients: any DeviceBuffer
    /// Non-trainable state saved with the model (never updated by the optimizer).
    public let buffers: (any DeviceBuffer)?
    /// Elements of `weights` (with alignment padding).
    public let trainableSpan: Int
    /// Views per node, in the order of the layer's `parameters(for:)`.
    private(set) var nodeViews: [Int: [any DeviceBuffer]] = [:]
    private(set) var nodeGradientViews: [Int: [(any DeviceBuffer)?]] = [:]

    /// Lays out and initializes the parameters of `graph`; random initializers draw from `seed`.
    /// `initialize: false` leaves the values undefined, for a caller that writes every
    /// parameter next (loading weights), and saves drawing VGG's 138M random numbers.
    public init(graph: Graph, backend: any Backend, seed: UInt64, initialize: Bool = true) throws {
        self.backend = backend
        let align = backend.viewAlignment
        func aligned(_ n: Int) -> Int { (n + align - 1) / align * align }
        var entries: [Entry] = []
        var trainableOffset = 0, bufferOffset = 0
        for (i, node) in graph.nodes.enumerated() {
            for spec in node.parameters {
                if spec.trainable {
                    entries.append(Entry(name: "\(node.name).\(spec.name)", node: i, spec: spec, offset: trainableOffset))
                    trainableOffset += aligned(spec.count)
                } else {
                    entries.append(Entry(name: "\(node.name).\(spec.name)", node: i, spec: spec, offset: bufferOffset))
                    bufferOffset += aligned(spec.count)
                }
            }
        }
        self.entries = entries
        self.trainableSpan = max(trainableOffset, align)
        weights = try backend.allocate(trainableSpan, dtype: .float32)
        gradients = try backend.allocate(trainableSpan, dtype: .float32)
        buffers = bufferOffset > 0 ? try backend.allocate(bufferOffset, dtype: .float32) : nil
        try backend.fill(weights, value: 0)
        try backend.fill(gradients, value: 0)

        var generator = SplitMix64(seed: seed)
        for e in entries {
            let flat = e.spec.trainable ? weights : buffers!
            let view = try backend.view(of: flat, offset: e.offset, count: e.spec.count)
            if initialize {
                try backend.upload(e.spec.initializer.values(shape: e.spec.shape, fanShape: e.spec.fanShape, generator: &generator),
                                   to: view)
            }
            nodeViews[e.node, default: []].append(view)
            nodeGradientViews[e.node, default: []].append(
                e.spec.trainable ? try backend.view(of: gradients, offset: e.offset, count: e.spec.count) : nil)
        }
    }

    public var parameterCount: Int { entries.filter(\.spec.trainable).reduce(0) { $0 + $1.spec.count } }

    /// Bytes held on the device: weights, gradients and buffers.
    public var bytes: Int { weights.byteCount + gradients.byteCount + (buffers?.byteCount ?? 0) }

    /// The end of node `node`'s trainable parameters in the flat layout: freezing up to here
    /// freezes that node and every node before it.
    public func trainableOffset(through node: Int) -> Int {
        let align = backend.viewAlignment
        return entries.filter { $0.spec.trainable && $0.node <= node }
            .map { $0.offset + ($0.spec.count + align - 1) / align * align }.max() ?? 0
    }

    /// The last node that has trainable parameters (the classifier head of a zoo model).
    public var headNode: Int? { entries.last(where: \.spec.trainable)?.node }

    func views(node: Int) -> [any DeviceBuffer] { nodeViews[node] ?? [] }
    func gradientViews(node: Int) -> [(any DeviceBuffer)?] { nodeGradientViews[node] ?? [] }

    /// Every parameter's values by name (waits for the device).
    public func read() throws -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for e in entries {
            out[e.name] = try backend.download(e.spec.trainable ? weights : buffers!, offset: e.offset, count: e.spec.count)
        }
        return out
    }

    /// Replaces parameters by name; every name must exist with the right element count.
    public func write(_ values: [String: [Float]]) throws {
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        for (name, v) in values {
            guard let e = byName[name] else {
                throw CNNError.invalidArgument("the model has no parameter '\(name)'")
            }
            guard v.count == e.spec.count else {
                throw CNNError.invalidArgument("parameter '\(name)' has \(e.spec.count) values "
                    + "(shape \(e.spec.shape.map(String.init).joined(separator: "×"))), got \(v.count)")
            }
            try backend.upload(v, to: e.spec.trainable ? weights : buffers!, offset: e.offset)
        }
    }
}
