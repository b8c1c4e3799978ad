/// Optimizer updates on the host, in place, over contiguous chunks of the parameters.
extension CPUBackend: OptimizerOps {
    /// PyTorch's SGD (see `SGDParameters`), with one difference: the momentum buffer starts as
    /// the caller allocated it, zero-filled, not at the first gradient, so the first step is
    /// `v = (1 - dampening)·g` — PyTorch's `v = g` when dampening is 0. Momentum 0 is plain SGD
    /// (`velocity` may be nil, and is ignored otherwise); momentum > 0 without `velocity`, or
    /// Nesterov without momentum or with dampening, is a `CNNError.invalidArgument`.
    public func sgdUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                          velocity: (any DeviceBuffer)?) throws {
        try validate.sgdUpdate(p, count: count, weights: weights, gradients: gradients, velocity: velocity)
        let w = ptr(weights), g = ptr(gradients)
        let lr = p.learningRate, wd = p.weightDecay
        guard p.momentum > 0, let velocity else {
            parallelFor(count, grain: 16_384) { range in
                for i in range { w[i] -= lr * (g[i] + wd * w[i]) }
            }
            return
        }
        let v = ptr(velocity), momentum = p.momentum, keep = 1 - p.dampening, nesterov = p.nesterov
        parallelFor(count, grain: 16_384) { range in
            for i in range {
                let gi = g[i] + wd * w[i]
                let vi = momentum * v[i] + keep * gi
                v[i] = vi
                w[i] -= lr * (nesterov ? gi + momentum * vi : vi)
            }
        }
    }

    /// `p.step` counts updates from 1, this one included (`CNNError.invalidArgument` otherwise);
    /// the bias corrections are computed on the host in Double. `m` and `v` start zero-filled.
    public func adamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                           m: any DeviceBuffer, v: any DeviceBuffer) throws {
        try validate.adamUpdate(p, count: count, weights: weights, gradients: gradients, m: m, v: v)
        let w = ptr(weights), g = ptr(gradients), mp = ptr(m), vp = ptr(v)
        let c = AdamCoefficients(p)
        let b1 = p.beta1, b2 = p.beta2, eps = p.epsilon
        parallelFor(count, grain: 16_384) { range in
            for i in range {
                let wi = w[i] * c.shrink
                let gi = g[i] + c.l2 * wi
                let mi = b1 * mp[i] + (1 - b1) * gi
                let vi = b2 * vp[i] + (1 - b2) * gi * gi
                mp[i] = mi
                vp[i] = vi
                w[i] = wi - c.stepSize * mi / (vi.squareRoot() * c.invSqrtBias2 + eps)
            }
        }
    }
}
