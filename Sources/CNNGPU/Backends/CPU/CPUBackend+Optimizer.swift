/// Optimizer updates on the host, in place, over contiguous chunks of the parameters.
extension CPUBackend: OptimizerOps {
    /// PyTorch's SGD (see `SGDParameters`), with one difference: the momentum buffer starts as
    /// the caller allocated it, zero-filled, not at the first gradient, so the first step is
    /// `v = (1 - dampening)·g` — PyTorch's `v = g` when dampening is 0. Momentum 0 is plain SGD
    /// (`velocity` may be nil, and is ignored otherwise); momentum > 0 without `velocity`, or
    /// Nesterov without momentum or with dampening, is a `CNNError.invalidArgument`.
    public func encodeSGDUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                velocity: (any DeviceBuffer)?) throws {
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
    public func encodeAdamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                                 m: any DeviceBuffer, v: any DeviceBuffer) throws {
        let w = ptr(weights), g = ptr(gradients), mp = ptr(m), vp = ptr(v)
        let step = AdamLanes(p)
        // Eight lanes at a time: the square root and division make Adam compute-bound, and
        // the scalar loop does not vectorize (the buffers might alias, as far as the compiler knows).
        parallelFor(count, grain: 16_384) { range in
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                step.apply(w + i, g + i, mp + i, vp + i, lanes: 8)
                i += 8
            }
            if i < range.upperBound { step.apply(w + i, g + i, mp + i, vp + i, lanes: range.upperBound - i) }
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
            for i in range {
                let gi = g[i] + wd * w[i]
                let si = alpha * s[i] + (1 - alpha) * gi * gi
                s[i] = si
                let step = gi / (si.squareRoot() + eps)
                if let b {
                    b[i] = mu * b[i] + step
                    w[i] -= lr * b[i]
                } else {
                    w[i] -= lr * step
                }
            }
        }
    }
}

/// One Adam update of up to eight parameters, in SIMD registers.
private struct AdamLanes {
    let c: AdamCoefficients
    let beta1: Float, beta2: Float, epsilon: Float

    init(_ p: AdamParameters) {
        c = AdamCoefficients(p)
        beta1 = p.beta1; beta2 = p.beta2; epsilon = p.epsilon
    }

    @inline(__always)
    func apply(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
               _ v: UnsafeMutablePointer<Float>, lanes: Int) {
        let wi = load(w, lanes) * c.shrink
        let gi = load(g, lanes) + c.l2 * wi
        let mi = beta1 * load(m, lanes) + (1 - beta1) * gi
        let vi = beta2 * load(v, lanes) + (1 - beta2) * gi * gi
        store(mi, m, lanes)
        store(vi, v, lanes)
        store(wi - c.stepSize * mi / (vi.squareRoot() * c.invSqrtBias2 + epsilon), w, lanes)
    }

    /// The first `lanes` values at `p`, zero-padded (a partial vector at the end of a chunk).
    @inline(__always)
    private func load(_ p: UnsafeMutablePointer<Float>, _ lanes: Int) -> SIMD8<Float> {
        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        var x = SIMD8<Float>()
        for j in 0..<lanes { x[j] = p[j] }
        return x
    }

    @inline(__always)
    private func store(_ x: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        if lanes == 8 { UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD8<Float>.self); return }
        for j in 0..<lanes { p[j] = x[j] }
    }
}
