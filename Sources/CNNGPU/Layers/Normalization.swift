/// Batch normalization over N and the spatial axes, per channel (per feature for vectors).
/// Parameters as PyTorch names them: `weight` (γ), `bias` (β), `running_mean`, `running_var`.
public struct BatchNorm: Layer {
    public var momentum: Float
    public var epsilon: Float

    public init(momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.momentum = momentum; self.epsilon = epsilon
    }

    public var kind: String { "BatchNorm" }
    public var namePrefix: String { "bn" }

    func axisShape(_ shape: TensorShape, batch: Int) -> AxisShape {
        AxisShape(outer: batch, axis: shape.dims[0], inner: shape.dims.dropFirst().reduce(1, *))
    }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape { inputs[0] }

    public func parameters(for inputs: [TensorShape]) -> [ParameterSpec] {
        let c = inputs[0].dims[0]
        return [ParameterSpec("weight", [c], .ones), ParameterSpec("bias", [c], .zeros),
                ParameterSpec("running_mean", [c], .zeros, trainable: false),
                ParameterSpec("running_var", [c], .ones, trainable: false)]
    }

    public func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] {
        let c = inputs[0].dims[0]
        return [StateSpec("saved_mean", count: c), StateSpec("saved_invstd", count: c)]
    }

    public func forward(_ c: LayerContext) throws {
        let s = axisShape(c.inputShapes[0], batch: c.batch)
        let p = c.parameters
        if c.training {
            try c.backend.batchNormForwardTraining(s, x: c.inputs[0], gamma: p[0], beta: p[1], y: c.output,
                                                   runningMean: p[2], runningVar: p[3], momentum: momentum,
                                                   epsilon: epsilon, savedMean: c.state[0], savedInvStd: c.state[1])
        } else {
            try c.backend.batchNormForwardInference(s, x: c.inputs[0], gamma: p[0], beta: p[1], runningMean: p[2],
                                                    runningVar: p[3], epsilon: epsilon, y: c.output)
        }
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        guard let dx = g.inputGradients[0], let dGamma = g.parameterGradients[0],
              let dBeta = g.parameterGradients[1] else {
            throw CNNError.invalidArgument("BatchNorm backward needs input and parameter gradient buffers")
        }
        try c.backend.batchNormBackward(axisShape(c.inputShapes[0], batch: c.batch), x: c.inputs[0],
                                        dy: g.outputGradient, gamma: c.parameters[0], savedMean: c.state[0],
                                        savedInvStd: c.state[1], dx: dx, dGamma: dGamma, dBeta: dBeta)
    }
}

/// Local response normalization across channels (AlexNet).
public struct LRN: Layer {
    public var parameters: LRNParameters
    public init(size: Int = 5, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 2) {
        parameters = LRNParameters(size: size, alpha: alpha, beta: beta, k: k)
    }

    public var kind: String { "LRN" }
    public var namePrefix: String { "lrn" }
    public var backwardReads: BackwardReads { [.input, .output] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        _ = try inputs[0].requireImage(kind)
        return inputs[0]
    }

    public func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] {
        [StateSpec("scale", count: batch * inputs[0].count)]
    }

    public func forward(_ c: LayerContext) throws {
        let (ch, h, w) = try c.inputShapes[0].requireImage(kind)
        try c.backend.lrnForward(parameters, batch: c.batch, channels: ch, spatial: h * w, x: c.inputs[0],
                                 y: c.output, scale: c.state[0])
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        guard let dx = g.inputGradients[0] else { return }
        let (ch, h, w) = try c.inputShapes[0].requireImage(kind)
        try c.backend.lrnBackward(parameters, batch: c.batch, channels: ch, spatial: h * w, x: c.inputs[0],
                                  y: c.output, scale: c.state[0], dy: g.outputGradient, dx: dx)
    }
}
