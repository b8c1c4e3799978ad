/// Bias add and the per-axis sum of its gradient (`Kernels/reduction.cl`).
extension OpenCLBackend: BiasOps {
    /// Work-group size of `reduce_sum_axis`; must equal `REDUCE_LOCAL` in reduction.cl.
    static let reduceLocalSize = 64

    public func encodeAddBias(_ shape: AxisShape, bias: any DeviceBuffer, y: any DeviceBuffer) throws {
        try launch("reduction", "add_bias", global: [shape.inner, shape.axis, shape.outer],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .buffer(bias), .buffer(y)])
    }

    public func encodeReduceSum(_ shape: AxisShape, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        if shape.inner == 1 {
            return try launch("reduction", "reduce_sum_columns", global: [shape.axis],
                              [.int(shape.outer), .int(shape.axis), .buffer(x), .buffer(out)])
        }
        let local = Self.reduceLocalSize
        try launch("reduction", "reduce_sum_axis", global: [shape.axis * local], local: [local],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .buffer(x), .buffer(out),
                    .local(local * MemoryLayout<Float>.stride)])
    }
}
