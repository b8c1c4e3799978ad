/// Argument checks of the convolution ops (`ConvolutionOps`), shared by every backend. The
/// backward passes name the buffers as the caller passed them (dx, dy, dw), so an error says
/// which argument is wrong.
extension OpValidation {
    func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                            bias: (any DeviceBuffer)?, activation: Activation? = nil, y: any DeviceBuffer) throws {
        let op = "conv2d"
        try d.validate()
        try buffer(x, op, "x", count: d.inputCount)
        try buffer(weight, op, "weight", count: d.weightCount)
        try buffer(y, op, "y", count: d.outputCount)
        if let bias { try buffer(bias, op, "bias", count: d.outChannels) }
        if let activation { try self.activation(activation, op) }
    }

    func convolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                 dx: any DeviceBuffer) throws {
        let op = "conv2d_backward_data"
        try d.validate()
        try buffer(dx, op, "dx", count: d.inputCount)
        try buffer(weight, op, "weight", count: d.weightCount)
        try buffer(dy, op, "dy", count: d.outputCount)
    }

    func convolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                   dw: any DeviceBuffer) throws {
        let op = "conv2d_backward_filter"
        try d.validate()
        try buffer(x, op, "x", count: d.inputCount)
        try buffer(dw, op, "dw", count: d.weightCount)
        try buffer(dy, op, "dy", count: d.outputCount)
    }

    /// A solution chosen for `d` must be one the backend offers, with a workspace of at least
    /// `needed` elements when it needs one.
    func convolutionSolution(_ d: Conv2DDescriptor, direction: ConvolutionDirection, solution: ConvolutionSolution,
                             offered: [ConvolutionSolution], workspace: (any DeviceBuffer)?, needed: Int) throws {
        let op = "conv2d_\(direction.rawValue)"
        guard offered.contains(solution) else {
            throw CNNError.invalidArgument("\(op): solution \(solution) does not apply to this convolution on this device; "
                + "pick one of convolutionSolutions(for:direction:): \(offered.map(\.description))")
        }
        guard needed > 0 else { return }
        guard let workspace else {
            throw CNNError.invalidBuffer(op: op, detail: "\(solution) needs a workspace of \(needed) elements, got none")
        }
        try buffer(workspace, op, "workspace", count: needed)
    }
}
