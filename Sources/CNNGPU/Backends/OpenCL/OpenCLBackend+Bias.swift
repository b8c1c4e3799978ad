/// Bias add and the per-axis sum of its gradient (`Kernels/reduction.cl`).
extension OpenCLBackend: BiasOps {
    /// Work-group size of `reduce_sum_axis`; must equal `REDUCE_LOCAL` in reduction.cl.
    static let reduceLocalSize = 64

    public func addBias(_ shape: AxisShape, bias: any DeviceBuffer, y: any DeviceBuffer) throws {
        try validate.axis("add_bias", shape, full: ["y": y], perAxis: ["bias": bias])
        try validate.int32Indexable("add_bias", ["y": shape.count])
        try launch("reduction", "add_bias", global: [shape.inner, shape.axis, shape.outer],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .buffer(bias), .buffer(y)])
    }

    public func reduceSum(_ shape: AxisShape, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.axis("reduce_sum", shape, full: ["x": x], perAxis: ["out": out])
        try validate.int32Indexable("reduce_sum", ["x": shape.count])
        let local = Self.reduceLocalSize
        try launch("reduction", "reduce_sum_axis", global: [shape.axis * local], local: [local],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .buffer(x), .buffer(out),
                    .local(local * 4)])
    }
}
