/// Activations, softmax and maxout: Kernels/activation.cl and Kernels/softmax.cl.
extension OpenCLBackend: ActivationOps {
    public func activationForward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try validate.elementwise("activation", count: count, ["x": x, "y": y])
        try validate.int32Indexable("activation", ["elements": count])
        try launch("activation", "activation_forward", global: [count],
                   [.int(count), .int(f.kernelCode), .float(f.alpha), .buffer(x), .buffer(y)])
    }

    public func activationBackward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                                   dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try validate.elementwise("activation_backward", count: count, ["x": x, "y": y, "dy": dy, "dx": dx])
        try validate.int32Indexable("activation_backward", ["elements": count])
        try launch("activation", "activation_backward", global: [count],
                   [.int(count), .int(f.kernelCode), .float(f.alpha), .buffer(x), .buffer(y),
                    .buffer(dy), .buffer(dx)])
    }

    public func softmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try softmaxForward(shape, log: log, x: x, y: y, algorithm: softmaxAlgorithm(for: shape))
    }

    public func softmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                                dx: any DeviceBuffer) throws {
        try softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx, algorithm: softmaxAlgorithm(for: shape))
    }

    /// The kernels of Kernels/softmax.cl: a work-item per row, or a work-group per row.
    enum SoftmaxAlgorithm { case rowwise, workgroup }

    /// SOFTMAX_WG in Kernels/softmax.cl.
    static let softmaxWorkGroupSize = 128

    /// A work-group per row only for long contiguous rows on devices that are not CPUs (on
    /// PoCL a work-group runs on one core and its strided loops are slow). The 512 threshold
    /// is a guess, not yet measured on a GPU.
    func softmaxAlgorithm(for shape: AxisShape) -> SoftmaxAlgorithm {
        shape.inner == 1 && shape.axis >= 512 && policy == .gpu ? .workgroup : .rowwise
    }

    func softmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer,
                        algorithm: SoftmaxAlgorithm) throws {
        try validate.axis(log ? "log_softmax" : "softmax", shape, full: ["x": x, "y": y])
        try validate.int32Indexable("softmax", ["elements": shape.count])
        if algorithm == .workgroup, shape.inner == 1 {
            let wg = Self.softmaxWorkGroupSize
            return try launch("softmax", "softmax_forward_workgroup", global: [shape.outer * wg], local: [wg],
                              [.int(shape.axis), .int(log ? 1 : 0), .buffer(x), .buffer(y)])
        }
        try launch("softmax", "softmax_forward_rowwise", global: [shape.inner, shape.outer],
                   local: rowwiseLocalSize(shape),
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .int(log ? 1 : 0),
                    .buffer(x), .buffer(y)])
    }

    func softmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                         dx: any DeviceBuffer, algorithm: SoftmaxAlgorithm) throws {
        try validate.axis(log ? "log_softmax_backward" : "softmax_backward", shape,
                          full: ["y": y, "dy": dy, "dx": dx])
        try validate.int32Indexable("softmax_backward", ["elements": shape.count])
        if algorithm == .workgroup, shape.inner == 1 {
            let wg = Self.softmaxWorkGroupSize
            return try launch("softmax", "softmax_backward_workgroup", global: [shape.outer * wg], local: [wg],
                              [.int(shape.axis), .int(log ? 1 : 0), .buffer(y), .buffer(dy), .buffer(dx)])
        }
        try launch("softmax", "softmax_backward_rowwise", global: [shape.inner, shape.outer],
                   local: rowwiseLocalSize(shape),
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .int(log ? 1 : 0),
                    .buffer(y), .buffer(dy), .buffer(dx)])
    }

    /// Work-groups along `inner` when rows are strided (measured faster on PoCL than its own
    /// choice); for contiguous rows (inner = 1) the runtime's choice was faster.
    private func rowwiseLocalSize(_ shape: AxisShape) -> [Int]? {
        shape.inner == 1 ? nil : [min(shape.inner, 64), 1]
    }

    public func maxoutForward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                              x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try validate.maxout(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial,
                            x: x, y: y, "maxout")
        try validate.int32Indexable("maxout", ["elements": batch * channels * spatial])
        let planes = batch * channels / groupSize
        try launch("activation", "maxout_forward", global: [spatial, planes],
                   [.int(planes), .int(groupSize), .int(spatial), .buffer(x), .buffer(y)])
    }

    public func maxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                               x: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try validate.maxout(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial,
                            x: x, y: dy, "maxout_backward")
        try validate.buffer(dx, "maxout_backward", "dx", count: batch * channels * spatial)
        try validate.int32Indexable("maxout_backward", ["elements": batch * channels * spatial])
        let planes = batch * channels / groupSize
        try launch("activation", "maxout_backward", global: [spatial, planes],
                   [.int(planes), .int(groupSize), .int(spatial), .buffer(x), .buffer(dy), .buffer(dx)])
    }
}

extension Activation {
    /// The function's code in Kernels/activation.cl (its header lists them).
    var kernelCode: Int {
        switch self {
        case .relu: return 0
        case .leakyReLU: return 1
        case .elu: return 2
        case .sigmoid: return 3
        case .tanh: return 4
        }
    }

    /// The function's parameter, 0 for those without one.
    var alpha: Float {
        switch self {
        case .leakyReLU(let a), .elu(let a): return a
        case .relu, .sigmoid, .tanh: return 0
        }
    }
}
