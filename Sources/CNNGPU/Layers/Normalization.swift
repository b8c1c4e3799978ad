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

    /// ReLU after batch norm runs inside it, forward and backward.
    public func epilogueFusion(_ f: Activation) -> EpilogueFusion { f == .relu ? .forwardAndBackward : .none }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let s = axisShape(c.inputShapes[0], batch: c.batch)
        let backend = c.backend, p = c.parameters, x = c.inputs[0], y = c.output
        let relu = c.epilogue == .relu
        let momentum = momentum, epsilon = epsilon
        let kind = "batchnorm" + (relu ? "+relu" : "")
        let bytes = Double(s.count * 4 * (c.training ? 3 : 2))
        if c.training {
            let mean = c.state[0], invStd = c.state[1]
            try backend.checks.batchNormForwardTraining(s, x: x, gamma: p[0], beta: p[1], y: y, runningMean: p[2],
                                                        runningVar: p[3], momentum: momentum, epsilon: epsilon,
                                                        savedMean: mean, savedInvStd: invStd)
            return [CompiledOp(name: c.name, kind: kind, phase: .forward, shape: c.shapeText, bytes: bytes, node: c.node) { _ in
                try backend.encodeBatchNormForwardTraining(s, x: x, gamma: p[0], beta: p[1], y: y, runningMean: p[2],
                                                           runningVar: p[3], momentum: momentum, epsilon: epsilon,
                                                           savedMean: mean, savedInvStd: invStd, relu: relu)
            }]
        }
        try backend.checks.batchNormForwardInference(s, x: x, gamma: p[0], beta: p[1], runningMean: p[2],
                                                     runningVar: p[3], epsilon: epsilon, y: y)
        return [CompiledOp(name: c.name, kind: kind + " (inference)", phase: .forward, shape: c.shapeText, bytes: bytes, node: c.node) { _ in
            try backend.encodeBatchNormForwardInference(s, x: x, gamma: p[0], beta: p[1], runningMean: p[2],
                                                        runningVar: p[3], epsilon: epsilon, y: y, relu: relu)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0], let dGamma = g.parameterGradients[0],
              let dBeta = g.parameterGradients[1] else {
            throw CNNError.invalidArgument("BatchNorm backward needs input and parameter gradient buffers")
        }
        let s = axisShape(c.inputShapes[0], batch: c.batch)
        let backend = c.backend, x = c.inputs[0], y = c.output, dy = g.outputGradient
        let gamma = c.parameters[0], beta = c.parameters[1]
        let mean = c.state[0], invStd = c.state[1]
        let bytes = Double(s.count * 4 * 4)
        if c.epilogue == .relu {
            // β lets a backend recompute the ReLU mask from x rather than read y.
            try backend.checks.batchNormReLUBackward(s, x: x, y: y, dy: dy, gamma: gamma, beta: beta, savedMean: mean,
                                                     savedInvStd: invStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
            return [CompiledOp(name: c.name, kind: "batchnorm+relu backward", phase: .backward, shape: c.shapeText,
                               bytes: bytes, node: c.node) { _ in
                try backend.encodeBatchNormReLUBackward(s, x: x, y: y, dy: dy, gamma: gamma, beta: beta,
                                                        savedMean: mean, savedInvStd: invStd, dx: dx,
                                                        dGamma: dGamma, dBeta: dBeta)
            }]
        }
        try backend.checks.batchNormBackward(s, x: x, dy: dy, gamma: gamma, savedMean: mean, savedInvStd: invStd,
                                             dx: dx, dGamma: dGamma, dBeta: dBeta)
        return [CompiledOp(name: c.name, kind: "batchnorm backward", phase: .backward, shape: c.shapeText,
                           bytes: bytes, node: c.node) { _ in
            try backend.encodeBatchNormBackward(s, x: x, dy: dy, gamma: gamma, savedMean: mean, savedInvStd: invStd,
                                                dx: dx, dGamma: dGamma, dBeta: dBeta)
        }]
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

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let (ch, h, w) = try c.inputShapes[0].requireImage(kind)
        let p = parameters, n = c.batch, b = c.backend, x = c.inputs[0], y = c.output, scale = c.state[0]
        return [try c.op("lrn", .forward, bytes: Double(c.outputCount * 12),
                         check: { try b.checks.lrnForward(p, batch: n, channels: ch, spatial: h * w, x: x, y: y, scale: scale) }) { _ in
            try b.encodeLRNForward(p, batch: n, channels: ch, spatial: h * w, x: x, y: y, scale: scale)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        let (ch, h, w) = try c.inputShapes[0].requireImage(kind)
        let p = parameters, n = c.batch, b = c.backend, x = c.inputs[0], y = c.output, scale = c.state[0], dy = g.outputGradient
        return [try c.op("lrn backward", .backward, bytes: Double(c.outputCount * 20),
                         check: { try b.checks.lrnBackward(p, batch: n, channels: ch, spatial: h * w, x: x, y: y, scale: scale,
                                                           dy: dy, dx: dx) }) { _ in
            try b.encodeLRNBackward(p, batch: n, channels: ch, spatial: h * w, x: x, y: y, scale: scale, dy: dy, dx: dx)
        }]
    }
}
