import CNNGPU
import Foundation

/// Plain Double loops for the activation family, written from the definitions, for tests only.
enum ActivationReference {
    static func forward(_ f: Activation, _ x: [Double]) -> [Double] {
        x.map { v in
            switch f {
            case .relu: return max(v, 0)
            case .leakyReLU(let a): return v > 0 ? v : Double(a) * v
            case .elu(let a): return v > 0 ? v : Double(a) * (Foundation.exp(v) - 1)
            case .sigmoid: return 1 / (1 + Foundation.exp(-v))
            case .tanh: return Foundation.tanh(v)
            }
        }
    }

    /// dx from the analytic derivative at x.
    static func backward(_ f: Activation, x: [Double], dy: [Double]) -> [Double] {
        zip(x, dy).map { v, g in
            switch f {
            case .relu: return v > 0 ? g : 0
            case .leakyReLU(let a): return v > 0 ? g : Double(a) * g
            case .elu(let a): return v > 0 ? g : g * Double(a) * Foundation.exp(v)
            case .sigmoid: let s = 1 / (1 + Foundation.exp(-v)); return g * s * (1 - s)
            case .tanh: let t = Foundation.tanh(v); return g * (1 - t * t)
            }
        }
    }

    /// Index of element (o, a, i) in an [outer, axis, inner] tensor.
    static func index(_ s: AxisShape, _ o: Int, _ a: Int, _ i: Int) -> Int { (o * s.axis + a) * s.inner + i }

    /// Softmax (or log-softmax) along the axis, from the definition with the row maximum
    /// subtracted (exact zeros for a one-element axis, no overflow for large logits).
    static func softmax(_ s: AxisShape, log: Bool, _ x: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for o in 0..<s.outer {
            for i in 0..<s.inner {
                var m = -Double.infinity
                for a in 0..<s.axis { m = max(m, x[index(s, o, a, i)]) }
                var sum = 0.0
                for a in 0..<s.axis { sum += Foundation.exp(x[index(s, o, a, i)] - m) }
                for a in 0..<s.axis {
                    let k = index(s, o, a, i)
                    y[k] = log ? (x[k] - m) - Foundation.log(sum) : Foundation.exp(x[k] - m) / sum
                }
            }
        }
        return y
    }

    /// dx = Jᵀ·dy with the full Jacobian of softmax (or log-softmax) at x.
    static func softmaxBackward(_ s: AxisShape, log: Bool, x: [Double], dy: [Double]) -> [Double] {
        let p = softmax(s, log: false, x)
        var dx = [Double](repeating: 0, count: x.count)
        for o in 0..<s.outer {
            for i in 0..<s.inner {
                for a in 0..<s.axis {          // input element
                    var total = 0.0
                    for b in 0..<s.axis {      // output element
                        let kb = index(s, o, b, i), ka = index(s, o, a, i)
                        let delta = a == b ? 1.0 : 0.0
                        // d y_b / d x_a
                        let jac = log ? delta - p[ka] : p[kb] * (delta - p[ka])
                        total += dy[kb] * jac
                    }
                    dx[index(s, o, a, i)] = total
                }
            }
        }
        return dx
    }

    static func maxout(batch: Int, channels: Int, groupSize: Int, spatial: Int, _ x: [Double]) -> [Double] {
        let groups = channels / groupSize
        var y = [Double](repeating: 0, count: batch * groups * spatial)
        for n in 0..<batch {
            for k in 0..<groups {
                for s in 0..<spatial {
                    var best = -Double.infinity
                    for j in 0..<groupSize { best = max(best, x[(n * channels + k * groupSize + j) * spatial + s]) }
                    y[(n * groups + k) * spatial + s] = best
                }
            }
        }
        return y
    }

    /// dy goes to the first maximum of each group.
    static func maxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                               x: [Double], dy: [Double]) -> [Double] {
        let groups = channels / groupSize
        var dx = [Double](repeating: 0, count: x.count)
        for n in 0..<batch {
            for k in 0..<groups {
                for s in 0..<spatial {
                    var arg = 0
                    for j in 0..<groupSize {
                        let c = k * groupSize
                        if x[(n * channels + c + j) * spatial + s] > x[(n * channels + c + arg) * spatial + s] { arg = j }
                    }
                    dx[(n * channels + k * groupSize + arg) * spatial + s] = dy[(n * groups + k) * spatial + s]
                }
            }
        }
        return dx
    }
}

/// Dropout's mask from its specification, independent of the library's `CounterRandom`.
enum DropoutReference {
    /// The `index + 1`-th output of SplitMix64 seeded with `seed`.
    static func splitMix64(seed: UInt64, index: Int) -> UInt64 {
        var z = seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func mask(count: Int, probability: Float, seed: UInt64) -> [Float] {
        let keep: Float = 1 / (1 - probability)
        return (0..<count).map { i in
            let u = Double(splitMix64(seed: seed, index: i) >> 40) / 16_777_216
            return u >= Double(probability) ? keep : 0
        }
    }
}
