/// Runs images through a trained model and backpropagates a chosen output gradient all the way
/// to the input, keeping every layer's output and gradient readable: what saliency maps,
/// guided backpropagation, Grad-CAM, feature maps and class-model visualization are made of.
///
/// It is a training plan of the model (the same compiled ops, memory planner and backend as
/// training) compiled with the input gradient and every layer retained, run with the model
/// evaluated as at inference: batch norm on running statistics and no dropout (see
/// `Graph.forVisualization`), so the backward pass is the exact derivative of the function the
/// trained model computes (with `guided`, ReLUs follow the guided-backpropagation rule).
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
    let plan: Plan
    var backend: any Backend { parameters.backend }

    /// - Parameters:
    ///   - graph: the model as built (its parameters are `parameters`).
    ///   - parameters: the model's weights, on the backend the probe runs on.
    ///   - batch: how many images each call takes.
    ///   - guided: ReLUs pass gradients only where input and gradient are both positive.
    public init(graph: Graph, parameters: ParameterStore, batch: Int = 1, guided: Bool = false) throws {
        guard batch > 0 else { throw CNNError.invalidArgument("a probe needs at least one image, got batch \(batch)") }
        self.graph = try graph.forVisualization(guided: guided)
        self.parameters = parameters; self.batch = batch; self.guided = guided
        // Every layer retained: a probe looks at one or a few images, and any layer's output or
        // gradient may be asked for. Unfused, so each retained output is the layer's own.
        let options = PlanOptions(fusion: false, inputGradient: true,
                                  retained: Set(self.graph.nodes.dropFirst().map(\.name)))
        plan = try Plan(graph: self.graph, parameters: parameters, batch: batch, mode: .training, options: options)
    }

    public var classes: Int { graph.outputShape.count }

    /// Runs `inputs` (`batch` samples, preprocessed as the model was trained) forward and
    /// returns the outputs (logits), `batch × classes`.
    @discardableResult
    public func forward(_ inputs: [Float]) throws -> [Float] {
        let n = batch * graph.inputShape.count
        guard inputs.count == n else {
            throw CNNError.invalidArgument("the probe takes \(batch) sample(s) of \(graph.inputShape) = \(n) values, got \(inputs.count)")
        }
        try backend.upload(inputs, to: plan.input)
        try Executor(plan: plan).forward(training: false)
        return try backend.download(plan.output, count: batch * classes)
    }

    /// Backpropagates `outputGradient` (`batch × classes`: d(score)/d(output), e.g. one-hot for
    /// a class score) through the last forward pass; returns d(score)/d(input), shaped as the input.
    @discardableResult
    public func backward(outputGradient: [Float]) throws -> [Float] {
        guard outputGradient.count == batch * classes else {
            throw CNNError.invalidArgument("the output gradient needs \(batch) × \(classes) values, got \(outputGradient.count)")
        }
        guard let dy = plan.outputGradient, let dx = plan.inputGradient else {
            throw CNNError.invalidArgument("the probe's plan has no output or input gradient")
        }
        try backend.upload(outputGradient, to: dy)
        try Executor(plan: plan).backward()
        return try backend.download(dx, count: batch * graph.inputShape.count)
    }

    /// The output of layer `name` in the last forward pass (`batch × its shape`).
    public func activation(of name: String) throws -> [Float] {
        let i = try graph.node(named: name)
        return try backend.download(plan.activation(of: name), count: batch * graph.nodes[i].shape.count)
    }

    /// d(score)/d(output of layer `name`) in the last backward pass.
    public func gradient(of name: String) throws -> [Float] {
        let i = try graph.node(named: name)
        return try backend.download(plan.gradient(of: name), count: batch * graph.nodes[i].shape.count)
    }
}
