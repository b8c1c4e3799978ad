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

    public func multiplyAdds(for inputs: [TensorShape], output: TensorShape) -> Int { inputs[0].count * units }
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

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    /// The same layer as a 1×1 convolution over 1×1 images, for backends that run fully
    /// connected layers that way (`runsDenseLayersAsConvolutions`): its m×n input is NCHW with
    /// H = W = 1, its units×n weight OIHW, and its three GEMMs are the convolution's passes.
    var asConvolution: Conv2D { Conv2D(units, kernel: 1, bias: useBias) }

    /// The input shape `asConvolution` sees.
    static func convolutionInput(_ input: TensorShape) -> TensorShape { [input.count, 1, 1] }

    /// `c` as `asConvolution` takes it.
    private func convolutionContext(_ c: LayerContext) -> LayerContext {
        LayerContext(backend: c.backend, batch: c.batch, inputShapes: [Self.convolutionInput(c.inputShapes[0])],
                     outputShape: [units, 1, 1], inputs: c.inputs, output: c.output, parameters: c.parameters,
                     state: c.state, training: c.training, seed: c.seed, name: c.name, node: c.node,
                     epilogue: c.epilogue, workspace: c.workspace)
    }

    public func workspaceCount(for inputs: [TensorShape], batch: Int, backend: any Backend, training: Bool) throws -> Int {
        guard backend.runsDenseLayersAsConvolutions else { return 0 }
        return try asConvolution.workspaceCount(for: [Self.convolutionInput(inputs[0])], batch: batch, backend: backend,
                                                training: training)
    }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        if c.backend.runsDenseLayersAsConvolutions { return try asConvolution.compileForward(convolutionContext(c)) }
        let n = c.inputShapes[0].count, m = c.batch, units = units
        let backend = c.backend, x = c.inputs[0], w = c.parameters[0], y = c.output
        let a = MatrixRef(x, ld: n), b = MatrixRef(w, ld: n), out = MatrixRef(y, ld: units)
        try backend.checks.gemm(transA: false, transB: true, m: m, n: units, k: n, alpha: 1, a: a, b: b, beta: 0, c: out)
        var ops = [CompiledOp(name: c.name, kind: "dense (gemm)", phase: .forward, shape: c.shapeText,
                              flops: 2 * Double(m * units * n), bytes: Double((m * n + units * n + m * units) * 4), node: c.node) { _ in
            try backend.encodeGEMM(transA: false, transB: true, m: m, n: units, k: n, alpha: 1, a: a, b: b, beta: 0, c: out)
        }]
        if useBias {
            let shape = AxisShape(outer: m, axis: units, inner: 1), bias = c.parameters[1]
            try backend.checks.addBias(shape, bias: bias, y: y)
            ops.append(CompiledOp(name: c.name, kind: "bias", phase: .forward, shape: shapeText([m, units]),
                                  bytes: Double(m * units * 8), node: c.node) { _ in
                try backend.encodeAddBias(shape, bias: bias, y: y)
            })
        }
        return ops
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        if c.backend.runsDenseLayersAsConvolutions { return try asConvolution.compileBackward(convolutionContext(c), g) }
        let n = c.inputShapes[0].count, m = c.batch, units = units
        let backend = c.backend, x = c.inputs[0], w = c.parameters[0], dy = g.outputGradient
        var ops: [CompiledOp] = []
        if let dw = g.parameterGradients[0] {
            let a = MatrixRef(dy, ld: units), b = MatrixRef(x, ld: n), out = MatrixRef(dw, ld: n)
            try backend.checks.gemm(transA: true, transB: false, m: units, n: n, k: m, alpha: 1, a: a, b: b, beta: 0, c: out)
            ops.append(CompiledOp(name: c.name, kind: "dense backward-weight (gemm)", phase: .backward, shape: c.shapeText,
                                  flops: 2 * Double(m * units * n), node: c.node) { _ in
                try backend.encodeGEMM(transA: true, transB: false, m: units, n: n, k: m, alpha: 1, a: a, b: b, beta: 0, c: out)
            })
        }
        if useBias, let db = g.parameterGradients[1] {
            let shape = AxisShape(outer: m, axis: units, inner: 1)
            try backend.checks.reduceSum(shape, x: dy, out: db)
            ops.append(CompiledOp(name: c.name, kind: "bias backward", phase: .backward, shape: shapeText([m, units]),
                                  bytes: Double(m * units * 4), node: c.node) { _ in
                try backend.encodeReduceSum(shape, x: dy, out: db)
            })
        }
        if let dx = g.inputGradients[0] {
            let a = MatrixRef(dy, ld: units), b = MatrixRef(w, ld: n), out = MatrixRef(dx, ld: n)
            try backend.checks.gemm(transA: false, transB: false, m: m, n: n, k: units, alpha: 1, a: a, b: b, beta: 0, c: out)
            ops.append(CompiledOp(name: c.name, kind: "dense backward-data (gemm)", phase: .backward, shape: c.shapeText,
                                  flops: 2 * Double(m * units * n), node: c.node) { _ in
                try backend.encodeGEMM(transA: false, transB: false, m: m, n: n, k: units, alpha: 1, a: a, b: b, beta: 0, c: out)
            })
        }
        return ops
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

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    /// Nothing to do in place (the planner's usual choice); a copy otherwise.
    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        try copyOp(c, from: c.inputs[0], to: c.output, count: c.outputCount, phase: .forward)
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        return try copyOp(c, from: g.outputGradient, to: dx, count: c.inputCount, phase: .backward)
    }
}

