/// Activations, softmax and maxout: Kernels/activation.cl and Kernels/softmax.cl.
extension OpenCLBackend: ActivationOps {
    public func encodeActivationForward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try launchStreaming("activation", "activation_forward", count: count,
                   [.int(count), .int(f.kernelCode), .float(f.alpha), .buffer(x), .buffer(y)])
    }

    public func encodeActivationBackward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                                         dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try launchStreaming("activation", "activation_backward", count: count,
                   [.int(count), .int(f.kernelCode), .float(f.alpha), .buffer(x), .buffer(y),
                    .buffer(dy), .buffer(dx)])
    }

    public func encodeSoftmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try encodeSoftmaxForward(shape, log: log, x: x, y: y, algorithm: softmaxAlgorithm(for: shape))
    }

    public func encodeSoftmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                                      dx: any DeviceBuffer) throws {
        try encodeSoftmaxBackward(shape, log: log, y: y, dy: dy, dx: dx, algorithm: softmaxAlgorithm(for: shape))
    }

    /// The kernels of Kernels/softmax.cl: a work-item per row, or a work-group per row.
    enum SoftmaxAlgorithm { case rowwise, workgroup }

    /// A work-group per row for long contiguous rows, on every device type: on PoCL its vector
    /// form (softmax family of MemoryBoundTunables) was many times faster than a work-item per
    /// row at 512×1000 (Benchmarks/NOTES-memory-bound.md). Short rows (classifier heads of 10)
    /// keep a work-item each. The 512 threshold is not yet measured on a GPU.
    func softmaxAlgorithm(for shape: AxisShape) -> SoftmaxAlgorithm {
        shape.inner == 1 && shape.axis >= 512 ? .workgroup : .rowwise
    }

    /// The checked softmax with a chosen kernel (the kernel checks run both).
    func softmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer,
                        algorithm: SoftmaxAlgorithm) throws {
        try checks.softmaxForward(shape, log: log, x: x, y: y)
        try encodeSoftmaxForward(shape, log: log, x: x, y: y, algorithm: algorithm)
    }

    func softmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                         dx: any DeviceBuffer, algorithm: SoftmaxAlgorithm) throws {
        try checks.softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx)
        try encodeSoftmaxBackward(shape, log: log, y: y, dy: dy, dx: dx, algorithm: algorithm)
    }

    private func encodeSoftmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer,
                                      algorithm: SoftmaxAlgorithm) throws {
        if algorithm == .workgroup, shape.inner == 1 {
            return try launchMemoryBound("softmax", "softmax_forward_workgroup", MemoryBoundTunables.softmax,
                                         sizeName: "SOFTMAX_WG", groups: [shape.outer],
                                         [.int(shape.axis), .int(log ? 1 : 0), .buffer(x), .buffer(y)])
        }
        try launch("softmax", "softmax_forward_rowwise", global: [shape.inner, shape.outer],
                   local: rowwiseLocalSize(shape),
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .int(log ? 1 : 0),
                    .buffer(x), .buffer(y)])
    }

    private func encodeSoftmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                                       dx: any DeviceBuffer, algorithm: SoftmaxAlgorithm) throws {
        if algorithm == .workgroup, shape.inner == 1 {
            return try launchMemoryBound("softmax", "softmax_backward_workgroup", MemoryBoundTunables.softmax,
                                         sizeName: "SOFTMAX_WG", groups: [shape.outer],
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

    public func encodeMaxoutForward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                                    x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let planes = batch * channels / groupSize
        try launch("activation", "maxout_forward", global: [spatial, planes],
                   [.int(planes), .int(groupSize), .int(spatial), .buffer(x), .buffer(y)])
    }

    public func encodeMaxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                                     x: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let planes = batch * channels / groupSize
        try launch("activation", "maxout_backward", global: [spatial, planes],
                   [.int(planes), .int(groupSize), .int(spatial), .buffer(x), .buffer(dy), .buffer(dx)])
    }
}
