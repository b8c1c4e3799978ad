/// Checks for the pooling family beyond the shared `pooling(_:x:y:indices:backward:)`.
extension OpValidation {
    /// Re-checks a pooling descriptor: its fields are mutable, so one that passed `init` may
    /// since have been given a zero size or a window larger than the padded input.
    func poolDescriptor(_ d: Pool2DDescriptor) throws {
        _ = try Pool2DDescriptor(batch: d.batch, channels: d.channels, inH: d.inH, inW: d.inW,
                                 windowH: d.windowH, windowW: d.windowW, strideH: d.strideH,
                                 strideW: d.strideW, padding: d.padding, mode: d.mode)
    }

    func globalAveragePool(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                           backward: Bool) throws {
        let op = backward ? "global_avg_pool_backward" : "global_avg_pool"
        try checkPositive(op, ["planes": planes, "spatial": spatial])
        try buffer(x, op, backward ? "dx" : "x", count: planes * spatial)
        try buffer(y, op, backward ? "dy" : "y", count: planes)
    }

    func adaptiveAveragePool(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int, x: any DeviceBuffer,
                             y: any DeviceBuffer, backward: Bool) throws {
        let op = backward ? "adaptive_avg_pool_backward" : "adaptive_avg_pool"
        try checkPositive(op, ["planes": planes, "inH": inH, "inW": inW, "outH": outH, "outW": outW])
        try buffer(x, op, backward ? "dx" : "x", count: planes * inH * inW)
        try buffer(y, op, backward ? "dy" : "y", count: planes * outH * outW)
    }
}
