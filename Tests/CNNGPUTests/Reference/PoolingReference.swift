import CNNGPU

/// Plain Double loops for pooling, written straight from the definitions (padded coordinates,
/// scatter-style backward) so they share no structure with the backends' gathers.
enum PoolingReference {
    /// y and, for max pooling, the flat index ih·inW + iw of each output's first maximum.
    static func forward(_ d: Pool2DDescriptor, _ x: [Double]) -> (y: [Double], indices: [Int32]) {
        var y = [Double](repeating: 0, count: d.outputCount)
        var indices = [Int32](repeating: -1, count: d.outputCount)
        for p in 0..<(d.batch * d.channels) {
            for oh in 0..<d.outH {
                for ow in 0..<d.outW {
                    var best = -Double.infinity, bestIndex = -1, sum = 0.0, real = 0
                    for kh in 0..<d.windowH {
                        for kw in 0..<d.windowW {
                            let ih = oh * d.strideH - d.padding.top + kh
                            let iw = ow * d.strideW - d.padding.left + kw
                            guard ih >= 0, ih < d.inH, iw >= 0, iw < d.inW else { continue }  // padding
                            let v = x[p * d.inH * d.inW + ih * d.inW + iw]
                            real += 1
                            sum += v
                            if bestIndex < 0 || v > best { best = v; bestIndex = ih * d.inW + iw }
                        }
                    }
                    let o = p * d.outH * d.outW + oh * d.outW + ow
                    switch d.mode {
                    case .max:
                        y[o] = best
                        indices[o] = Int32(bestIndex)
                    case .averageIncludingPadding:
                        y[o] = sum / Double(d.windowH * d.windowW)
                    case .averageExcludingPadding:
                        y[o] = sum / Double(real)
                    }
                }
            }
        }
        return (y, indices)
    }

    /// dx: each output's gradient goes to its maximum (max) or is shared over its window (average).
    static func backward(_ d: Pool2DDescriptor, dy: [Double], indices: [Int32]) -> [Double] {
        var dx = [Double](repeating: 0, count: d.inputCount)
        for p in 0..<(d.batch * d.channels) {
            for oh in 0..<d.outH {
                for ow in 0..<d.outW {
                    let o = p * d.outH * d.outW + oh * d.outW + ow
                    if d.mode == .max {
                        dx[p * d.inH * d.inW + Int(indices[o])] += dy[o]
                        continue
                    }
                    var covered: [Int] = []
                    for kh in 0..<d.windowH {
                        for kw in 0..<d.windowW {
                            let ih = oh * d.strideH - d.padding.top + kh
                            let iw = ow * d.strideW - d.padding.left + kw
                            if ih >= 0, ih < d.inH, iw >= 0, iw < d.inW { covered.append(ih * d.inW + iw) }
                        }
                    }
                    let divisor = d.mode == .averageIncludingPadding ? d.windowH * d.windowW : covered.count
                    for i in covered { dx[p * d.inH * d.inW + i] += dy[o] / Double(divisor) }
                }
            }
        }
        return dx
    }

    static func globalAverageForward(planes: Int, spatial: Int, _ x: [Double]) -> [Double] {
        (0..<planes).map { p in x[(p * spatial)..<((p + 1) * spatial)].reduce(0, +) / Double(spatial) }
    }

    static func globalAverageBackward(planes: Int, spatial: Int, _ dy: [Double]) -> [Double] {
        (0..<(planes * spatial)).map { i in dy[i / spatial] / Double(spatial) }
    }

    /// The input pixels of adaptive cell `o` along an axis, as PyTorch defines them:
    /// floor(o·input/output) ..< ceil((o+1)·input/output).
    static func adaptiveWindow(_ o: Int, input: Int, output: Int) -> Range<Int> {
        let start = (Double(o * input) / Double(output)).rounded(.down)
        let end = (Double((o + 1) * input) / Double(output)).rounded(.up)
        return Int(start)..<Int(end)
    }

    static func adaptiveAverageForward(_ s: AdaptiveShape, _ x: [Double]) -> [Double] {
        var y: [Double] = []
        for p in 0..<s.planes {
            for oh in 0..<s.outH {
                for ow in 0..<s.outW {
                    let rows = adaptiveWindow(oh, input: s.inH, output: s.outH)
                    let columns = adaptiveWindow(ow, input: s.inW, output: s.outW)
                    var sum = 0.0
                    for ih in rows {
                        for iw in columns { sum += x[(p * s.inH + ih) * s.inW + iw] }
                    }
                    y.append(sum / Double(rows.count * columns.count))
                }
            }
        }
        return y
    }

    /// dx: each output's gradient shared evenly over its window (scatter).
    static func adaptiveAverageBackward(_ s: AdaptiveShape, dy: [Double]) -> [Double] {
        var dx = [Double](repeating: 0, count: s.inputCount)
        for p in 0..<s.planes {
            for oh in 0..<s.outH {
                for ow in 0..<s.outW {
                    let rows = adaptiveWindow(oh, input: s.inH, output: s.outH)
                    let columns = adaptiveWindow(ow, input: s.inW, output: s.outW)
                    let share = dy[(p * s.outH + oh) * s.outW + ow] / Double(rows.count * columns.count)
                    for ih in rows {
                        for iw in columns { dx[(p * s.inH + ih) * s.inW + iw] += share }
                    }
                }
            }
        }
        return dx
    }
}

/// The sizes of one adaptive average pooling problem.
struct AdaptiveShape: CustomStringConvertible {
    var planes: Int, inH: Int, inW: Int, outH: Int, outW: Int

    var inputCount: Int { planes * inH * inW }
    var outputCount: Int { planes * outH * outW }
    var description: String { "\(planes)×\(inH)×\(inW) → \(outH)×\(outW)" }
}
