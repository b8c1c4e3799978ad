/// How a window layer pads its input.
public enum PaddingMode: Hashable, Sendable {
    /// No padding.
    case valid
    /// TensorFlow's "same": output size = ceil(input / stride).
    case same
    case explicit(Padding2D)

    func resolve(inH: Int, inW: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
                 dilationH: Int = 1, dilationW: Int = 1) -> Padding2D {
        switch self {
        case .valid: return .zero
        case .explicit(let p): return p
        case .same:
            return .same(inputH: inH, inputW: inW, kernelH: kernelH, kernelW: kernelW, strideH: strideH,
                         strideW: strideW, dilationH: dilationH, dilationW: dilationW)
        }
    }
}

/// 2-D convolution, weights `[out, in/groups, kH, kW]` (PyTorch names `weight`, `bias`).
///
/// ```swift
/// Conv2D(32, kernel: 3, padding: .same)      // 32 filters, 3×3
/// ```
public struct Conv2D: Layer {
    public var filters: Int
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padding: PaddingMode
    public var dilation: Int
    public var groups: Int
    public var useBias: Bool
    public var weightInitializer: Initializer
    /// How the bias starts (zeros unless given). Initializers that scale by fan-in take the
    /// weight's, so `.pytorchDefault` gives PyTorch's default bias.
    public var biasInitializer: Initializer

    public init(_ filters: Int, kernel: Int, stride: Int = 1, padding: PaddingMode = .valid,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                weightInitializer: Initializer = .heNormal, biasInitializer: Initializer = .zeros) {
        self.init(filters, kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride, padding: padding,
                  dilation: dilation, groups: groups, bias: bias, weightInitializer: weightInitializer,
                  biasInitializer: biasInitializer)
    }

    public init(_ filters: Int, kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padding: PaddingMode = .valid, dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                weightInitializer: Initializer = .heNormal, biasInitializer: Initializer = .zeros) {
        self.filters = filters; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padding = padding
        self.dilation = dilation; self.groups = groups; self.useBias = bias
        self.weightInitializer = weightInitializer; self.biasInitializer = biasInitializer
    }

    public var kind: String { "Conv2D" }

    /// Each output value sums (input channels / groups) × kernel products.
    public func multiplyAdds(for inputs: [TensorShape], output: TensorShape) -> Int {
        output.count * (inputs[0].dims[0] / max(groups, 1)) * kernelH * kernelW
    }
    public var namePrefix: String { "conv" }

    func descriptor(_ input: TensorShape, batch: Int) throws -> Conv2DDescriptor {
        let (c, h, w) = try input.requireImage(kind)
        let pad = padding.resolve(inH: h, inW: w, kernelH: kernelH, kernelW: kernelW, strideH: strideH,
                                  strideW: strideW, dilationH: dilation, dilationW: dilation)
        do {
            return try Conv2DDescriptor(batch: batch, inChannels: c, inH: h, inW: w, outChannels: filters,
                                        kernelH: kernelH, kernelW: kernelW, strideH: strideH, strideW: strideW,
                                        padding: pad, dilationH: dilation, dilationW: dilation, groups: groups)
        } catch let CNNError.invalidShape(_, detail) {
            throw ShapeError(detail + " (input \(input))")
        }
    }

    public func outputShape(for inputs: [TensorShape]) throws -> TensorShape {
        let d = try descriptor(inputs[0], batch: 1)
        return [filters, d.outH, d.outW]
    }

    public func parameters(for inputs: [TensorShape]) -> [ParameterSpec] {
        let c = inputs[0].dims[0]
        let weight = [filters, c / groups, kernelH, kernelW]
        var specs = [ParameterSpec("weight", weight, weightInitializer)]
        if useBias { specs.append(ParameterSpec("bias", [filters], biasInitializer, fanShape: weight)) }
        return specs
    }

    public func epilogueFusion(_ f: Activation) -> EpilogueFusion { .forward }

    public func workspaceCount(for inputs: [TensorShape], batch: Int, backend: any Backend, training: Bool) throws -> Int {
        let d = try descriptor(inputs[0], batch: batch)
        return try workspaceCount(d, backend: backend, training: training)
    }

