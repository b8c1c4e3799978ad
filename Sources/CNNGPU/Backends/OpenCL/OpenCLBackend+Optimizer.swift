import Foundation

/// Optimizer updates from `Kernels/optimizer.cl`, in place, one work-item per parameter.
extension OpenCLBackend: OptimizerOps {
    /// PyTorch's SGD (see `SGDParameters`), with one difference: the momentum buffer starts as
    /// the caller allocated it, zero-filled, not at the first gradient, so the first step is
    /// `v = (1 - dampening)·g` — PyTorch's `v = g` when dampening is 0. Momentum 0 is plain SGD
    /// (`velocity` may be nil, and is ignored otherwise); momentum > 0 without `velocity`, or
    /// Nesterov without momentum or with dampening, is a `CNNError.invalidArgument`.
    public func encodeSGDUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                velocity: (any DeviceBuffer)?) throws {
        if p.momentum > 0, let velocity {
            try launchStreaming("optimizer", "sgd_momentum_update", count: count,
                       [.int(count), .float(p.learningRate), .float(p.momentum), .float(1 - p.dampening),
                        .float(p.weightDecay), .int(p.nesterov ? 1 : 0), .buffer(weights), .buffer(gradients),
                        .buffer(velocity)])
        } else {
            try launchStreaming("optimizer", "sgd_update", count: count,
                       [.int(count), .float(p.learningRate), .float(p.weightDecay), .buffer(weights),
                        .buffer(gradients)])
        }
    }

    /// `p.step` counts updates from 1, this one included (`CNNError.invalidArgument` otherwise);
    /// the bias corrections are computed on the host in Double. `m` and `v` start zero-filled.
    public func encodeAdamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                 m: any DeviceBuffer, v: any DeviceBuffer) throws {
        let c = AdamCoefficients(p)
        try launchStreaming("optimizer", "adam_update", count: count,
                   [.int(count), .float(p.beta1), .float(p.beta2), .float(p.epsilon), .float(c.stepSize),
                    .float(c.invSqrtBias2), .float(c.l2), .float(c.shrink), .buffer(weights), .buffer(gradients),
                    .buffer(m), .buffer(v)])
    }

    /// PyTorch's RMSprop (see `RMSpropParameters`); `square` and `momentum` start zero-filled.
    public func encodeRMSpropUpdate(_ p: RMSpropParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                    square: any DeviceBuffer, momentum: (any DeviceBuffer)?) throws {
        if let momentum {
            try launchStreaming("optimizer", "rmsprop_momentum_update", count: count,
                       [.int(count), .float(p.learningRate), .float(p.alpha), .float(p.epsilon), .float(p.momentum),
                        .float(p.weightDecay), .buffer(weights), .buffer(gradients), .buffer(square), .buffer(momentum)])
        } else {
            try launchStreaming("optimizer", "rmsprop_update", count: count,
                       [.int(count), .float(p.learningRate), .float(p.alpha), .float(p.epsilon), .float(p.weightDecay),
                        .buffer(weights), .buffer(gradients), .buffer(square)])
        }
    }
}
