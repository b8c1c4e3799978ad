/// The eager convolution API: check, pick a solution (the heuristic's first, or the one tests
/// force), give it a temporary workspace, encode. A compiled plan instead picks the solution
/// once, checks it with `checkConvolutionSolution`, plans the workspace as a buffer, and calls
/// the `encodeConvolution*` requirements on every step.
extension ConvolutionOps {
    public var runsDenseLayersAsConvolutions: Bool { false }

    /// y = conv(x, w) + bias.
    public func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                   bias: (any DeviceBuffer)?, y: any DeviceBuffer) throws {
        try convolutionForward(d, x: x, weight: weight, bias: bias, activation: nil, y: y)
    }

    /// y = activation(conv(x, w) + bias), the epilogue applied as the convolution stores its
    /// output. The backward pass is `activationBackward` from y, then the ordinary convolution
    /// backward passes.
    public func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                   bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer) throws {
        try checks.convolutionForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y)
        let (solution, workspace) = try eagerSolution(d, .forward)
        try encodeConvolutionForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                     solution: solution, workspace: workspace)
    }

    /// dx = conv_backward_data(dy, w).
    public func convolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                        dx: any DeviceBuffer) throws {
        try checks.convolutionBackwardData(d, dy: dy, weight: weight, dx: dx)
        let (solution, workspace) = try eagerSolution(d, .backwardData)
        try encodeConvolutionBackwardData(d, dy: dy, weight: weight, dx: dx, solution: solution, workspace: workspace)
    }

    /// dw = conv_backward_filter(x, dy).
    public func convolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                          dw: any DeviceBuffer) throws {
        try checks.convolutionBackwardFilter(d, x: x, dy: dy, dw: dw)
        let (solution, workspace) = try eagerSolution(d, .backwardFilter)
        try encodeConvolutionBackwardFilter(d, x: x, dy: dy, dw: dw, solution: solution, workspace: workspace)
    }

    /// Checks, once, that `solution` applies to `d` on this backend and that `workspace` holds
    /// what it needs; then `encodeConvolution*` may run it any number of times.
    public func checkConvolutionSolution(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                         solution: ConvolutionSolution, workspace: (any DeviceBuffer)?) throws {
        try d.validate()
        try checks.convolutionSolution(d, direction: direction, solution: solution,
                                       offered: convolutionSolutions(for: d, direction: direction),
                                       workspace: workspace,
                                       needed: convolutionWorkspaceCount(d, direction: direction, solution: solution))
    }

    /// The heuristic's first solution (or the forced algorithm's) and a workspace for it.
    /// The workspace is released when the caller returns, possibly before the queued kernels
    /// run: OpenCL keeps a buffer alive while enqueued commands use it.
    private func eagerSolution(_ d: Conv2DDescriptor,
                               _ direction: ConvolutionDirection) throws -> (ConvolutionSolution, (any DeviceBuffer)?) {
        let solution = try ConvolutionChoice.solution(for: d, direction: direction, backend: self)
        let count = convolutionWorkspaceCount(d, direction: direction, solution: solution)
        guard count > 0 else { return (solution, nil) }
        let bytes = count * DType.float32.byteSize
        guard bytes <= info.maxBufferBytes else {
            throw CNNError.outOfMemory(requestedBytes: bytes,
                detail: "conv2d_\(direction.rawValue) needs a workspace of \(bytes >> 20) MiB, more than the "
                    + "device's largest buffer (\(info.maxBufferBytes >> 20) MiB); use a smaller kernel, input or channel count")
        }
        return (solution, try allocate(count, dtype: .float32))
    }
}
