/// torchvision's `AdaptiveAvgPool2d((outH, outW))`, for the sizes our pooling ops compute
/// exactly: an input that is a whole multiple of the output (an ordinary average pool with
/// window = stride = input / output) and the identity (input == output, a copy).
///
/// PyTorch also pools sizes that do not divide, with overlapping windows of uneven width;
/// no backend op computes those, so such inputs are refused at build time with the sizes that
/// would work rather than answered approximately.
///
/// ```swift
/// AdaptiveAvgPool2D(7, 7)      // VGG's head: 512×7×7 from a 224×224 (or 448×448) image
/// ```
public struct AdaptiveAvgPool2D: Layer {
    public var outH: Int, outW: Int

    public init(_ outH: Int, _ outW: Int) { self.outH = outH; self.outW = outW }

    public var kind: String { "AdaptiveAvgPool2D" }
    public var namePrefix: String { "avgpool" }
    public var backwardReads: BackwardReads { [] }

    /// The average pool this layer amounts to for `input`, or nil where it is the identity.
    func pooling(for input: TensorShape) throws -> Pool2D? {
        let (_, h, w) = try input.requireImage(kind)
        guard outH > 0, outW > 0 else { throw ShapeError("needs a positive output size, got \(outH)×\(outW)") }
        guard h % outH == 0, w % outW == 0 else {
            throw ShapeError("pools to \(outH)×\(outW) only feature maps whose sides are multiples of "
                + "\(outH)×\(outW) (uneven adaptive windows are not implemented), and gets \(h)×\(w)")
        }
        if h == outH && w == outW { return nil }
        return Pool2D(mode: .averageIncludingPadding, windowH: h / outH, windowW: w / outW,
                      strideH: h / outH, strideW: w / outW, padding: .valid)
    }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let (c, _, _) = try inputs[0].requireImage(kind)
        _ = try pooling(for: inputs[0])
        return [c, outH, outW]
    }

    public func forward(_ c: LayerContext) throws {
        if let pool = try pooling(for: c.inputShapes[0]) {
            try pool.forward(c)
        } else {
            try c.backend.copy(from: c.inputs[0], to: c.output, count: c.outputCount)
        }
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        guard let dx = g.inputGradients[0] else { return }
        if let pool = try pooling(for: c.inputShapes[0]) {
            try pool.backward(c, g)
        } else {
            try c.backend.copy(from: g.outputGradient, to: dx, count: c.inputCount)
        }
    }
}