    private func workspaceCount(_ d: Conv2DDescriptor, backend: any Backend, training: Bool) throws -> Int {
        let directions: [ConvolutionDirection] = training ? ConvolutionDirection.allCases : [.forward]
        return try directions.map {
            backend.convolutionWorkspaceCount(d, direction: $0, solution: try ConvolutionChoice.solution(for: d, direction: $0, backend: backend))
        }.max() ?? 0
    }

    /// A layer run outside a plan (no planned workspace) allocates its own.
    private func ownWorkspace(_ d: Conv2DDescriptor, backend: any Backend, training: Bool) throws -> (any DeviceBuffer)? {
        let count = try workspaceCount(d, backend: backend, training: training)
        return count > 0 ? try backend.allocate(count, dtype: .float32) : nil
    }

    public func forward(_ c: LayerContext) throws { try compileForward(c).forEach { try $0.run(c.seed) } }
    public func backward(_ c: LayerContext, _ g: GradientContext) throws { try compileBackward(c, g).forEach { try $0.run(c.seed) } }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        let d = try descriptor(c.inputShapes[0], batch: c.batch)
        let backend = c.backend, x = c.inputs[0], w = c.parameters[0], y = c.output
        let bias = useBias ? c.parameters[1] : nil, activation = c.epilogue
        let workspace = try c.workspace ?? ownWorkspace(d, backend: backend, training: false)
        let solution = try ConvolutionChoice.checked(d, direction: .forward, backend: backend, workspace: workspace)
        try backend.checks.convolutionForward(d, x: x, weight: w, bias: bias, activation: activation, y: y)
        let kind = "conv2d" + (bias == nil ? "" : "+bias") + (activation.map { "+" + $0.opName } ?? "")
        return [CompiledOp(name: c.name, kind: kind, phase: .forward, shape: d.problemText, algorithm: solution.description,
                           flops: d.flops, bytes: d.trafficBytes, node: c.node) { _ in
            try backend.encodeConvolutionForward(d, x: x, weight: w, bias: bias, activation: activation, y: y,
                                                 solution: solution, workspace: workspace)
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        let d = try descriptor(c.inputShapes[0], batch: c.batch)
        let backend = c.backend, x = c.inputs[0], w = c.parameters[0], dy = g.outputGradient
        let workspace = try c.workspace ?? ownWorkspace(d, backend: backend, training: true)
        var ops: [CompiledOp] = []
        if let dw = g.parameterGradients[0] {
            let solution = try ConvolutionChoice.checked(d, direction: .backwardFilter, backend: backend, workspace: workspace)
            try backend.checks.convolutionBackwardFilter(d, x: x, dy: dy, dw: dw)
            ops.append(CompiledOp(name: c.name, kind: "conv2d backward-filter", phase: .backward, shape: d.problemText,
                                  algorithm: solution.description, flops: d.flops, bytes: d.trafficBytes, node: c.node) { _ in
                try backend.encodeConvolutionBackwardFilter(d, x: x, dy: dy, dw: dw, solution: solution, workspace: workspace)
            })
        }
        if useBias, let db = g.parameterGradients[1] {
            let shape = AxisShape(outer: d.batch, axis: d.outChannels, inner: d.outH * d.outW)
            try backend.checks.reduceSum(shape, x: dy, out: db)
            ops.append(CompiledOp(name: c.name, kind: "bias backward", phase: .backward, shape: shapeText([shape.outer, shape.axis, shape.inner]),
                                  bytes: Double(shape.count * 4), node: c.node) { _ in
                try backend.encodeReduceSum(shape, x: dy, out: db)
            })
        }
        if let dx = g.inputGradients[0] {
            let solution = try ConvolutionChoice.checked(d, direction: .backwardData, backend: backend, workspace: workspace)
            try backend.checks.convolutionBackwardData(d, dy: dy, weight: w, dx: dx)
            ops.append(CompiledOp(name: c.name, kind: "conv2d backward-data", phase: .backward, shape: d.problemText,
                                  algorithm: solution.description, flops: d.flops, bytes: d.trafficBytes, node: c.node) { _ in
                try backend.encodeConvolutionBackwardData(d, dy: dy, weight: w, dx: dx, solution: solution, workspace: workspace)
            })
        }
        return ops
    }
}
