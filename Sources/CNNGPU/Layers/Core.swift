/// Fully connected layer: y = x·Wᵀ + b with W `[out, in]` (PyTorch's `Linear`). Any input
/// shape is taken as its flattened features.
public struct Dense: Layer {
    public var units: Int
    /// When given, the number of input features the layer must receive (a check at build time).
    public var inputFeatures: Int?
    public var useBias: Bool
    public var weightInitializer: Initializer
    /// How the bias starts (zeros unless given). Initializers that scale by fan-in take the
    /// weight's, so `.pytorchDefault` gives PyTorch's default bias.
    public var biasInitializer: Initializer

    public init(_ units: Int, inputFeatures: Int? = nil, bias: Bool = true,
                weightInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros) {
        self.units = units; self.inputFeatures = inputFeatures; self.useBias = bias
        self.weightInitializer = weightInitializer; self.biasInitializer = biasInitializer
    }

    public var kind: String { "Dense" }
    public var namePrefix: String { "dense" }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        guard units > 0 else { throw ShapeError("needs a positive number of units, got \(units)") }
        if let inputFeatures, inputFeatures != inputs[0].count {
            throw ShapeError("expects \(inputFeatures) inputs, gets \(inputs[0].count)")
        }
        return [units]
    }

    public func parameters(for inputs: [TensorShape]) -> [ParameterSpec] {
        let weight = [units, inputs[0].count]
        var specs = [ParameterSpec("weight", weight, weightInitializer)]
        if useBias { specs.append(ParameterSpec("bias", [units], biasInitializer, fanShape: weight)) }
        return specs
    }

    public func forward(_ c: LayerContext) throws {
        let n = c.inputShapes[0].count
        try c.backend.gemm(transA: false, transB: true, m: c.batch, n: units, k: n, alpha: 1,
                           a: MatrixRef(c.inputs[0], ld: n), b: MatrixRef(c.parameters[0], ld: n),
                           beta: 0, c: MatrixRef(c.output, ld: units))
        if useBias {
            try c.backend.addBias(AxisShape(outer: c.batch, axis: units, inner: 1), bias: c.parameters[1], y: c.output)
        }
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        let n = c.inputShapes[0].count
        if let dw = g.parameterGradients[0] {
            try c.backend.gemm(transA: true, transB: false, m: units, n: n, k: c.batch, alpha: 1,
                               a: MatrixRef(g.outputGradient, ld: units), b: MatrixRef(c.inputs[0], ld: n),
                               beta: 0, c: MatrixRef(dw, ld: n))
        }
        if useBias, let db = g.parameterGradients[1] {
            try c.backend.reduceSum(AxisShape(outer: c.batch, axis: units, inner: 1), x: g.outputGradient, out: db)
        }
        if let dx = g.inputGradients[0] {
            try c.backend.gemm(transA: false, transB: false, m: c.batch, n: n, k: units, alpha: 1,
                               a: MatrixRef(g.outputGradient, ld: units), b: MatrixRef(c.parameters[0], ld: n),
                               beta: 0, c: MatrixRef(dx, ld: n))
        }
    }
}

/// Flattens each sample to a vector. NCHW memory is already flat, so this is free when the
/// planner runs it in place.
public struct Flatten: Layer {
    public init() {}
    public var kind: String { "Flatten" }
    public var namePrefix: String { "flatten" }
    public var canRunInPlace: Bool { true }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape { [inputs[0].count] }

    public func forward(_ c: LayerContext) throws {
        if c.output !== c.inputs[0] { try c.backend.copy(from: c.inputs[0], to: c.output, count: c.outputCount) }
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        if let dx = g.inputGradients[0], dx !== g.outputGradient {
            try c.backend.copy(from: g.outputGradient, to: dx, count: c.inputCount)
        }
    }
}

/// Dropout: zeroes each element with probability `rate` during training and scales the rest
/// by 1/(1 − rate); the identity at inference.
public struct Dropout: Layer {
    public var rate: Float
    public init(_ rate: Float) { self.rate = rate }
    public var kind: String { "Dropout" }
    public var namePrefix: String { "dropout" }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        guard rate >= 0, rate < 1 else { throw ShapeError("rate must be in [0, 1), got \(rate)") }
        return inputs[0]
    }

    public func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] {
        [StateSpec("mask", count: batch * inputs[0].count)]
    }

    public func forward(_ c: LayerContext) throws {
        if c.training && rate > 0 {
            try c.backend.dropoutForward(count: c.outputCount, probability: rate, seed: c.seed,
                                         x: c.inputs[0], y: c.output, mask: c.state[0])
        } else if c.output !== c.inputs[0] {
            try c.backend.copy(from: c.inputs[0], to: c.output, count: c.outputCount)
        }
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        guard let dx = g.inputGradients[0] else { return }
        if rate > 0 {
            try c.backend.dropoutBackward(count: c.inputCount, dy: g.outputGradient, mask: c.state[0], dx: dx)
        } else if dx !== g.outputGradient {
            try c.backend.copy(from: g.outputGradient, to: dx, count: c.inputCount)
        }
    }
}
