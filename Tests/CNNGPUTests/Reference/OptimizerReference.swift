import CNNGPU
import Foundation

/// The optimizers as PyTorch's documentation writes them, one step at a time in Double.
enum OptimizerReference {
    /// torch.optim.SGD with the momentum buffer starting at zero (not at the first gradient).
    static func sgdStep(_ p: SGDParameters, weights w: inout [Double], gradients: [Double], velocity v: inout [Double]) {
        let lr = Double(p.learningRate), momentum = Double(p.momentum)
        let dampening = Double(p.dampening), wd = Double(p.weightDecay)
        for i in w.indices {
            var g = gradients[i] + wd * w[i]
            if momentum != 0 {
                v[i] = momentum * v[i] + (1 - dampening) * g
                g = p.nesterov ? g + momentum * v[i] : v[i]
            }
            w[i] -= lr * g
        }
    }

    /// torch.optim.Adam (or AdamW when decoupled), step `p.step` (1-based).
    static func adamStep(_ p: AdamParameters, weights w: inout [Double], gradients: [Double],
                         m: inout [Double], v: inout [Double]) {
        let lr = Double(p.learningRate), b1 = Double(p.beta1), b2 = Double(p.beta2)
        let eps = Double(p.epsilon), wd = Double(p.weightDecay), t = Double(p.step)
        for i in w.indices {
            var g = gradients[i]
            if p.decoupledWeightDecay { w[i] -= lr * wd * w[i] } else { g += wd * w[i] }
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            let mHat = m[i] / (1 - pow(b1, t))
            let vHat = v[i] / (1 - pow(b2, t))
            w[i] -= lr * mHat / (vHat.squareRoot() + eps)
        }
    }
}
