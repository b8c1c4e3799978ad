/// Argument checks of the pooling ops (`PoolingOps`), shared by every backend.
extension OpValidation {
    func poolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                        indices: (any DeviceBuffer)?) throws {
        try poolDescriptor(d)
        try pooling(d, x: x, y: y, indices: indices, backward: false)
    }

    func poolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                         dx: any DeviceBuffer) throws {
        try poolDescriptor(d)
        try pooling(d, x: dx, y: dy, indices: indices, backward: true)
    }

    func globalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try globalAveragePool(planes: planes, spatial: spatial, x: x, y: y, backward: false)
    }

    func globalAveragePoolBackward(planes: Int, spatial: Int, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try globalAveragePool(planes: planes, spatial: spatial, x: dx, y: dy, backward: true)
    }

    func adaptiveAveragePoolForward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                    x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try adaptiveAveragePool(planes: planes, inH: inH, inW: inW, outH: outH, outW: outW, x: x, y: y, backward: false)
    }

    func adaptiveAveragePoolBackward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                     dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try adaptiveAveragePool(planes: planes, inH: inH, inW: inW, outH: outH, outW: outW, x: dx, y: dy, backward: true)
    }

    /// Re-checks a pooling descriptor: its fields are mutable, so one that passed `init` may
    /// since have been given a zero size or a window larger than the padded input.
    private func poolDescriptor(_ d: Pool2DDescriptor) throws {
        _ = try Pool2DDescriptor(batch: d.batch, channels: d.channels, inH: d.inH, inW: d.inW,
                                 windowH: d.windowH, windowW: d.windowW, strideH: d.strideH,
                                 strideW: d.strideW, padding: d.padding, mode: d.mode,
                                 masksNonPositiveWinners: d.masksNonPositiveWinners)
    }

    private func pooling(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                         indices: (any DeviceBuffer)?, backward: Bool) throws {
        let op = backward ? "pool2d_backward" : "pool2d"
        try buffer(x, op, backward ? "dx" : "x", count: d.inputCount)
        try buffer(y, op, backward ? "dy" : "y", count: d.outputCount)
        if let indices { try buffer(indices, op, "indices", count: d.outputCount, dtype: .int32) }
        if backward, d.mode == .max, indices == nil {
            throw CNNError.invalidArgument("pool2d_backward: max pooling needs the indices saved by the forward pass")
        }
    }

    private func globalAveragePool(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                                   backward: Bool) throws {
        let op = backward ? "global_avg_pool_backward" : "global_avg_pool"
        try checkPositive(op, ["planes": planes, "spatial": spatial])
        try buffer(x, op, backward ? "dx" : "x", count: planes * spatial)
        try buffer(y, op, backward ? "dy" : "y", count: planes)
    }

    private func adaptiveAveragePool(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int, x: any DeviceBuffer,
                                     y: any DeviceBuffer, backward: Bool) throws {
        let op = backward ? "adaptive_avg_pool_backward" : "adaptive_avg_pool"
        try checkPositive(op, ["planes": planes, "inH": inH, "inW": inW, "outH": outH, "outW": outW])
        try buffer(x, op, backward ? "dx" : "x", count: planes * inH * inW)
        try buffer(y, op, backward ? "dy" : "y", count: planes * outH * outW)
    }
}
