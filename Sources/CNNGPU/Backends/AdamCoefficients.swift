import Foundation

/// The per-step scalars of an Adam update, computed once on the host in Double so that
/// `beta^step` stays accurate for large step counts, and shared by every backend:
/// `w = w·shrink; g' = g + l2·w; …; w -= stepSize · m / (sqrt(v)·invSqrtBias2 + epsilon)`,
/// which is PyTorch's `w -= lr · m̂ / (sqrt(v̂) + epsilon)` with `m̂ = m/(1 - beta1^t)`,
/// `v̂ = v/(1 - beta2^t)`.
struct AdamCoefficients {
    /// lr / (1 - beta1^step).
    let stepSize: Float
    /// 1 / sqrt(1 - beta2^step).
    let invSqrtBias2: Float
    /// Adam's L2 weight decay, added to the gradient (0 for AdamW).
    let l2: Float
    /// AdamW's decoupled decay, 1 - lr·weightDecay, applied to the weights first (1 for Adam).
    let shrink: Float

    init(_ p: AdamParameters) {
        let t = Double(p.step)
        let bias1 = 1 - pow(Double(p.beta1), t)
        let bias2 = 1 - pow(Double(p.beta2), t)
        stepSize = Float(Double(p.learningRate) / bias1)
        invSqrtBias2 = Float(1 / bias2.squareRoot())
        l2 = p.decoupledWeightDecay ? 0 : p.weightDecay
        shrink = p.decoupledWeightDecay ? Float(1 - Double(p.learningRate) * Double(p.weightDecay)) : 1
    }
}
