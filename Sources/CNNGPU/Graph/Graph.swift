/// A handle to a tensor while a graph is being built: the output of one node.
public struct NodeID: Hashable, Sendable {
    let index: Int
}

/// Builds a network as a directed acyclic graph (residual Add, Inception Concat):
///
/// ```swift
/// let b = GraphBuilder(input: [3, 32, 32])
/// let c = b.add(Conv2D(16, kernel: 3, padding: .same), b.input)
/// let r = b.add(ReLU(), b.add(Add(), c, b.add(Conv2D(16, kernel: 3, padding: .same), c)))
/// let graph = try b.build(output: b.add(Dense(10), b.add(GlobalAvgPool(), r)))
/// ```
public final class GraphBuilder {
    struct Pending {
        var layer: any Layer
        var inputs: [Int]
        var name: String?
    }

    let inputShape: TensorShape
    private(set) var pending: [Pending] = []
    /// The model's input tensor.
    public let input = NodeID(index: 0)

    public init(input: TensorShape) { self.inputShape = input }

    /// Adds `layer` applied to `inputs`; `name` overrides the automatic one (conv1, dense2, …).
    @discardableResult
    public func add(_ layer: any Layer, _ inputs: NodeID..., name: String? = nil) -> NodeID {
        add(layer, inputs: inputs, name: name)
    }

    @discardableResult
    public func add(_ layer: any Layer, inputs: [NodeID], name: String? = nil) -> NodeID {
        pending.append(Pending(layer: layer, inputs: inputs.map(\.index), name: name))
        return NodeID(index: pending.count)
    }

    /// Infers every shape and checks every connection; the graph keeps the nodes `output`
    /// depends on.
    public func build(output: NodeID) throws -> Graph {
        try Graph(input: inputShape, pending: pending, output: output.index)
    }
}

/// A network: nodes in topological order (node 0 is the input), each with its inferred
/// per-sample output shape and parameters.
public struct Graph {
    public struct Node {
        public let name: String
        /// nil for the input node.
        public let layer: (any Layer)?
        public let inputs: [Int]
        public let shape: TensorShape
        public let parameters: [ParameterSpec]
    }

    public let nodes: [Node]
    public var inputShape: TensorShape { nodes[0].shape }
    public var outputShape: TensorShape { nodes[nodes.count - 1].shape }

    init(input: TensorShape, pending: [GraphBuilder.Pending], output: Int) throws {
        guard !input.dims.isEmpty, input.dims.allSatisfy({ $0 > 0 }) else {
            throw CNNError.invalidModel("the input shape must have positive sizes, got \(input)")
        }
        guard (1...pending.count).contains(output) else {
            throw CNNError.invalidModel("the model's output must be a layer of the model")
        }
        // Keep only the nodes the output depends on, in their original (topological) order.
        var needed = Set([output])
        for i in stride(from: output, through: 1, by: -1) where needed.contains(i) {
            needed.formUnion(pending[i - 1].inputs)
        }
        var nodes = [Node(name: "input", layer: nil, inputs: [], shape: input, parameters: [])]
        var newIndex = [0: 0]
        var counters: [String: Int] = [:]
        var names: Set<String> = ["input"]
        for i in 1...output where needed.contains(i) {
            let p = pending[i - 1]
            let name = p.name ?? {
                // The next free automatic name for this prefix (a user may have taken conv2).
                var n = ""
                repeat {
                    counters[p.layer.namePrefix, default: 0] += 1
                    n = "\(p.layer.namePrefix)\(counters[p.layer.namePrefix]!)"
                } while names.contains(n) || pending.contains { $0.name == n }
                return n
            }()
            guard names.insert(name).inserted else {
                throw CNNError.invalidModel("two layers are named '\(name)': names must be unique")
            }
            guard p.layer.arity.contains(p.inputs.count) else {
                throw CNNError.invalidModel("\(name) (\(p.layer.kind)) takes \(p.layer.arity.lowerBound)"
                    + (p.layer.arity.count > 1 ? " or more" : "") + " inputs, gets \(p.inputs.count)")
            }
            let inputs = try p.inputs.map { j -> Int in
                guard j < i, let k = newIndex[j] else {
                    throw CNNError.invalidModel("\(name) uses a tensor that is not defined before it")
                }
                return k
            }
            let shapes = inputs.map { nodes[$0].shape }
            let shape: TensorShape
            do {
                shape = try p.layer.outputShape(for: shapes)
            } catch let e as ShapeError {
                let from = inputs.map { "\(nodes[$0].name) (\(nodes[$0].shape))" }.joined(separator: ", ")
                throw CNNError.invalidModel("\(name) \(e.message) from \(from)")
            }
            guard shape.dims.allSatisfy({ $0 > 0 }) else {
                throw CNNError.invalidModel("\(name) would produce an empty output (\(shape)) from \(shapes)")
            }
            newIndex[i] = nodes.count
            nodes.append(Node(name: name, layer: p.layer, inputs: inputs, shape: shape,
                              parameters: p.layer.parameters(for: shapes)))
        }
        self.nodes = nodes
    }

    /// Trainable parameters (the number PyTorch's `sum(p.numel() for p in model.parameters())`
    /// and Keras' "Trainable params" report).
    public var parameterCount: Int {
        nodes.reduce(0) { $0 + $1.parameters.filter(\.trainable).reduce(0) { $0 + $1.count } }
    }

    /// Non-trainable state saved with the weights (batch-norm running statistics).
    public var bufferCount: Int {
        nodes.reduce(0) { $0 + $1.parameters.filter { !$0.trainable }.reduce(0) { $0 + $1.count } }
    }

    /// Forward multiply-adds for one sample (convolutions and fully connected layers; see
    /// `Layer.multiplyAdds`): 4.09 G for ResNet-50 at 224², as torchvision's tables give.
    public var multiplyAdds: Int {
        nodes.reduce(0) { total, node in
            guard let layer = node.layer else { return total }
            return total + layer.multiplyAdds(for: node.inputs.map { nodes[$0].shape }, output: node.shape)
        }
    }

    /// The share of `multiplyAdds` in fully connected layers (0 for a model without any).
    public var denseShare: Double {
        let total = multiplyAdds
        guard total > 0 else { return 0 }
        let dense = nodes.reduce(0) { sum, node in
            guard let layer = node.layer as? Dense else { return sum }
            return sum + layer.multiplyAdds(for: node.inputs.map { nodes[$0].shape }, output: node.shape)
        }
        return Double(dense) / Double(total)
    }

    /// Nodes whose output feeds several layers (their gradients are accumulated).
    func consumers(of index: Int) -> [Int] {
        nodes.indices.filter { nodes[$0].inputs.contains(index) }
    }
}
