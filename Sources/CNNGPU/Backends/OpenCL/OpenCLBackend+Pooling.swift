/// Pooling through `Kernels/pooling.cl`. Backward passes are gathers (each work-item sums the
/// outputs covering its own input pixels), so they are deterministic and need no atomics. The 2-D max and average kernels take
/// the pooling family's tunables (MemoryBoundTunables.swift) and are built per geometry: the
/// descriptor's sizes become `-D` constants (`poolSpecialization`), so their window loops unroll.
/// Stride-1 "same" pools go to `pooling_same.cl` (OpenCLBackend+PoolingSame.swift) and average
/// backward where windows tile the input to `pooling_tiled.cl` (OpenCLBackend+PoolingTiled.swift).
extension OpenCLBackend: PoolingOps {
    public func encodePoolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                                     indices: (any DeviceBuffer)?) throws {
        // POOL_VEC consecutive outputs of a row per work-item, in POOL_ROWS rows where
        // POOL_VEC > 1 (the vector forms).
        let p = memoryBound.values(MemoryBoundTunables.pooling)
        let (vector, rows) = (p["POOL_VEC"]!, p["POOL_VEC"]! > 1 ? p["POOL_ROWS"]! : 1)
        let groups = poolGroups(pixels: (d.outH + rows - 1) / rows * ((d.outW + vector - 1) / vector),
                                planes: d.batch * d.channels)
        switch d.mode {
        case .max where samePoolingApplies(d):
            if let indices {
                try launchSameMaxPooling("max_pool_same_forward_indexed", d, [.buffer(x), .buffer(y), .buffer(indices)])
            } else {
                try launchSameMaxPooling("max_pool_same_forward", d, [.buffer(x), .buffer(y)])
            }
        case .max:
            if let indices {
                try launchPooling("max_pool_forward_indexed", d, groups: groups, [.buffer(x), .buffer(y), .buffer(indices)])
            } else {
                try launchPooling("max_pool_forward", d, groups: groups, [.buffer(x), .buffer(y)])
            }
        case .averageIncludingPadding, .averageExcludingPadding:
            if samePoolingApplies(d) {
                try launchSamePooling("avg_pool_same", d, [.buffer(x), .buffer(y)])
            } else {
                try launchPooling("avg_pool_forward", d, groups: groups, [.buffer(x), .buffer(y)])
            }
        }
    }

    public func encodePoolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                                      dx: any DeviceBuffer) throws {
        // One input pixel per work-item at POOL_VEC 1; else POOL_VEC consecutive pixels of a row in
        // each row of POOL_ROWS row groups (the strideH input rows that share their candidate
        // output rows: ih = q·strideH − padTop …, for the q that have any).
        let p = memoryBound.values(MemoryBoundTunables.pooling)
        // Max pooling's gather for 3-wide stride-2 windows (ResNet's stem) has its own width,
        // POOL_MAX_GATHER_VEC, and its own program (-DPOOL_MAX_GATHER=1), in which pooling.cl
        // takes it for POOL_VEC.
        let ownWidth = d.mode == .max && d.windowW == 3 && d.strideW == 2
        let (vector, rows) = (p[ownWidth ? "POOL_MAX_GATHER_VEC" : "POOL_VEC"]!, p["POOL_ROWS"]!)
        // Average pooling whose candidate outputs along a row exceed one vector (pooling.cl's
        // CANDIDATES_W > POOL_VEC, e.g. 3×3/1) keeps one input row per work-item.
        let spanW = (d.windowW - 1) / d.strideW + 1, candidates = (vector - 1 + d.strideW - 1) / d.strideW + spanW
        let rowGroups = (d.inH - 1 + d.padding.top) / d.strideH - d.padding.top / d.strideH + 1
        let perRow = d.mode != .max && candidates > vector
        let pixels = vector == 1 ? d.inH * d.inW
            : (perRow ? d.inH : (rowGroups + rows - 1) / rows) * ((d.inW + vector - 1) / vector)
        let groups = poolGroups(pixels: pixels, planes: d.batch * d.channels)
        switch d.mode {
        case .max where samePoolingApplies(d):
            try launchSameMaxPooling("max_pool_same_backward", d, [.buffer(dy), .buffer(indices!), .buffer(dx)])
        case .max:
            // `checks.poolingBackward` has thrown if max pooling came without indices.
            try launchPooling("max_pool_backward_gather", d, groups: groups, [.buffer(dy), .buffer(indices!), .buffer(dx)],
                              ownWidth: ownWidth)
        case _ where tiledPoolingApplies(d):
            try launchTiledAverageBackward(d, dy: dy, dx: dx)
        case .averageIncludingPadding where samePoolingApplies(d):
            // Every window counts WINDOW_H·WINDOW_W positions, and a pixel's covering outputs
            // are its own window: the backward pass is the forward pass of dy.
            try launchSamePooling("avg_pool_same", d, [.buffer(dy), .buffer(dx)])
        case .averageIncludingPadding, .averageExcludingPadding:
            try launchPooling("avg_pool_backward_gather", d, groups: groups, [.buffer(dy), .buffer(dx)])
        }
    }

    public func encodeGlobalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        // Small planes: groups of them staged in local memory, one work-item summing each (a
        // work-group per 49-pixel plane spent the time starting groups). Large planes: one
        // work-group reduces each (no work-item walks a plane alone).
        let wg = memoryBound.values(MemoryBoundTunables.pooling)["POOL_WG"]!
        if spatial <= Self.stagedPlaneLimit {
            let perGroup = min(wg, Self.stagedTileFloats / spatial)
            try launchMemoryBound("pooling", "global_avg_pool_forward_staged", MemoryBoundTunables.pooling,
                                  sizeName: "POOL_WG", groups: [(planes + perGroup - 1) / perGroup],
                                  specialization: "-DPOOL_GAP_SPATIAL=\(spatial) -DPOOL_GAP_PLANES=\(perGroup)",
                                  [.int(planes), .buffer(x), .buffer(y)])
        } else {
            try launchMemoryBound("pooling", "global_avg_pool_forward", MemoryBoundTunables.pooling, sizeName: "POOL_WG",
                                  groups: [planes], [.int(planes), .int(spatial), .buffer(x), .buffer(y)])
        }
    }

    public func encodeGlobalAveragePoolBackward(planes: Int, spatial: Int, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let p = memoryBound.values(MemoryBoundTunables.pooling)
        let (wg, vector) = (p["POOL_WG"]!, p["POOL_VEC"]!)
        let args: [KernelArgument] = [.int(planes), .buffer(dy), .buffer(dx)]
        let specialization = "-DPOOL_GAP_SPATIAL=\(spatial)"
        if vector > 1 && spatial <= Self.stagedPlaneLimit {
            // CPU devices, small planes: one plane per work-item, vector stores along it.
            try launchMemoryBound("pooling", "global_avg_pool_backward_planes", MemoryBoundTunables.pooling,
                                  sizeName: "POOL_WG", groups: [(planes + wg - 1) / wg], specialization: specialization, args)
        } else {
            // POOL_VEC consecutive floats of the flattened planes per work-item.
            try launchMemoryBound("pooling", "global_avg_pool_backward", MemoryBoundTunables.pooling, sizeName: "POOL_WG",
                                  groups: [(planes * spatial + wg * vector - 1) / (wg * vector)],
                                  specialization: specialization, args)
        }
    }

    /// Global average pooling stages groups of planes of up to this many pixels (16², above
    /// ResNet's and GoogLeNet's 7² heads) in local memory; larger planes fill a work-group alone.
    static let stagedPlaneLimit = 256
    /// Local-memory floats of one staged group: 16 KiB, within every OpenCL device's 32 KiB minimum.
    static let stagedTileFloats = 4096

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

    private func launchPooling(_ kernel: String, _ d: Pool2DDescriptor, groups: [Int], _ args: [KernelArgument],
                               ownWidth: Bool = false) throws {
        try launchMemoryBound("pooling", kernel, MemoryBoundTunables.pooling, sizeName: "POOL_WG", groups: groups,
                              specialization: poolSpecialization(d) + (ownWidth ? " -DPOOL_MAX_GATHER=1" : ""), args)
    }

    /// The geometry `-D` constants of pooling.cl. The batch is not among them: planes are the
    /// range's second dimension, so one program serves every batch size.
    func poolSpecialization(_ d: Pool2DDescriptor) -> String {
        let values = [("IN_H", d.inH), ("IN_W", d.inW), ("OUT_H", d.outH), ("OUT_W", d.outW),
                      ("WINDOW_H", d.windowH), ("WINDOW_W", d.windowW), ("STRIDE_H", d.strideH), ("STRIDE_W", d.strideW),
                      ("PAD_TOP", d.padding.top), ("PAD_LEFT", d.padding.left), ("PAD_BOTTOM", d.padding.bottom),
                      ("PAD_RIGHT", d.padding.right), ("DIVISOR", d.mode == .averageExcludingPadding ? 0 : 1),
                      ("MASK_NON_POSITIVE", d.masksNonPositiveWinners ? 1 : 0)]
        return values.map { "-DPOOL_\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
