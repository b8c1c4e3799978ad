/// Runs images through a trained model and backpropagates a chosen output gradient all the way
/// to the input, keeping every layer's output and gradient readable: what saliency maps,
/// guided backpropagation, Grad-CAM, feature maps and class-model visualization are made of.
///
/// The model is evaluated as at inference (batch norm on running statistics, no dropout), and
/// the backward pass is the exact derivative of that function, using the layers' own backward
/// ops on the model's backend (with `guided`, ReLUs follow the guided-backpropagation rule).
///
/// ```swift
/// let probe = try ModelProbe(graph: graph, parameters: store)
/// let logits = try probe.forward(image)                         // batch 1
/// var oneHot = [Float](repeating: 0, count: logits.count); oneHot[3] = 1
/// let saliency = try probe.backward(outputGradient: oneHot)     // d logit₃ / d image
/// ```
public final class ModelProbe {
    /// The model as evaluated here (see `Graph.forVisualization`): node names as `summary` shows.
    public let graph: Graph
    public let parameters: ParameterStore
    public let batch: Int
    public let guided: Bool
    var backend: any Backend { parameters.backend }

    // Every tensor has its own buffer (nothing shared): a probe looks at one or a few images,
    // and every intermediate value must stay readable.
    private let activations: [any DeviceBuffer]
    private let gradients: [any DeviceBuffer]
    private let states: [[any DeviceBuffer]]
    /// Per (consumer, slot) of a tensor read by several layers: where that consumer writes its
    /// share of the gradient before it is added up.
    private let shares: [Int: [Int: any DeviceBuffer]]

    /// - Parameters:
    ///   - graph: the model as built (its parameters are `parameters`).
    ///   - guided: ReLUs pass gradients only where input and gradient are both positive.
    public init(graph: Graph, parameters: ParameterStore, batch: Int = 1, guided: Bool = false) throws {
        guard batch > 0 else { throw CNNError.invalidArgument("a probe needs at least one image, got batch \(batch)") }
        self.graph = try graph.forVisualization(guided: guided)
        self.parameters = parameters; self.batch = batch; self.guided = guided
        let backend = parameters.backend
        let nodes = self.graph.nodes
        activations = try nodes.map { try backend.allocate(batch * $0.shape.count, dtype: .float32) }
        gradients = try nodes.map { try backend.allocate(batch * $0.shape.count, dtype: .float32) }
        states = try nodes.map { node in
            guard let layer = node.layer else { return [] }
            return try layer.state(for: node.inputs.map { nodes[$0].shape }, batch: batch).map {
                try backend.allocate($0.count, dtype: $0.dtype)
            }
        }
        var shares: [Int: [Int: any DeviceBuffer]] = [:]
        for (j, node) in nodes.enumerated() {
            for (slot, i) in node.inputs.enumerated() where self.graph.consumers(of: i).count > 1 || node.inputs.filter({ $0 == i }).count > 1 {
                shares[j, default: [:]][slot] = try backend.allocate(batch * nodes[i].shape.count, dtype: .float32)
            }
        }
        self.shares = shares
    }

    public var classes: Int { graph.outputShape.count }

    private func context(_ i: Int) -> LayerContext {
        let nodes = graph.nodes
        return LayerContext(backend: backend, batch: batch, inputShapes: nodes[i].inputs.map { nodes[$0].shape },
                            outputShape: nodes[i].shape, inputs: nodes[i].inputs.map { activations[$0] },
                            output: activations[i], parameters: parameters.views(node: i), state: states[i],
                            training: false, seed: 0)
    }

    /// Runs `inputs` (`batch` samples, preprocessed as the model was trained) forward and
    /// returns the outputs (logits), `batch × classes`.
    @discardableResult
    public func forward(_ inputs: [Float]) throws -> [Float] {
        let n = batch * graph.inputShape.count
        guard inputs.count == n else {
            throw CNNError.invalidArgument("the probe takes \(batch) sample(s) of \(graph.inputShape) = \(n) values, got \(inputs.count)")
        }
        try backend.upload(inputs, to: activations[0])
        for i in graph.nodes.indices.dropFirst() { try graph.nodes[i].layer!.forward(context(i)) }
        return try backend.download(activations[graph.nodes.count - 1], count: batch * classes)
    }

    /// Backpropagates `outputGradient` (`batch × classes`: d(score)/d(output), e.g. one-hot for
    /// a class score) through the last forward pass; returns d(score)/d(input), shaped as the input.
    @discardableResult
    public func backward(outputGradient: [Float]) throws -> [Float] {
        let nodes = graph.nodes
        guard outputGradient.count == batch * classes else {
            throw CNNError.invalidArgument("the output gradient needs \(batch) × \(classes) values, got \(outputGradient.count)")
        }
        for i in nodes.indices.dropLast() { try backend.fill(gradients[i], value: 0) }
        try backend.upload(outputGradient, to: gradients[nodes.count - 1])
        for j in nodes.indices.dropFirst().reversed() {
            let own = shares[j] ?? [:]
            let inputGradients: [(any DeviceBuffer)?] = nodes[j].inputs.enumerated().map { slot, i in own[slot] ?? gradients[i] }
            // Parameter gradients are not needed to look at a model: nil skips them.
            let g = GradientContext(outputGradient: gradients[j], inputGradients: inputGradients,
                                    parameterGradients: nodes[j].parameters.map { _ in nil })
            try nodes[j].layer!.backward(context(j), g)
            for (slot, share) in own {
                let i = nodes[j].inputs[slot]
                try backend.axpy(count: batch * nodes[i].shape.count, alpha: 1, x: share, y: gradients[i])
            }
        }
        return try backend.download(gradients[0], count: batch * graph.inputShape.count)
    }

    /// The output of layer `name` in the last forward pass (`batch × its shape`).
    public func activation(of name: String) throws -> [Float] {
        let i = try graph.node(named: name)
        return try backend.download(activations[i], count: batch * graph.nodes[i].shape.count)
    }

    /// d(score)/d(output of layer `name`) in the last backward pass.
    public func gradient(of name: String) throws -> [Float] {
        let i = try graph.node(named: name)
        return try backend.download(gradients[i], count: batch * graph.nodes[i].shape.count)
    }
}
