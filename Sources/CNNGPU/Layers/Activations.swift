/// An element-wise activation layer (ReLU, LeakyReLU, ELU, sigmoid, tanh).
public struct ActivationLayer: Layer {
    public var function: Activation
    public init(_ function: Activation) { self.function = function }

    public var kind: String {
        switch function {
        case .relu: return "ReLU"
        case .leakyReLU: return "LeakyReLU"
        case .elu: return "ELU"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        }
    }
    public var namePrefix: String { kind.lowercased() }

    /// In place when the backward pass can work from the output alone: ReLU and LeakyReLU
    /// (the sign of y is the sign of x), sigmoid and tanh (derivatives in terms of y).
    public var canRunInPlace: Bool {
        switch function {
        case .relu, .sigmoid, .tanh: return true
        case .leakyReLU(let alpha): return alpha > 0
        case .elu: return false
        }
    }

    public var backwardReads: BackwardReads { canRunInPlace ? [.output] : [.input, .output] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape { inputs[0] }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let backend = c.backend, f = function, count = c.outputCount, x = c.inputs[0], y = c.output
        try backend.checks.activationForward(f, count: count, x: x, y: y)
        return [CompiledOp(name: c.name, kind: f.opName, phase: .forward, shape: c.shapeText, bytes: Double(count * 8),
                           node: c.node) { _ in
            try backend.encodeActivationForward(f, count: count, x: x, y: y)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        // In place, the input buffer holds the output; the functions allowed in place read only
        // what that buffer still tells them.
        let backend = c.backend, f = function, count = c.inputCount, x = c.inputs[0], y = c.output, dy = g.outputGradient
        try backend.checks.activationBackward(f, count: count, x: x, y: y, dy: dy, dx: dx)
        return [CompiledOp(name: c.name, kind: f.opName + " backward", phase: .backward, shape: c.shapeText,
                           bytes: Double(count * 12), node: c.node) { _ in
            try backend.encodeActivationBackward(f, count: count, x: x, y: y, dy: dy, dx: dx)
        }]
    }
}

public func ReLU() -> ActivationLayer { ActivationLayer(.relu) }
public func LeakyReLU(_ alpha: Float = 0.01) -> ActivationLayer { ActivationLayer(.leakyReLU(alpha: alpha)) }
public func ELU(_ alpha: Float = 1) -> ActivationLayer { ActivationLayer(.elu(alpha: alpha)) }
public func Sigmoid() -> ActivationLayer { ActivationLayer(.sigmoid) }
public func Tanh() -> ActivationLayer { ActivationLayer(.tanh) }

/// Softmax (or log-softmax) over the features of each sample (over channels for images).
public struct Softmax: Layer {
    public var log: Bool
    public init(log: Bool = false) { self.log = log }
    public var kind: String { log ? "LogSoftmax" : "Softmax" }
    public var namePrefix: String { log ? "logsoftmax" : "softmax" }
    public var backwardReads: BackwardReads { [.output] }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape { inputs[0] }

    func axisShape(_ shape: TensorShape, batch: Int) -> AxisShape {
        AxisShape(outer: batch, axis: shape.dims[0], inner: shape.dims.dropFirst().reduce(1, *))
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let s = axisShape(c.inputShapes[0], batch: c.batch), b = c.backend, x = c.inputs[0], y = c.output, log = log
        return [try c.op(kind.lowercased(), .forward, bytes: Double(s.count * 8),
                         check: { try b.checks.softmaxForward(s, log: log, x: x, y: y) }) { _ in
            try b.encodeSoftmaxForward(s, log: log, x: x, y: y)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        let s = axisShape(c.inputShapes[0], batch: c.batch), b = c.backend, y = c.output, dy = g.outputGradient, log = log
        return [try c.op(kind.lowercased() + " backward", .backward, bytes: Double(s.count * 12),
                         check: { try b.checks.softmaxBackward(s, log: log, y: y, dy: dy, dx: dx) }) { _ in
            try b.encodeSoftmaxBackward(s, log: log, y: y, dy: dy, dx: dx)
        }]
    }
}

/// Maxout: the maximum over groups of `groupSize` consecutive channels.
public struct Maxout: Layer {
    public var groupSize: Int
    public init(groupSize: Int) { self.groupSize = groupSize }
    public var kind: String { "Maxout" }
    public var namePrefix: String { "maxout" }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let dims = inputs[0].dims
        guard groupSize > 0, dims[0] % groupSize == 0 else {
            throw ShapeError("group size \(groupSize) must divide the \(dims[0]) channels")
        }
        return TensorShape([dims[0] / groupSize] + dims.dropFirst())
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let dims = c.inputShapes[0].dims, n = c.batch, channels = dims[0], group = groupSize
        let spatial = dims.dropFirst().reduce(1, *), b = c.backend, x = c.inputs[0], y = c.output
        return [try c.op("maxout", .forward, bytes: Double(c.inputCount * 4 + c.outputCount * 4),
                         check: { try b.checks.maxoutForward(batch: n, channels: channels, groupSize: group, spatial: spatial, x: x, y: y) }) { _ in
            try b.encodeMaxoutForward(batch: n, channels: channels, groupSize: group, spatial: spatial, x: x, y: y)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0] else { return [] }
        let dims = c.inputShapes[0].dims, n = c.batch, channels = dims[0], group = groupSize
        let spatial = dims.dropFirst().reduce(1, *), b = c.backend, x = c.inputs[0], dy = g.outputGradient
        return [try c.op("maxout backward", .backward, bytes: Double(c.inputCount * 8 + c.outputCount * 4),
                         check: { try b.checks.maxoutBackward(batch: n, channels: channels, groupSize: group, spatial: spatial,
                                                              x: x, dy: dy, dx: dx) }) { _ in
            try b.encodeMaxoutBackward(batch: n, channels: channels, groupSize: group, spatial: spatial, x: x, dy: dy, dx: dx)
        }]
    }
}
