/// Argument checks of the activation ops (`ActivationOps`), shared by every backend.
extension OpValidation {
    func activationForward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try activation(f, "activation")
        try elementwise("activation", count: count, ["x": x, "y": y])
    }

    func activationBackward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                            dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try activation(f, "activation_backward")
        try elementwise("activation_backward", count: count, ["x": x, "y": y, "dy": dy, "dx": dx])
    }

    func softmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try axis(log ? "log_softmax" : "softmax", shape, full: ["x": x, "y": y])
    }

    func softmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                         dx: any DeviceBuffer) throws {
        try axis(log ? "log_softmax_backward" : "softmax_backward", shape, full: ["y": y, "dy": dy, "dx": dx])
    }

    func maxoutForward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                       x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try maxout(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial, x: x, y: y, "maxout")
    }

    func maxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                        x: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try maxout(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial, x: x, y: dy,
                   "maxout_backward")
        try buffer(dx, "maxout_backward", "dx", count: batch * channels * spatial)
    }

    /// The slope of leaky ReLU and ELU must be a number: a NaN or infinite alpha would turn
    /// every negative input into NaN without a word.
    func activation(_ f: Activation, _ op: String) throws {
        switch f {
        case .leakyReLU(let alpha), .elu(let alpha):
            guard alpha.isFinite else {
                throw CNNError.invalidArgument("\(op): the activation's alpha must be finite, got \(alpha)")
            }
        case .relu, .sigmoid, .tanh: break
        }
    }

    private func maxout(batch: Int, channels: Int, groupSize: Int, spatial: Int, x: any DeviceBuffer,
                        y: any DeviceBuffer, _ op: String) throws {
        try checkPositive(op, ["batch": batch, "channels": channels, "groupSize": groupSize, "spatial": spatial])
        guard channels % groupSize == 0 else {
            throw CNNError.invalidShape(op: op, detail: "group size \(groupSize) does not divide \(channels) channels")
        }
        try buffer(x, op, "x", count: batch * channels * spatial)
        try buffer(y, op, "y", count: batch * channels / groupSize * spatial)
    }
}
