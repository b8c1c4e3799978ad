/// Pooling through `Kernels/pooling.cl`. Backward passes are gathers (one work-item per input
/// pixel), so they are deterministic and need no atomics. The 2-D max and average kernels take
/// the pooling family's tunables (MemoryBoundTunables.swift).
extension OpenCLBackend: PoolingOps {
    public func encodePoolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                                     indices: (any DeviceBuffer)?) throws {
        let groups = poolGroups(pixels: d.outH * d.outW, planes: d.batch * d.channels)
        switch d.mode {
        case .max:
            if let indices {
                try launchPooling("max_pool_forward_indexed", groups: groups,
                                  poolGeometry(d) + [.buffer(x), .buffer(y), .buffer(indices)])
            } else {
                try launchPooling("max_pool_forward", groups: groups, poolGeometry(d) + [.buffer(x), .buffer(y)])
            }
        case .averageIncludingPadding, .averageExcludingPadding:
            try launchPooling("avg_pool_forward", groups: groups,
                              poolGeometry(d) + [.int(d.mode == .averageIncludingPadding ? 1 : 0),
                                                 .buffer(x), .buffer(y)])
        }
    }

    public func encodePoolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                                      dx: any DeviceBuffer) throws {
        let groups = poolGroups(pixels: d.inH * d.inW, planes: d.batch * d.channels)
        switch d.mode {
        case .max:
            // `checks.poolingBackward` has thrown if max pooling came without indices.
            try launchPooling("max_pool_backward_gather", groups: groups,
                              poolGeometry(d) + [.buffer(dy), .buffer(indices!), .buffer(dx)])
        case .averageIncludingPadding, .averageExcludingPadding:
            try launchPooling("avg_pool_backward_gather", groups: groups,
                              poolGeometry(d) + [.int(d.mode == .averageIncludingPadding ? 1 : 0),
                                                 .buffer(dy), .buffer(dx)])
        }
    }

    public func encodeGlobalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try launch("pooling", "global_avg_pool_forward", global: [planes],
                   [.int(planes), .int(spatial), .buffer(x), .buffer(y)])
    }

    public func encodeGlobalAveragePoolBackward(planes: Int, spatial: Int, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try launch("pooling", "global_avg_pool_backward", global: [spatial, planes],
                   [.int(planes), .int(spatial), .buffer(dy), .buffer(dx)])
    }

    public func encodeAdaptiveAveragePoolForward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                                 x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try launch("pooling", "adaptive_avg_pool_forward", global: [outW, outH, planes],
                   [.int(planes), .int(inH), .int(inW), .int(outH), .int(outW), .buffer(x), .buffer(y)])
    }

    public func encodeAdaptiveAveragePoolBackward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                                  dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try launch("pooling", "adaptive_avg_pool_backward_gather", global: [inW, inH, planes],
                   [.int(planes), .int(inH), .int(inW), .int(outH), .int(outW), .buffer(dy), .buffer(dx)])
    }

    /// Work-groups (pixel tiles, planes) for `pixels` per plane.
    private func poolGroups(pixels: Int, planes: Int) -> [Int] {
        let p = memoryBound.values(MemoryBoundTunables.pooling)
        let tile = p["POOL_WG"]! * p["POOL_ITEMS"]!
        return [(pixels + tile - 1) / tile, planes]
    }

    private func launchPooling(_ kernel: String, groups: [Int], _ args: [KernelArgument]) throws {
        try launchMemoryBound("pooling", kernel, MemoryBoundTunables.pooling, sizeName: "POOL_WG", groups: groups, args)
    }

    /// The `POOL_GEOMETRY_ARGS` of pooling.cl, in its order.
    private func poolGeometry(_ d: Pool2DDescriptor) -> [KernelArgument] {
        [.int(d.batch * d.channels), .int(d.inH), .int(d.inW), .int(d.outH), .int(d.outW),
         .int(d.windowH), .int(d.windowW), .int(d.strideH), .int(d.strideW),
         .int(d.padding.top), .int(d.padding.left), .int(d.padding.bottom), .int(d.padding.right)]
    }
}
