/// The layers a model is rewritten with for looking inside it: the forward pass is the
/// model's inference pass, and the backward pass is the derivative of that function (or, for
/// guided backpropagation, Springenberg et al.'s modified rule), using only backend ops every
/// device has.

/// ReLU for guided backpropagation: the forward pass is ReLU; the backward pass lets a gradient
/// through only where both the input and the gradient are positive, dx = 1[x > 0] · max(dy, 0).
struct GuidedReLU: Layer {
    var kind: String { "ReLU (guided)" }
    var namePrefix: String { "relu" }
    var backwardReads: BackwardReads { [.input, .output] }

    func outputShape(for inputs: [TensorShape]) throws -> TensorShape { inputs[0] }

    func forward(_ c: LayerContext) throws {
        try c.backend.activationForward(.relu, count: c.outputCount, x: c.inputs[0], y: c.output)
    }

    func backward(_ c: LayerContext, _ g: GradientContext) throws {
        guard let dx = g.inputGradients[0] else { return }
        // max(dy, 0) is ReLU's forward pass applied to the gradient; ReLU's own backward pass
        // then masks it where the input was not positive.
        try c.backend.activationForward(.relu, count: c.inputCount, x: g.outputGradient, y: dx)
        try c.backend.activationBackward(.relu, count: c.inputCount, x: c.inputs[0], y: c.output, dy: dx, dx: dx)
    }
}

/// Batch normalization with its running statistics, forward and backward: the function the
/// trained model computes at inference. Its derivative is the per-channel scale
/// γ / √(running_var + ε), which is the inference pass itself with zero mean and zero shift.
struct FrozenBatchNorm: Layer {
    var epsilon: Float
    var kind: String { "BatchNorm (frozen)" }
    var namePrefix: String { "bn" }

    func outputShape(for inputs: [TensorShape]) throws -> TensorShape { inputs[0] }

    /// The same parameters, in the same order, as `BatchNorm`, so the model's weights load unchanged.
    func parameters(for inputs: [TensorShape]) -> [ParameterSpec] { BatchNorm(epsilon: epsilon).parameters(for: inputs) }

    func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] {
        [StateSpec("zeros", count: inputs[0].dims[0])]
    }

    private func axisShape(_ shape: TensorShape, batch: Int) -> AxisShape {
        AxisShape(outer: batch, axis: shape.dims[0], inner: shape.dims.dropFirst().reduce(1, *))
    }

    func forward(_ c: LayerContext) throws {
        let p = c.parameters
        try c.backend.batchNormForwardInference(axisShape(c.inputShapes[0], batch: c.batch), x: c.inputs[0], gamma: p[0],
                                                beta: p[1], runningMean: p[2], runningVar: p[3], epsilon: epsilon, y: c.output)
    }

    func backward(_ c: LayerContext, _ g: GradientContext) throws {
        guard let dx = g.inputGradients[0] else { return }
        let p = c.parameters, zeros = c.state[0]
        try c.backend.fill(zeros, value: 0)
        try c.backend.batchNormForwardInference(axisShape(c.inputShapes[0], batch: c.batch), x: g.outputGradient, gamma: p[0],
                                                beta: zeros, runningMean: zeros, runningVar: p[3], epsilon: epsilon, y: dx)
    }
}

extension Graph {
    /// The same network, node for node and name for name, with every layer whose training
    /// and inference passes differ replaced by its inference form (batch norm on running
    /// statistics, dropout off), and with guided ReLUs when `guided`. The parameters of the
    /// original graph fit it unchanged.
    func forVisualization(guided: Bool) throws -> Graph {
        let pending = nodes.dropFirst().map { node -> GraphBuilder.Pending in
            var layer = node.layer!
            if let bn = layer as? BatchNorm {
                layer = FrozenBatchNorm(epsilon: bn.epsilon)
            } else if layer is Dropout {
                layer = Dropout(0)
            } else if guided, let a = layer as? ActivationLayer, a.function == .relu {
                layer = GuidedReLU()
            }
            return GraphBuilder.Pending(layer: layer, inputs: node.inputs, name: node.name)
        }
        return try Graph(input: inputShape, pending: pending, output: nodes.count - 1)
    }

    /// The index of the node named `name`.
    /// - Throws: `CNNError.invalidArgument` listing the valid names (as `summary` shows them).
    public func node(named name: String) throws -> Int {
        guard let i = nodes.firstIndex(where: { $0.name == name }) else {
            throw CNNError.invalidArgument("the model has no layer '\(name)'. Its layers (as `cnn-gpu summary` names them): "
                + nodes.dropFirst().map(\.name).joined(separator: ", "))
        }
        return i
    }
}
