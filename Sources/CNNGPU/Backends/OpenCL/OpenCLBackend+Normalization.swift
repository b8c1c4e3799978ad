/// Batch normalization (`Kernels/batchnorm.cl`) and LRN (`Kernels/lrn.cl`).
extension OpenCLBackend: NormalizationOps {
    /// The local size of batchnorm.cl's per-channel reductions: its `BN_GROUP_SIZE`.
    static let batchNormGroupSize = 256

    public func encodeBatchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                               beta: any DeviceBuffer, y: any DeviceBuffer,
                                               runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                               momentum: Float, epsilon: Float,
                                               savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                               relu: Bool) throws {
        let g = Self.batchNormGroupSize
        try launch("batchnorm", "batchnorm_statistics", global: [shape.axis * g], local: [g],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .float(momentum),
                    .float(epsilon), .buffer(x), .buffer(savedMean), .buffer(savedInvStd),
                    .buffer(runningMean), .buffer(runningVar)])
        try launch("batchnorm", "batchnorm_normalize", global: [shape.inner, shape.outer * shape.axis],
                   [.int(shape.outer * shape.axis), .int(shape.axis), .int(shape.inner), .buffer(x),
                    .buffer(savedMean), .buffer(savedInvStd), .buffer(gamma), .buffer(beta), .buffer(y),
                    .int(relu ? 1 : 0)])
    }

    public func encodeBatchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                                beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                                runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer,
                                                relu: Bool) throws {
        try launch("batchnorm", "batchnorm_inference", global: [shape.inner, shape.outer * shape.axis],
                   [.int(shape.outer * shape.axis), .int(shape.axis), .int(shape.inner), .float(epsilon), .buffer(x),
                    .buffer(runningMean), .buffer(runningVar), .buffer(gamma), .buffer(beta), .buffer(y),
                    .int(relu ? 1 : 0)])
    }

    public func encodeBatchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                        gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                        savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                        dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        // Without the ReLU the kernels never read y: dy stands in.
        try batchNormBackwardKernels(shape, x: x, dy: dy, reluOutput: nil, gamma: gamma, savedMean: savedMean,
                              savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
    }

    public func encodeBatchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                                            dy: any DeviceBuffer, gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                            savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                            dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        try batchNormBackwardKernels(shape, x: x, dy: dy, reluOutput: y, gamma: gamma, savedMean: savedMean,
                              savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
    }

    /// Batch-norm backward of `dy`, masked by `reluOutput > 0` when given.
    private func batchNormBackwardKernels(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                   reluOutput: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                                   savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                   dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        let relu: [KernelArgument] = [.int(reluOutput == nil ? 0 : 1), .buffer(reluOutput ?? dy)]
        let g = Self.batchNormGroupSize
        try launch("batchnorm", "batchnorm_backward_reduce", global: [shape.axis * g], local: [g],
                   [.int(shape.outer), .int(shape.axis), .int(shape.inner), .buffer(x), .buffer(dy),
                    .buffer(savedMean), .buffer(savedInvStd), .buffer(dGamma), .buffer(dBeta)] + relu)
        try launch("batchnorm", "batchnorm_backward_data", global: [shape.inner, shape.outer * shape.axis],
                   [.int(shape.outer * shape.axis), .int(shape.axis), .int(shape.inner), .int(shape.outer * shape.inner),
                    .buffer(x), .buffer(dy), .buffer(savedMean), .buffer(savedInvStd), .buffer(gamma),
                    .buffer(dGamma), .buffer(dBeta), .buffer(dx)] + relu)
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
