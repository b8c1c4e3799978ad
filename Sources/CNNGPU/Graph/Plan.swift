/// The loss a training plan ends with.
public enum LossFunction: String, Sendable {
    /// Softmax cross-entropy on the model's output logits against Int32 class labels.
    case softmaxCrossEntropy
    /// Mean squared error against Float32 targets of the output's shape.
    case meanSquaredError
}

/// A graph compiled for one backend, one batch size and one mode: every activation, gradient
/// and saved state has a place in a small set of shared device buffers (chosen by liveness,
/// in place where legal), and every step of forward, loss and backward is fixed in order.
/// Compile once, run many steps (see `Executor`).
public final class Plan {
    public let graph: Graph
    public let parameters: ParameterStore
    public let batch: Int
    public let training: Bool
    public let loss: LossFunction

    /// Where each node's output lives.
    let activations: [any DeviceBuffer]
    /// Each node's output gradient (training only; nil for the input).
    let gradients: [(any DeviceBuffer)?]
    /// Per node, the saved state of its layer.
    let states: [[any DeviceBuffer]]
    /// Per (consumer node, input slot) whose gradient is added into an already-written one.
    let scratchGradients: [Edge: any DeviceBuffer]
    /// The consumer that writes each node's gradient first in the backward pass.
    let firstGradientWriter: [Int: Edge]

    /// Labels (Int32) or targets (Float32) for the loss; nil for inference plans.
    public let targets: (any DeviceBuffer)?
    let lossValue: (any DeviceBuffer)?
    let correctCount: (any DeviceBuffer)?

    /// Device memory of the activations, gradients and saved state: what the planner allocated.
    public let plannedActivationBytes: Int
    /// What the same tensors would take without sharing buffers (to show what planning saves).
    public let unsharedActivationBytes: Int

    struct Edge: Hashable { let consumer: Int, slot: Int }

    /// Compiles `graph` for `batch` samples. `parameters` are shared between plans of one model
    /// (a training plan and an evaluation plan of another batch size, say).
    public init(graph: Graph, parameters: ParameterStore, batch: Int, training: Bool,
                loss: LossFunction = .softmaxCrossEntropy) throws {
        guard batch > 0 else { throw CNNError.invalidArgument("the batch size must be positive, got \(batch)") }
        self.graph = graph; self.parameters = parameters; self.batch = batch
        self.training = training; self.loss = loss
        let backend = parameters.backend
        let layout = try PlanLayout(graph: graph, batch: batch, training: training)

        let assignment = MemoryPlanner.assign(layout.requests)
        let budget = backend.info.globalMemoryBytes - parameters.bytes
        if assignment.bytes > budget || assignment.buffers.contains(where: { $0.count * $0.dtype.byteSize > backend.info.maxBufferBytes }) {
            throw Plan.doesNotFit(graph: graph, batch: batch, training: training, bytes: assignment.bytes,
                                  info: backend.info, parameterBytes: parameters.bytes)
        }
        let buffers = try assignment.buffers.map { try backend.allocate($0.count, dtype: $0.dtype) }
        func buffer(_ tensor: Int) -> any DeviceBuffer { buffers[assignment.buffer[tensor]] }

        activations = layout.activation.map(buffer)
        gradients = layout.gradient.map { $0.map(buffer) }
        states = layout.state.map { $0.map(buffer) }
        scratchGradients = layout.scratch.mapValues(buffer)
        firstGradientWriter = layout.firstWriter
        plannedActivationBytes = assignment.bytes
        unsharedActivationBytes = layout.unsharedBytes

        if training {
            let classes = graph.outputShape.count
            targets = loss == .softmaxCrossEntropy
                ? try backend.allocate(batch, dtype: .int32)
                : try backend.allocate(batch * classes, dtype: .float32)
            lossValue = try backend.allocate(1, dtype: .float32)
            correctCount = try backend.allocate(1, dtype: .float32)
        } else {
            targets = nil; lossValue = nil; correctCount = nil
        }
    }

    /// The model's input buffer (`batch × input shape`).
    public var input: any DeviceBuffer { activations[0] }
    /// The model's output buffer (`batch × output shape`): logits for classifiers.
    public var output: any DeviceBuffer { activations[activations.count - 1] }

    /// Planned device bytes of one step: parameters (with gradients) plus activations.
    public var plannedBytes: Int { plannedActivationBytes + parameters.bytes }

    /// Estimates the activation bytes of `graph` at `batch` without allocating anything.
    public static func estimateActivationBytes(graph: Graph, batch: Int, training: Bool) throws -> Int {
        MemoryPlanner.assign(try PlanLayout(graph: graph, batch: batch, training: training).requests).bytes
    }

    private static func doesNotFit(graph: Graph, batch: Int, training: Bool, bytes: Int, info: DeviceInfo,
                                   parameterBytes: Int) -> CNNError {
        var fits = 0
        var b = batch / 2
        while b >= 1 && fits == 0 {
            if let est = try? estimateActivationBytes(graph: graph, batch: b, training: training),
               est + parameterBytes <= info.globalMemoryBytes, est <= info.maxBufferBytes * 8 { fits = b }
            b /= 2
        }
        let suggestion = fits > 0 ? " A batch size of \(fits) fits (--batch-size \(fits))." : " Even a batch of 1 does not fit: try a smaller input size."
        return .outOfMemory(requestedBytes: bytes + parameterBytes,
                            detail: "a \(training ? "training" : "inference") step at batch \(batch) needs "
                                + "\(bytes >> 20) MiB of activations plus \(parameterBytes >> 20) MiB of parameters, "
                                + "but \(info.name) has \(info.globalMemoryBytes >> 20) MiB (at most "
                                + "\(info.maxBufferBytes >> 20) MiB per buffer).\(suggestion)")
    }
}

