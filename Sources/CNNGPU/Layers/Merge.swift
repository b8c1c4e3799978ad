/// Element-wise sum of two or more tensors of one shape (the residual join of ResNet).
public struct Add: Layer {
    public init() {}
    public var kind: String { "Add" }
    public var namePrefix: String { "add" }
    public var arity: ClosedRange<Int> { 2...Int.max }
    public var backwardReads: BackwardReads { [] }
    public var passesGradientThrough: Bool { true }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        guard inputs.allSatisfy({ $0 == inputs[0] }) else {
            throw ShapeError("needs inputs of one shape, gets \(inputs.map(\.description).joined(separator: ", "))")
        }
        return inputs[0]
    }

    /// ReLU after the residual join is applied by the add itself.
    public func epilogueFusion(_ f: Activation) -> EpilogueFusion { f == .relu ? .forward : .none }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let backend = c.backend, count = c.outputCount, out = c.output, inputs = c.inputs
        // The activation goes on the last partial sum only.
        var ops: [CompiledOp] = []
        for k in 1..<inputs.count {
            let a = k == 1 ? inputs[0] : out, b = inputs[k]
            let activation = k == inputs.count - 1 ? c.epilogue : nil
            try backend.checks.add(count: count, a: a, b: b, out: out, activation: activation)
            ops.append(CompiledOp(name: c.name, kind: "add" + (activation.map { "+" + $0.opName } ?? ""), phase: .forward,
                                  shape: c.shapeText, bytes: Double(count * 12), node: c.node) { _ in
                try backend.encodeAdd(count: count, a: a, b: b, out: out, activation: activation)
            })
        }
        return ops
    }

    /// Each input's gradient is a copy of dy, except where the planner gave the input dy's
    /// own buffer (`GradientPassThrough`).
    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        let backend = c.backend, count = c.outputCount, dy = g.outputGradient
        return try g.inputGradients.compactMap { $0 }.filter { $0 !== dy }.map { dx in
            try backend.checks.copyStrided(rows: 1, rowLength: count, src: dy, srcOffset: 0, srcStride: count,
                                           dst: dx, dstOffset: 0, dstStride: count)
            return CompiledOp(name: c.name, kind: "add backward (copy)", phase: .backward, shape: c.shapeText,
                              bytes: Double(count * 8), node: c.node) { _ in
                try backend.encodeCopyStrided(rows: 1, rowLength: count, src: dy, srcOffset: 0, srcStride: count,
                                              dst: dx, dstOffset: 0, dstStride: count)
            }
        }
    }
}

/// Concatenation along channels (features for vectors): the join of Inception and DenseNet.
public struct Concat: Layer {
    public init() {}
    public var kind: String { "Concat" }
    public var namePrefix: String { "concat" }
    public var arity: ClosedRange<Int> { 2...Int.max }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let rest = inputs[0].dims.dropFirst()
        guard inputs.allSatisfy({ $0.rank == inputs[0].rank && $0.dims.dropFirst() == rest }) else {
            throw ShapeError("needs inputs that differ only in channels, gets "
                + inputs.map(\.description).joined(separator: ", "))
        }
        return TensorShape([inputs.reduce(0) { $0 + $1.dims[0] }] + rest)
    }

    private func spatial(_ c: LayerContext) -> Int { c.outputShape.dims.dropFirst().reduce(1, *) }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    /// One strided copy per input, into (or, backward, out of) its channel range.
    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        try copies(c, parts: zip(c.inputs, c.inputShapes).map { ($0, $1.dims[0]) }, whole: c.output, into: true)
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        try copies(c, parts: zip(g.inputGradients, c.inputShapes).map { ($0, $1.dims[0]) }, whole: g.outputGradient, into: false)
    }

    private func copies(_ c: LayerContext, parts: [(buffer: (any DeviceBuffer)?, channels: Int)], whole: any DeviceBuffer,
                        into: Bool) throws -> [CompiledOp] {
        let spatial = spatial(c), n = c.batch, b = c.backend
        let total = parts.reduce(0) { $0 + $1.channels }
        var offset = 0, ops: [CompiledOp] = []
        for (part, channels) in parts {
            defer { offset += channels }
            guard let part else { continue }
            let row = channels * spatial
            let (src, srcOffset, srcStride) = into ? (part, 0, row) : (whole, offset * spatial, total * spatial)
            let (dst, dstOffset, dstStride) = into ? (whole, offset * spatial, total * spatial) : (part, 0, row)
            ops.append(try c.op(into ? "concat (copy)" : "concat backward (copy)", into ? .forward : .backward,
                                bytes: Double(n * row * 8),
                                check: { try b.checks.copyStrided(rows: n, rowLength: row, src: src, srcOffset: srcOffset, srcStride: srcStride,
                                                                  dst: dst, dstOffset: dstOffset, dstStride: dstStride) }) { _ in
                try b.encodeCopyStrided(rows: n, rowLength: row, src: src, srcOffset: srcOffset, srcStride: srcStride,
                                        dst: dst, dstOffset: dstOffset, dstStride: dstStride)
            })
        }
        return ops
    }
}
