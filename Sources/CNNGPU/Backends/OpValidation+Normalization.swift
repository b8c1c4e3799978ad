/// Argument checks of batch normalization and LRN (`NormalizationOps`), shared by every backend.
extension OpValidation {
    func batchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                  beta: any DeviceBuffer, y: any DeviceBuffer,
                                  runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                  momentum: Float, epsilon: Float,
                                  savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer) throws {
        try batchNorm("batchnorm_training", shape, full: ["x": x, "y": y],
                      perChannel: ["gamma": gamma, "beta": beta, "runningMean": runningMean,
                                   "runningVar": runningVar, "savedMean": savedMean, "savedInvStd": savedInvStd],
                      epsilon: epsilon, momentum: momentum)
    }

    func batchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                   beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                   runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer) throws {
        try batchNorm("batchnorm_inference", shape, full: ["x": x, "y": y],
                      perChannel: ["gamma": gamma, "beta": beta, "runningMean": runningMean, "runningVar": runningVar],
                      epsilon: epsilon)
    }

    func batchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                           gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                           savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                           dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        try batchNorm("batchnorm_backward", shape, full: ["x": x, "dy": dy, "dx": dx],
                      perChannel: ["gamma": gamma, "savedMean": savedMean, "savedInvStd": savedInvStd,
                                   "dGamma": dGamma, "dBeta": dBeta])
    }

    func batchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                               dy: any DeviceBuffer, gamma: any DeviceBuffer, beta: (any DeviceBuffer)? = nil,
                               savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                               dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        try batchNorm("batchnorm_relu_backward", shape, full: ["x": x, "y": y, "dy": dy, "dx": dx],
                      perChannel: ["gamma": gamma, "savedMean": savedMean, "savedInvStd": savedInvStd,
                                   "dGamma": dGamma, "dBeta": dBeta])
        if let beta { try batchNorm("batchnorm_relu_backward", shape, full: ["x": x], perChannel: ["beta": beta]) }
    }

    func lrnForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                    x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer) throws {
        try lrn(p, batch: batch, channels: channels, spatial: spatial, ["x": x, "y": y, "scale": scale], "lrn")
        try lrnParameters(p, "lrn")
    }

    func lrnBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                     x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer,
                     dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try lrn(p, batch: batch, channels: channels, spatial: spatial,
                ["x": x, "y": y, "scale": scale, "dy": dy, "dx": dx], "lrn_backward")
        try lrnParameters(p, "lrn_backward")
    }

    private func batchNorm(_ op: String, _ s: AxisShape, full: KeyValuePairs<String, any DeviceBuffer>,
                   perChannel: KeyValuePairs<String, any DeviceBuffer>, epsilon: Float? = nil,
                   momentum: Float? = nil) throws {
        try axis(op, s, full: full, perAxis: perChannel)
        if let epsilon, !(epsilon >= 0 && epsilon.isFinite) {
            throw CNNError.invalidArgument("\(op): epsilon must be a finite value ≥ 0, got \(epsilon)")
        }
        if let momentum {
            guard momentum >= 0, momentum <= 1 else {
                throw CNNError.invalidArgument("\(op): momentum must be in [0, 1], got \(momentum)")
            }
            // The unbiased variance of the running statistics divides by M − 1 (as PyTorch,
            // which refuses "more than 1 value per channel" too).
            guard s.outer * s.inner > 1 else {
                throw CNNError.invalidShape(op: op, detail: "training needs more than 1 value per channel, "
                    + "got batch \(s.outer) × \(s.inner) per channel; use a larger batch or inference mode")
            }
        }
    }

    private func lrn(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                     _ buffers: KeyValuePairs<String, any DeviceBuffer>, _ op: String) throws {
        try checkPositive(op, ["batch": batch, "channels": channels, "spatial": spatial, "size": p.size])
        for (name, b) in buffers { try buffer(b, op, name, count: batch * channels * spatial) }
    }

    private func lrnParameters(_ p: LRNParameters, _ op: String) throws {
        guard p.alpha.isFinite, p.beta.isFinite, p.k.isFinite else {
            throw CNNError.invalidArgument("\(op): alpha, beta and k must be finite, got \(p)")
        }
    }
}