/// A copy op of `count` elements, or none when source and destination are one buffer.
func copyOp(_ c: LayerContext, from src: any DeviceBuffer, to dst: any DeviceBuffer, count: Int,
            phase: CompiledOp.Phase) throws -> [CompiledOp] {
    guard src !== dst else { return [] }
    let backend = c.backend
    try backend.checks.copyStrided(rows: 1, rowLength: count, src: src, srcOffset: 0, srcStride: count,
                                   dst: dst, dstOffset: 0, dstStride: count)
    return [CompiledOp(name: c.name, kind: "copy", phase: phase, shape: shapeText([count]), bytes: Double(count * 8),
                       node: c.node) { _ in
        try backend.encodeCopyStrided(rows: 1, rowLength: count, src: src, srcOffset: 0, srcStride: count,
                                      dst: dst, dstOffset: 0, dstStride: count)
    }]
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

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        guard c.training && rate > 0 else { return try copyOp(c, from: c.inputs[0], to: c.output, count: c.outputCount, phase: .forward) }
        let backend = c.backend, count = c.outputCount, p = rate, x = c.inputs[0], y = c.output, mask = c.state[0]
        try backend.checks.dropoutForward(count: count, probability: p, seed: 0, x: x, y: y, mask: mask)
        // The seed is the step's: each step draws a new mask.
        return [CompiledOp(name: c.name, kind: "dropout", phase: .forward, shape: c.shapeText, bytes: Double(count * 12),
                           node: c.node) { seed in
            try backend.encodeDropoutForward(count: count, probability: p, seed: seed, x: x, y: y, mask: mask)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        guard rate > 0 else { return try copyOp(c, from: g.outputGradient, to: dx, count: c.inputCount, phase: .backward) }
        let backend = c.backend, count = c.inputCount, dy = g.outputGradient, mask = c.state[0]
        try backend.checks.multiply(count: count, a: dy, b: mask, out: dx)
        return [CompiledOp(name: c.name, kind: "dropout backward", phase: .backward, shape: c.shapeText,
                           bytes: Double(count * 12), node: c.node) { _ in
            try backend.encodeMultiply(count: count, a: dy, b: mask, out: dx)
        }]
    }
}
