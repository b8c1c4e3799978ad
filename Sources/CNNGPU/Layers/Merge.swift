/// Element-wise sum of two or more tensors of one shape (the residual join of ResNet).
public struct Add: Layer {
    public init() {}
    public var kind: String { "Add" }
    public var namePrefix: String { "add" }
    public var arity: ClosedRange<Int> { 2...Int.max }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        guard inputs.allSatisfy({ $0 == inputs[0] }) else {
            throw ShapeError("needs inputs of one shape, gets \(inputs.map(\.description).joined(separator: ", "))")
        }
        return inputs[0]
    }

    public func forward(_ c: LayerContext) throws {
        try c.backend.add(count: c.outputCount, a: c.inputs[0], b: c.inputs[1], out: c.output)
        for extra in c.inputs.dropFirst(2) {
            try c.backend.add(count: c.outputCount, a: c.output, b: extra, out: c.output)
        }
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        for case let dx? in g.inputGradients where dx !== g.outputGradient {
            try c.backend.copy(from: g.outputGradient, to: dx, count: c.outputCount)
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

    public func forward(_ c: LayerContext) throws {
        try c.backend.concatChannels(batch: c.batch, spatial: spatial(c),
                                     inputs: zip(c.inputs, c.inputShapes).map { ($0, $1.dims[0]) }, output: c.output)
    }

    public func backward(_ c: LayerContext, _ g: GradientContext) throws {
        try c.backend.splitChannels(batch: c.batch, spatial: spatial(c), input: g.outputGradient,
                                    outputs: zip(g.inputGradients, c.inputShapes).map { ($0, $1.dims[0]) })
    }
}