/// The tensors of a plan and their lifetimes, before any buffer exists.
struct PlanLayout {
    var requests: [MemoryPlanner.Request] = []
    var activation: [Int] = []
    var gradient: [Int?] = []
    var state: [[Int]] = []
    var scratch: [Plan.Edge: Int] = [:]
    var firstWriter: [Int: Plan.Edge] = [:]
    var unsharedBytes = 0

    init(graph: Graph, batch: Int, training: Bool) throws {
        let nodes = graph.nodes
        let n = nodes.count - 1
        // Steps: 0 input upload, i forward of node i, n+1 loss, 2n+2-i backward of node i.
        let lossStep = n + 1
        func backwardStep(_ i: Int) -> Int { 2 * n + 2 - i }
        let edges = nodes.indices.flatMap { j in nodes[j].inputs.enumerated().map { (slot, i) in (i, Plan.Edge(consumer: j, slot: slot)) } }
        let consumers = Dictionary(grouping: edges, by: { $0.0 }).mapValues { $0.map(\.1) }

        // In place: a layer may overwrite its single input when nobody else reads that input,
        // and the input's producer does not need its own output in its backward pass.
        var alias = Array(nodes.indices)
        func root(_ i: Int) -> Int { alias[i] == i ? i : root(alias[i]) }
        for j in 1...max(1, n) where j <= n {
            guard let layer = nodes[j].layer, layer.canRunInPlace, nodes[j].inputs.count == 1 else { continue }
            let i = nodes[j].inputs[0]
            guard i != 0, consumers[i]?.count == 1 else { continue }
            if training, let producer = nodes[i].layer, producer.backwardReads.contains(.output) { continue }
            alias[j] = i
        }

        var spans: [Int: (first: Int, last: Int)] = [:]
        func touch(_ key: Int, _ step: Int) {
            let s = spans[key] ?? (step, step)
            spans[key] = (min(s.first, step), max(s.last, step))
        }
        // Activations (keyed by alias root).
        for i in nodes.indices {
            touch(root(i), i)
            for e in consumers[i] ?? [] {
                touch(root(i), e.consumer)
                if training, nodes[e.consumer].layer!.backwardReads.contains(.input) { touch(root(i), backwardStep(e.consumer)) }
            }
            if training, i > 0, nodes[i].layer!.backwardReads.contains(.output) { touch(root(i), backwardStep(i)) }
        }
        touch(root(n), lossStep)
        var tensorOfKey: [String: Int] = [:]
        func request(_ key: String, count: Int, dtype: DType, _ span: (first: Int, last: Int)) -> Int {
            if let t = tensorOfKey[key] {
                requests[t].first = min(requests[t].first, span.first)
                requests[t].last = max(requests[t].last, span.last)
                return t
            }
            requests.append(MemoryPlanner.Request(count: count, dtype: dtype, first: span.first, last: span.last))
            tensorOfKey[key] = requests.count - 1
            return requests.count - 1
        }
        activation = nodes.indices.map { i in
            request("a\(root(i))", count: batch * nodes[root(i)].shape.count, dtype: .float32, spans[root(i)]!)
        }
        for i in nodes.indices where root(i) == i { unsharedBytes += batch * nodes[i].shape.count * DType.float32.byteSize }

        // Saved state: written in the forward pass, read in the backward pass.
        state = nodes.indices.map { i in
            guard let layer = nodes[i].layer else { return [] }
            let specs = layer.state(for: nodes[i].inputs.map { nodes[$0].shape }, batch: batch)
            return specs.enumerated().map { k, s in
                unsharedBytes += s.count * s.dtype.byteSize
                return request("s\(i).\(k)", count: s.count, dtype: s.dtype, (i, training ? backwardStep(i) : i))
            }
        }

        guard training else { gradient = nodes.map { _ in nil }; return }

        // Gradients: node i's is written first by its last consumer's backward (or the loss for
        // the output), accumulated from other consumers through scratch buffers, and read by
        // node i's own backward. In-place layers also pass gradients in place.
        var gradAlias = Array(nodes.indices)
        for j in nodes.indices where alias[j] != j { gradAlias[nodes[j].inputs[0]] = j }
        func gradRoot(_ i: Int) -> Int { gradAlias[i] == i ? i : gradRoot(gradAlias[i]) }
        gradient = nodes.indices.map { i -> Int? in
            guard i > 0 else { return nil }
            let writer = i == n ? nil : (consumers[i] ?? []).max { ($0.consumer, -$0.slot) < ($1.consumer, -$1.slot) }
            if let writer { firstWriter[i] = writer }
            let first = writer.map { backwardStep($0.consumer) } ?? lossStep
            let r = gradRoot(i)
            if r == i { unsharedBytes += batch * nodes[i].shape.count * DType.float32.byteSize }
            return request("g\(r)", count: batch * nodes[r].shape.count, dtype: .float32, (first, backwardStep(i)))
        }
        for (i, list) in consumers where i > 0 {
            for e in list where e != firstWriter[i] {
                let step = backwardStep(e.consumer)
                scratch[e] = request("x\(e.consumer).\(e.slot)", count: batch * nodes[i].shape.count, dtype: .float32, (step, step))
            }
        }
    }
}
