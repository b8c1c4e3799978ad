/// Batch normalization (`Kernels/batchnorm.cl`) and LRN (`Kernels/lrn.cl`).
extension OpenCLBackend: NormalizationOps {
    /// The local size of batchnorm.cl's per-channel reductions: its `BN_GROUP_SIZE`.
    static let batchNormGroupSize = 256

    public func batchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                         beta: any DeviceBuffer, y: any DeviceBuffer,
                                         runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                         momentum: Float, epsilon: Float,
                                         savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer) throws {
        try validate.batchNorm("batchnorm_training", shape, full: ["x": x, "y": y],
                               perChannel: ["gamma": gamma, "beta": beta, "runningMean": runningMean,
                                            "runningVar": runningVar, "savedMean": savedMean,
                                            "savedInvStd": savedInvStd],
                               epsilon: epsilon, momentum: momentum)
        try validate.int32Indexable("batchnorm_training", ["elements": shape.count])
        let g = Self.batchNormGroupSize
        try launch("batchnorm", "batchnorm_statistics", global: [shape.axis * g], local: [g],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .float(momentum),
                    .float(epsilon), .buffer(x), .buffer(savedMean), .buffer(savedInvStd),
                    .buffer(runningMean), .buffer(runningVar)])
        try launch("batchnorm", "batchnorm_normalize", global: [shape.inner, shape.outer * shape.axis],
                   [.int(shape.outer * shape.axis), .int(shape.axis), .int(shape.inner), .buffer(x),
                    .buffer(savedMean), .buffer(savedInvStd), .buffer(gamma), .buffer(beta), .buffer(y)])
    }

    public func batchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                          beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                          runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer) throws {
        try validate.batchNorm("batchnorm_inference", shape, full: ["x": x, "y": y],
                               perChannel: ["gamma": gamma, "beta": beta, "runningMean": runningMean,
                                            "runningVar": runningVar],
                               epsilon: epsilon)
        try validate.int32Indexable("batchnorm_inference", ["elements": shape.count])
        try launch("batchnorm", "batchnorm_inference", global: [shape.inner, shape.outer * shape.axis],
                   [.int(shape.outer * shape.axis), .int(shape.axis), .int(shape.inner), .float(epsilon), .buffer(x),
                    .buffer(runningMean), .buffer(runningVar), .buffer(gamma), .buffer(beta), .buffer(y)])
    }

    public func batchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                  gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                  savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                  dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        try validate.batchNorm("batchnorm_backward", shape, full: ["x": x, "dy": dy, "dx": dx],
                               perChannel: ["gamma": gamma, "savedMean": savedMean,
                                            "savedInvStd": savedInvStd, "dGamma": dGamma, "dBeta": dBeta])
        try validate.int32Indexable("batchnorm_backward", ["elements": shape.count])
        let g = Self.batchNormGroupSize
        try launch("batchnorm", "batchnorm_backward_reduce", global: [shape.axis * g], local: [g],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .buffer(x), .buffer(dy),
                    .buffer(savedMean), .buffer(savedInvStd), .buffer(dGamma), .buffer(dBeta)])
        try launch("batchnorm", "batchnorm_backward_data", global: [shape.inner, shape.outer * shape.axis],
                   [.int(shape.outer * shape.axis), .int(shape.axis), .int(shape.inner), .int(shape.outer * shape.inner),
                    .buffer(x), .buffer(dy), .buffer(savedMean), .buffer(savedInvStd), .buffer(gamma),
                    .buffer(dGamma), .buffer(dBeta), .buffer(dx)])
    }

    public func lrnForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                           x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer) throws {
        try validate.lrn(p, batch: batch, channels: channels, spatial: spatial,
                         ["x": x, "y": y, "scale": scale], "lrn")
        try validate.lrnParameters(p, "lrn")
        try validate.int32Indexable("lrn", ["elements": batch * channels * spatial])
        try launch("lrn", "lrn_forward", global: [spatial, batch * channels],
                   [.int(batch * channels), .int(channels), .int(spatial), .int(p.size), .float(p.alpha),
                    .float(p.beta), .float(p.k), .buffer(x), .buffer(y), .buffer(scale)])
    }

    public func lrnBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                            x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer,
                            dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try validate.lrn(p, batch: batch, channels: channels, spatial: spatial,
                         ["x": x, "y": y, "scale": scale, "dy": dy, "dx": dx], "lrn_backward")
        try validate.lrnParameters(p, "lrn_backward")
        try validate.int32Indexable("lrn_backward", ["elements": batch * channels * spatial])
        try launch("lrn", "lrn_backward_gather", global: [spatial, batch * channels],
                   [.int(batch * channels), .int(channels), .int(spatial), .int(p.size), .float(p.alpha),
                    .float(p.beta), .buffer(x), .buffer(y), .buffer(scale), .buffer(dy), .buffer(dx)])
    }
}
