import CNNGPU
import Foundation

/// Plain Double loops for batch normalization and LRN, from the definitions.
enum NormalizationReference {
    struct BatchNormTraining {
        var y: [Double], mean: [Double], invStd: [Double], runningMean: [Double], runningVar: [Double]
    }

    /// Index of element (n, c, i) of `[outer, axis, inner]`.
    static func index(_ s: AxisShape, _ n: Int, _ c: Int, _ i: Int) -> Int { (n * s.axis + c) * s.inner + i }

    static func batchNormTraining(_ s: AxisShape, x: [Double], gamma: [Double], beta: [Double],
                                  runningMean: [Double], runningVar: [Double], momentum: Double,
                                  epsilon: Double) -> BatchNormTraining {
        let m = Double(s.outer * s.inner)
        var out = BatchNormTraining(y: [Double](repeating: 0, count: s.count), mean: [], invStd: [],
                                    runningMean: runningMean, runningVar: runningVar)
        for c in 0..<s.axis {
            var values: [Double] = []
            for n in 0..<s.outer { for i in 0..<s.inner { values.append(x[index(s, n, c, i)]) } }
            let mean = values.reduce(0, +) / m
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / m
            let invStd = 1 / (variance + epsilon).squareRoot()
            out.mean.append(mean)
            out.invStd.append(invStd)
            out.runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean
            out.runningVar[c] = (1 - momentum) * runningVar[c] + momentum * variance * m / (m - 1)
            for n in 0..<s.outer {
                for i in 0..<s.inner {
                    let e = index(s, n, c, i)
                    out.y[e] = (x[e] - mean) * invStd * gamma[c] + beta[c]
                }
            }
        }
        return out
    }

    static func batchNormInference(_ s: AxisShape, x: [Double], gamma: [Double], beta: [Double],
                                   runningMean: [Double], runningVar: [Double], epsilon: Double) -> [Double] {
        var y = [Double](repeating: 0, count: s.count)
        for n in 0..<s.outer {
            for c in 0..<s.axis {
                for i in 0..<s.inner {
                    let e = index(s, n, c, i)
                    y[e] = (x[e] - runningMean[c]) / (runningVar[c] + epsilon).squareRoot() * gamma[c] + beta[c]
                }
            }
        }
        return y
    }

    /// The textbook gradients, with the batch statistics recomputed from x.
    static func batchNormBackward(_ s: AxisShape, x: [Double], dy: [Double], gamma: [Double],
                                  epsilon: Double) -> (dx: [Double], dGamma: [Double], dBeta: [Double]) {
        let stats = batchNormTraining(s, x: x, gamma: gamma, beta: gamma.map { _ in 0 },
                                      runningMean: gamma.map { _ in 0 }, runningVar: gamma.map { _ in 1 },
                                      momentum: 0, epsilon: epsilon)
        let m = Double(s.outer * s.inner)
        var dx = [Double](repeating: 0, count: s.count)
        var dGamma = [Double](repeating: 0, count: s.axis), dBeta = [Double](repeating: 0, count: s.axis)
        for c in 0..<s.axis {
            func xhat(_ e: Int) -> Double { (x[e] - stats.mean[c]) * stats.invStd[c] }
            for n in 0..<s.outer {
                for i in 0..<s.inner {
                    let e = index(s, n, c, i)
                    dBeta[c] += dy[e]
                    dGamma[c] += dy[e] * xhat(e)
                }
            }
            for n in 0..<s.outer {
                for i in 0..<s.inner {
                    let e = index(s, n, c, i)
                    dx[e] = gamma[c] * stats.invStd[c] / m * (m * dy[e] - dBeta[c] - xhat(e) * dGamma[c])
                }
            }
        }
        return (dx, dGamma, dBeta)
    }

    /// Σ|dy·xhat| and Σ|dy| per channel: the scale of the rounding error of dGamma and dBeta,
    /// which are sums that can cancel to nearly zero.
    static func batchNormGradientMagnitudes(_ s: AxisShape, x: [Double], dy: [Double],
                                            epsilon: Double) -> (dGamma: [Double], dBeta: [Double]) {
        let stats = batchNormTraining(s, x: x, gamma: [Double](repeating: 1, count: s.axis),
                                      beta: [Double](repeating: 0, count: s.axis),
                                      runningMean: [Double](repeating: 0, count: s.axis),
                                      runningVar: [Double](repeating: 1, count: s.axis), momentum: 0, epsilon: epsilon)
        var dGamma = [Double](repeating: 0, count: s.axis), dBeta = dGamma
        for n in 0..<s.outer {
            for c in 0..<s.axis {
                for i in 0..<s.inner {
                    let e = index(s, n, c, i)
                    dGamma[c] += abs(dy[e] * (x[e] - stats.mean[c]) * stats.invStd[c])
                    dBeta[c] += abs(dy[e])
                }
            }
        }
        return (dGamma, dBeta)
    }

    /// Channels whose squares enter the scale of channel c.
    static func lrnWindow(_ p: LRNParameters, _ c: Int, channels: Int) -> ClosedRange<Int> {
        max(c - p.size / 2, 0)...min(c + (p.size - 1) / 2, channels - 1)
    }

    static func lrnForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                           _ x: [Double]) -> (y: [Double], scale: [Double]) {
        var y = [Double](repeating: 0, count: x.count), scale = y
        for n in 0..<batch {
            for c in 0..<channels {
                for s in 0..<spatial {
                    var squares = 0.0
                    for j in lrnWindow(p, c, channels: channels) {
                        let v = x[(n * channels + j) * spatial + s]
                        squares += v * v
                    }
                    let e = (n * channels + c) * spatial + s
                    scale[e] = Double(p.k) + Double(p.alpha) / Double(p.size) * squares
                    y[e] = x[e] * pow(scale[e], -Double(p.beta))
                }
            }
        }
        return (y, scale)
    }

    /// dx_i = dy_i·scale_i^−β − (2αβ/size)·x_i·Σ_{j : i ∈ window(j)} dy_j·y_j/scale_j.
    static func lrnBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                            x: [Double], dy: [Double]) -> [Double] {
        let (y, scale) = lrnForward(p, batch: batch, channels: channels, spatial: spatial, x)
        let (alpha, beta) = (Double(p.alpha), Double(p.beta))
        var dx = [Double](repeating: 0, count: x.count)
        for n in 0..<batch {
            for c in 0..<channels {
                for s in 0..<spatial {
                    let e = (n * channels + c) * spatial + s
                    var sum = 0.0
                    for j in 0..<channels where lrnWindow(p, j, channels: channels).contains(c) {
                        let f = (n * channels + j) * spatial + s
                        sum += dy[f] * y[f] / scale[f]
                    }
                    dx[e] = dy[e] * pow(scale[e], -beta) - 2 * alpha * beta / Double(p.size) * x[e] * sum
                }
            }
        }
        return dx
    }
}
