/// Max or average pooling over windows of each channel.
public struct Pool2D: Layer {
    public var mode: PoolingMode
    public var windowH: Int, windowW: Int
    public var strideH: Int, strideW: Int
    public var padding: PaddingMode

    public init(mode: PoolingMode, windowH: Int, windowW: Int, strideH: Int, strideW: Int, padding: PaddingMode) {
        self.mode = mode; self.windowH = windowH; self.windowW = windowW
        self.strideH = strideH; self.strideW = strideW; self.padding = padding
    }

    public var kind: String { mode == .max ? "MaxPool2D" : "AvgPool2D" }
    public var namePrefix: String { mode == .max ? "pool" : "avgpool" }
    public var backwardReads: BackwardReads { [] }

    func descriptor(_ input: TensorShape, batch: Int, foldsReLUBackward: Bool = false) throws -> Pool2DDescriptor {
        let (c, h, w) = try input.requireImage(kind)
        let pad = padding.resolve(inH: h, inW: w, kernelH: windowH, kernelW: windowW, strideH: strideH, strideW: strideW)
        do {
            return try Pool2DDescriptor(batch: batch, channels: c, inH: h, inW: w, windowH: windowH, windowW: windowW,
                                        strideH: strideH, strideW: strideW, padding: pad, mode: mode,
                                        masksNonPositiveWinners: foldsReLUBackward)
        } catch let CNNError.invalidShape(_, detail) {
            throw ShapeError(detail + " (input \(input))")
        }
    }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let d = try descriptor(inputs[0], batch: 1)
        return [d.channels, d.outH, d.outW]
    }

    public func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] {
        guard mode == .max, let d = try? descriptor(inputs[0], batch: batch) else { return [] }
        return [StateSpec("indices", count: d.outputCount, dtype: .int32)]
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        // Inference runs (no indices) have no backward pass to mask.
        let d = try descriptor(c.inputShapes[0], batch: c.batch, foldsReLUBackward: c.foldsReLUBackward && c.training)
        let backend = c.backend, x = c.inputs[0], y = c.output, indices = mode == .max ? c.state[0] : nil
        try backend.checks.poolingForward(d, x: x, y: y, indices: indices)
        let kind = mode == .max ? (d.masksNonPositiveWinners ? "maxpool (relu mask)" : "maxpool") : "avgpool"
        return [CompiledOp(name: c.name, kind: kind, phase: .forward, shape: c.shapeText,
                           bytes: Double((d.inputCount + d.outputCount * (indices == nil ? 1 : 2)) * 4), node: c.node) { _ in
            try backend.encodePoolingForward(d, x: x, y: y, indices: indices)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        let d = try descriptor(c.inputShapes[0], batch: c.batch, foldsReLUBackward: c.foldsReLUBackward)
        let backend = c.backend, dy = g.outputGradient, indices = mode == .max ? c.state[0] : nil
        try backend.checks.poolingBackward(d, dy: dy, indices: indices, dx: dx)
        let kind = mode == .max ? (d.masksNonPositiveWinners ? "maxpool+relu" : "maxpool") : "avgpool"
        return [CompiledOp(name: c.name, kind: kind + " backward", phase: .backward,
                           shape: c.shapeText, bytes: Double((d.inputCount + d.outputCount * (indices == nil ? 1 : 2)) * 4),
                           node: c.node) { _ in
            try backend.encodePoolingBackward(d, dy: dy, indices: indices, dx: dx)
        }]
    }
}

/// Max pooling; the stride defaults to the window (PyTorch and Keras).
public func MaxPool2D(_ window: Int, stride: Int? = nil, padding: PaddingMode = .valid) -> Pool2D {
    Pool2D(mode: .max, windowH: window, windowW: window, strideH: stride ?? window, strideW: stride ?? window,
           padding: padding)
}

/// Average pooling (padded zeros count, as PyTorch's default); the stride defaults to the window.
public func AvgPool2D(_ window: Int, stride: Int? = nil, padding: PaddingMode = .valid,
                      countIncludesPadding: Bool = true) -> Pool2D {
    Pool2D(mode: countIncludesPadding ? .averageIncludingPadding : .averageExcludingPadding,
           windowH: window, windowW: window, strideH: stride ?? window, strideW: stride ?? window, padding: padding)
}

/// Mean over each channel's pixels: `[C, H, W] → [C]`.
public struct GlobalAvgPool: Layer {
    public init() {}
    public var kind: String { "GlobalAvgPool" }
    public var namePrefix: String { "gap" }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let (c, _, _) = try inputs[0].requireImage(kind)
        return [c]
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let (ch, h, w) = try c.inputShapes[0].requireImage(kind)
        let backend = c.backend, planes = c.batch * ch, spatial = h * w, x = c.inputs[0], y = c.output
        try backend.checks.globalAveragePoolForward(planes: planes, spatial: spatial, x: x, y: y)
        return [CompiledOp(name: c.name, kind: "global avgpool", phase: .forward, shape: c.shapeText,
                           bytes: Double(planes * (spatial + 1) * 4), node: c.node) { _ in
            try backend.encodeGlobalAveragePoolForward(planes: planes, spatial: spatial, x: x, y: y)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        let (ch, h, w) = try c.inputShapes[0].requireImage(kind)
        let backend = c.backend, planes = c.batch * ch, spatial = h * w, dy = g.outputGradient
        try backend.checks.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: dy, dx: dx)
        return [CompiledOp(name: c.name, kind: "global avgpool backward", phase: .backward, shape: c.shapeText,
                           bytes: Double(planes * (spatial + 1) * 4), node: c.node) { _ in
            try backend.encodeGlobalAveragePoolBackward(planes: planes, spatial: spatial, dy: dy, dx: dx)
        }]
    }
}
