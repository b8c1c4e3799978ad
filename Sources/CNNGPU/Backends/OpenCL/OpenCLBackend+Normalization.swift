/// Batch normalization (`Kernels/batchnorm.cl`) and LRN (`Kernels/lrn.cl`).
extension OpenCLBackend: NormalizationOps {
    public func encodeBatchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                               beta: any DeviceBuffer, y: any DeviceBuffer,
                                               runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                               momentum: Float, epsilon: Float,
                                               savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                               relu: Bool) throws {
        if memoryBound.values(MemoryBoundTunables.batchNorm)["BN_FUSED_FORWARD"] == 1 {
            // One work-group per channel: statistics, then normalize (batchnorm.cl).
            return try launchBatchNorm("batchnorm_forward_channel", reduction: true, groups: [shape.axis],
                                       [.int(shape.outer), .int(shape.axis), .int(shape.inner), .float(momentum),
                                        .float(epsilon), .buffer(x), .buffer(gamma), .buffer(beta), .buffer(y),
                                        .buffer(savedMean), .buffer(savedInvStd), .buffer(runningMean),
                                        .buffer(runningVar), .int(relu ? 1 : 0)])
        }
        let rows = shape.outer * shape.axis, tiles = batchNormTiles(shape.inner, reduction: true)
        let slots = rows * tiles * batchNormReductionGroup
        try OpenCLScratch.using(self) { scratch in
            let partialMean = try scratch.buffer("batchnorm.partialA", count: slots)
            let partialM2 = try scratch.buffer("batchnorm.partialB", count: slots)
            try launchBatchNorm("batchnorm_partial_statistics", reduction: true, groups: [tiles, rows],
                                [.int(shape.inner), .buffer(x), .buffer(partialMean), .buffer(partialM2)])
            try launchBatchNorm("batchnorm_combine_statistics", reduction: true, groups: [shape.axis],
                                [.int(shape.outer), .int(shape.axis), .int(shape.inner), .int(tiles),
                                 .float(momentum), .float(epsilon), .buffer(partialMean), .buffer(partialM2),
                                 .buffer(savedMean), .buffer(savedInvStd), .buffer(runningMean), .buffer(runningVar)])
        }
        try launchBatchNorm("batchnorm_normalize", groups: [batchNormTiles(shape.inner), rows],
                            [.int(shape.axis), .int(shape.inner), .buffer(x), .buffer(savedMean), .buffer(savedInvStd),
                             .buffer(gamma), .buffer(beta), .buffer(y), .int(relu ? 1 : 0)])
    }

    public func encodeBatchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                                beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                                runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer,
                                                relu: Bool) throws {
        try launchBatchNorm("batchnorm_inference", groups: [batchNormTiles(shape.inner), shape.outer * shape.axis],
                            [.int(shape.axis), .int(shape.inner), .float(epsilon), .buffer(x), .buffer(runningMean),
                             .buffer(runningVar), .buffer(gamma), .buffer(beta), .buffer(y), .int(relu ? 1 : 0)])
    }

    public func encodeBatchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                        gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                        savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                        dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        try batchNormBackwardKernels(shape, x: x, dy: dy, mask: .none, gamma: gamma, savedMean: savedMean,
                                     savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
    }

    /// Given β, recomputes the ReLU mask from x (batchnorm.cl's bn_affine, the forward's own
    /// expression, so the same bits as y > 0): y is never read, 5 floats move per element
    /// instead of 7.
    public func encodeBatchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                                            dy: any DeviceBuffer, gamma: any DeviceBuffer, beta: (any DeviceBuffer)?,
                                            savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                            dx: any DeviceBuffer, dGamma: any DeviceBuffer,
                                            dBeta: any DeviceBuffer) throws {
        try batchNormBackwardKernels(shape, x: x, dy: dy, mask: beta.map { .recomputed(beta: $0) } ?? .forwardOutput(y),
                                     gamma: gamma, savedMean: savedMean, savedInvStd: savedInvStd, dx: dx,
                                     dGamma: dGamma, dBeta: dBeta)
    }

    /// Where the backward's fused-ReLU mask comes from (batchnorm.cl's `relu` argument, 0, 1, 2).
    private enum BatchNormReLUMask {
        case none
        case forwardOutput(any DeviceBuffer)
        case recomputed(beta: any DeviceBuffer)
    }

    /// Batch-norm backward of `dy`, masked as `mask` says.
    private func batchNormBackwardKernels(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                          mask: BatchNormReLUMask, gamma: any DeviceBuffer,
                                          savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                          dx: any DeviceBuffer, dGamma: any DeviceBuffer,
                                          dBeta: any DeviceBuffer) throws {
        // (relu, y, beta); the kernels never read an argument their mode does not use, so dy and
        // gamma stand in for those.
        let (mode, y, beta): (Int, any DeviceBuffer, any DeviceBuffer) = switch mask {
        case .none: (0, dy, gamma)
        case .forwardOutput(let y): (1, y, gamma)
        case .recomputed(let beta): (2, dy, beta)
        }
        let rows = shape.outer * shape.axis, tiles = batchNormTiles(shape.inner, reduction: true)
        let slots = rows * tiles * batchNormReductionGroup
        try OpenCLScratch.using(self) { scratch in
            let partialDy = try scratch.buffer("batchnorm.partialA", count: slots)
            let partialDyCentered = try scratch.buffer("batchnorm.partialB", count: slots)
            try launchBatchNorm("batchnorm_backward_partial", reduction: true, groups: [tiles, rows],
                                [.int(shape.axis), .int(shape.inner), .buffer(x), .buffer(dy), .buffer(savedMean),
                                 .buffer(savedInvStd), .buffer(gamma), .buffer(beta), .int(mode), .buffer(y),
                                 .buffer(partialDy), .buffer(partialDyCentered)])
            try launchBatchNorm("batchnorm_backward_combine", reduction: true, groups: [shape.axis],
                                [.int(shape.outer), .int(shape.axis), .int(tiles), .buffer(partialDy),
                                 .buffer(partialDyCentered), .buffer(savedInvStd), .buffer(dGamma), .buffer(dBeta)])
        }
        try launchBatchNorm("batchnorm_backward_data", groups: [batchNormTiles(shape.inner), rows],
                            [.int(shape.axis), .int(shape.inner), .int(shape.outer * shape.inner), .buffer(x),
                             .buffer(dy), .buffer(savedMean), .buffer(savedInvStd), .buffer(gamma), .buffer(beta),
                             .buffer(dGamma), .buffer(dBeta), .buffer(dx), .int(mode), .buffer(y)])
    }

    /// Tiles along a row of `inner` floats: batchnorm.cl's BN_WG·BN_VEC·BN_ITEMS floats, or
    /// BN_REDUCE_WG·BN_VEC·BN_REDUCE_ITEMS for the reductions.
    private func batchNormTiles(_ inner: Int, reduction: Bool = false) -> Int {
        let p = memoryBound.values(MemoryBoundTunables.batchNorm)
        let tile = reduction ? p["BN_REDUCE_WG"]! * p["BN_VEC"]! * p["BN_REDUCE_ITEMS"]!
                             : p["BN_WG"]! * p["BN_VEC"]! * p["BN_ITEMS"]!
        return (inner + tile - 1) / tile
    }

    /// BN_REDUCE_WG: the reductions' first passes write one partial per work-item.
    private var batchNormReductionGroup: Int { memoryBound.values(MemoryBoundTunables.batchNorm)["BN_REDUCE_WG"]! }

    private func launchBatchNorm(_ kernel: String, reduction: Bool = false, groups: [Int],
                                 _ args: [KernelArgument]) throws {
        try launchMemoryBound("batchnorm", kernel, MemoryBoundTunables.batchNorm,
                              sizeName: reduction ? "BN_REDUCE_WG" : "BN_WG", groups: groups, args)
    }

    public func encodeLRNForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                                 x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer) throws {
        try launch("lrn", "lrn_forward", global: [spatial, batch * channels],
                   [.int(batch * channels), .int(channels), .int(spatial), .int(p.size), .float(p.alpha),
                    .float(p.beta), .float(p.k), .buffer(x), .buffer(y), .buffer(scale)])
    }

    public func encodeLRNBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                                  x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer,
                                  dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try launch("lrn", "lrn_backward_gather", global: [spatial, batch * channels],
                   [.int(batch * channels), .int(channels), .int(spatial), .int(p.size), .float(p.alpha),
                    .float(p.beta), .buffer(x), .buffer(y), .buffer(scale), .buffer(dy), .buffer(dx)])
    }
}
