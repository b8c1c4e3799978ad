import CCPUKernels

/// Optimizer updates on the host, in place, over contiguous chunks of the parameters, each
/// chunk one call into Sources/CCPUKernels/optimizer.c (AVX-512, AVX2 or baseline loops).
extension CPUBackend: OptimizerOps {
    /// PyTorch's SGD (see `SGDParameters`), with one difference: the momentum buffer starts as
    /// the caller allocated it, zero-filled, not at the first gradient, so the first step is
    /// `v = (1 - dampening)·g` — PyTorch's `v = g` when dampening is 0. Momentum 0 is plain SGD
    /// (`velocity` may be nil, and is ignored otherwise); momentum > 0 without `velocity`, or
    /// Nesterov without momentum or with dampening, is a `CNNError.invalidArgument`.
    public func encodeSGDUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                velocity: (any DeviceBuffer)?) throws {
        let w = ptr(weights), g = ptr(gradients)
        // Without momentum the velocity is ignored, whatever the caller passed.
        let v = p.momentum > 0 ? velocity.map(ptr) : nil
        let lr = p.learningRate, wd = p.weightDecay, momentum = p.momentum, keep = 1 - p.dampening
        let nesterov: Int32 = p.nesterov ? 1 : 0
        parallelFor(count, grain: 16_384) { range in
            let i = range.lowerBound
            cnn_sgd_update(w + i, g + i, v.map { $0 + i }, range.count, lr, wd, momentum, keep, nesterov)
        }
    }

    /// `p.step` counts updates from 1, this one included (`CNNError.invalidArgument` otherwise);
    /// the bias corrections are computed on the host in Double. `m` and `v` start zero-filled.
    public func encodeAdamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                 m: any DeviceBuffer, v: any DeviceBuffer) throws {
        let w = ptr(weights), g = ptr(gradients), mp = ptr(m), vp = ptr(v)
        let c = AdamCoefficients(p), beta1 = p.beta1, beta2 = p.beta2, epsilon = p.epsilon
        parallelFor(count, grain: 16_384) { range in
            let i = range.lowerBound
            cnn_adam_update(w + i, g + i, mp + i, vp + i, range.count, c.stepSize, c.invSqrtBias2, c.l2, c.shrink,
                            beta1, beta2, epsilon)
        }
    }
}

extension CPUBackend {
    /// PyTorch's RMSprop (see `RMSpropParameters`); `square` and `momentum` start zero-filled.
    public func encodeRMSpropUpdate(_ p: RMSpropParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                    square: any DeviceBuffer, momentum: (any DeviceBuffer)?) throws {
        let w = ptr(weights), g = ptr(gradients), s = ptr(square), b = momentum.map(ptr)
        let lr = p.learningRate, alpha = p.alpha, eps = p.epsilon, mu = p.momentum, wd = p.weightDecay
        parallelFor(count, grain: 16_384) { range in
            let i = range.lowerBound
            cnn_rmsprop_update(w + i, g + i, s + i, b.map { $0 + i }, range.count, lr, alpha, eps, mu, wd)
        }
    }
}
