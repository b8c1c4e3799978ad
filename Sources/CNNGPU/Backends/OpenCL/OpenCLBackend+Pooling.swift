/// Pooling through `Kernels/pooling.cl`. Backward passes are gathers (one work-item per input
/// pixel), so they are deterministic and need no atomics.
extension OpenCLBackend: PoolingOps {
    public func encodePoolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                                     indices: (any DeviceBuffer)?) throws {
        let global = [d.outW, d.outH, d.batch * d.channels]
        switch d.mode {
        case .max:
            if let indices {
                try launch("pooling", "max_pool_forward_indexed", global: global,
                           poolGeometry(d) + [.buffer(x), .buffer(y), .buffer(indices)])
            } else {
                try launch("pooling", "max_pool_forward", global: global,
                           poolGeometry(d) + [.buffer(x), .buffer(y)])
            }
        case .averageIncludingPadding, .averageExcludingPadding:
            try launch("pooling", "avg_pool_forward", global: global,
                       poolGeometry(d) + [.int(d.mode == .averageIncludingPadding ? 1 : 0),
                                          .buffer(x), .buffer(y)])
        }
    }

    public func encodePoolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                                      dx: any DeviceBuffer) throws {
        let global = [d.inW, d.inH, d.batch * d.channels]
        switch d.mode {
        case .max:
            // `checks.poolingBackward` has thrown if max pooling came without indices.
            try launch("pooling", "max_pool_backward_gather", global: global,
                       poolGeometry(d) + [.buffer(dy), .buffer(indices!), .buffer(dx)])
        case .averageIncludingPadding, .averageExcludingPadding:
            try launch("pooling", "avg_pool_backward_gather", global: global,
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

    /// The `POOL_GEOMETRY_ARGS` of pooling.cl, in its order.
    private func poolGeometry(_ d: Pool2DDescriptor) -> [KernelArgument] {
        [.int(d.batch * d.channels), .int(d.inH), .int(d.inW), .int(d.outH), .int(d.outW),
         .int(d.windowH), .int(d.windowW), .int(d.strideH), .int(d.strideW),
         .int(d.padding.top), .int(d.padding.left), .int(d.padding.bottom), .int(d.padding.right)]
    }
}
