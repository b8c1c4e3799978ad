/// torchvision's `AdaptiveAvgPool2d((outH, outW))`, exact for every input size as PyTorch
/// defines it: output (i, j) is the mean of input rows ⌊i·H/outH⌋ ..< ⌈(i+1)·H/outH⌉ and
/// columns ⌊j·W/outW⌋ ..< ⌈(j+1)·W/outW⌉. Where the output does not divide the input the
/// windows overlap and differ in size; an input smaller than the output has each of its pixels
/// spread over one or more cells. An input already of the output's size is copied through.
///
/// ```swift
/// AdaptiveAvgPool2D(7, 7)      // VGG's head: 512×7×7 from any feature map (1×1 and up)
/// ```
public struct AdaptiveAvgPool2D: Layer {
    public var outH: Int, outW: Int

    public init(_ outH: Int, _ outW: Int) { self.outH = outH; self.outW = outW }

    public var kind: String { "AdaptiveAvgPool2D" }
    public var namePrefix: String { "avgpool" }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let (c, _, _) = try inputs[0].requireImage(kind)
        guard outH > 0, outW > 0 else { throw ShapeError("needs a positive output size, got \(outH)×\(outW)") }
        return [c, outH, outW]
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let (channels, h, w) = try c.inputShapes[0].requireImage(kind)
        if h == outH && w == outW { return try copyOp(c, from: c.inputs[0], to: c.output, count: c.outputCount, phase: .forward) }
        let planes = c.batch * channels, oh = outH, ow = outW, b = c.backend, x = c.inputs[0], y = c.output
        return [try c.op("adaptive avgpool", .forward, bytes: Double(c.inputCount * 4 + c.outputCount * 4),
                         check: { try b.checks.adaptiveAveragePoolForward(planes: planes, inH: h, inW: w, outH: oh, outW: ow, x: x, y: y) }) { _ in
            try b.encodeAdaptiveAveragePoolForward(planes: planes, inH: h, inW: w, outH: oh, outW: ow, x: x, y: y)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        let (channels, h, w) = try c.inputShapes[0].requireImage(kind)
        if h == outH && w == outW { return try copyOp(c, from: g.outputGradient, to: dx, count: c.inputCount, phase: .backward) }
        let planes = c.batch * channels, oh = outH, ow = outW, b = c.backend, dy = g.outputGradient
        return [try c.op("adaptive avgpool backward", .backward, bytes: Double(c.inputCount * 4 + c.outputCount * 4),
                         check: { try b.checks.adaptiveAveragePoolBackward(planes: planes, inH: h, inW: w, outH: oh, outW: ow, dy: dy, dx: dx) }) { _ in
            try b.encodeAdaptiveAveragePoolBackward(planes: planes, inH: h, inW: w, outH: oh, outW: ow, dy: dy, dx: dx)
        }]
    }
}
