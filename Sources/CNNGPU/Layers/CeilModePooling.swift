/// Max pooling with PyTorch's `ceil_mode=True` (GoogLeNet's pools): the output size rounds up,
/// so a last, partial window covers the rightmost pixels instead of dropping them.
///
/// It is an ordinary max pool with the extra rows and columns padded at the bottom and right,
/// where padded cells never win the max. PyTorch's rule that the last window must start inside
/// the input is kept, so the sizes match `nn.MaxPool2d(window, stride, ceil_mode=True)` exactly.
/// (Explicit padding is left out: GoogLeNet does not pad its ceil-mode pools.)
///
/// ```swift
/// CeilModeMaxPool2D(3, stride: 2)      // 112×112 → 56×56 (a floor-mode pool gives 55×55)
/// ```
public struct CeilModeMaxPool2D: Layer {
    public var window: Int, stride: Int

    public init(_ window: Int, stride: Int? = nil) {
        self.window = window; self.stride = stride ?? window
    }

    public var kind: String { "MaxPool2D" }
    public var namePrefix: String { "pool" }
    public var backwardReads: BackwardReads { [] }

    /// The floor-mode pool with the padding that reproduces ceil mode on `input`.
    func pooling(for input: TensorShape) throws -> Pool2D {
        let (_, h, w) = try input.requireImage(kind)
        guard window > 0, stride > 0 else {
            throw ShapeError("needs a positive window and stride, got \(window) and \(stride)")
        }
        // PyTorch's pooling_output_shape with ceil_mode; a window larger than the input gives
        // no output, which Pool2DDescriptor then reports.
        func extra(_ size: Int) -> Int {
            let span = size - window + stride - 1
            guard span >= 0 else { return 0 }
            var out = span / stride + 1
            if (out - 1) * stride >= size { out -= 1 }
            return max(0, (out - 1) * stride + window - size)
        }
        let pad = Padding2D(top: 0, bottom: extra(h), left: 0, right: extra(w))
        return Pool2D(mode: .max, windowH: window, windowW: window, strideH: stride, strideW: stride,
                      padding: .explicit(pad))
    }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        try pooling(for: inputs[0]).outputShape(for: inputs)
    }

    public func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] {
        guard let pool = try? pooling(for: inputs[0]) else { return [] }
        return pool.state(for: inputs, batch: batch)
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] { try pooling(for: c.inputShapes[0]).compileForward(c) }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        try pooling(for: c.inputShapes[0]).compileBackward(c, g)
    }
}
