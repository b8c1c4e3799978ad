import CCPUKernels
import Foundation

/// Batch normalization (parallel over channels) and LRN (parallel over (n, c) rows) on the host.
/// Inner loops run over the contiguous spatial axis.
extension CPUBackend: NormalizationOps {
    public func encodeBatchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                               beta: any DeviceBuffer, y: any DeviceBuffer,
                                               runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                               momentum: Float, epsilon: Float,
                                               savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                               relu: Bool) throws {
        let (outer, channels, inner) = (shape.outer, shape.axis, shape.inner)
        let m = outer * inner, stride = channels * inner
        let xp = ptr(x), yp = ptr(y), gp = ptr(gamma), bp = ptr(beta)
        let rm = ptr(runningMean), rv = ptr(runningVar), sm = ptr(savedMean), si = ptr(savedInvStd)
        /// Saves channel c's statistics, updates its running ones, returns (mean, γ·invStd).
        func finish(_ c: Int, mean: Double, m2: Double) -> (Float, Float) {
            let variance = m2 / Double(m)
            let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
            let meanF = Float(mean)
            sm[c] = meanF
            si[c] = invStd
            rm[c] = (1 - momentum) * rm[c] + momentum * meanF
            rv[c] = (1 - momentum) * rv[c] + momentum * Float(variance * Double(m) / Double(m - 1))
            return (meanF, gp[c] * invStd)
        }
        if BatchNormChannelRuns.applies(inner: inner) {
            let runs = BatchNormChannelRuns(outer: outer, channels: channels, inner: inner, workers: threads)
            parallelFor(runs.count, grain: 1) { range in
                let s = BatchNormRunScratch(channels: runs.length, inner: inner)
                defer { s.deallocate() }
                for run in range {
                    let cs = runs.channels(ofRun: run), c0 = cs.lowerBound, x = xp + c0 * inner
                    cnn_bn_moments_across(x, outer, stride, inner, cs.count, s.sums, s.squares, s.kernel)
                    for j in 0..<cs.count { (s.mean[j], s.a[j]) = finish(c0 + j, mean: s.sums[j], m2: s.squares[j]) }
                    cnn_bn_normalize_across(x, yp + c0 * inner, outer, stride, inner, cs.count, s.mean, s.a, bp + c0,
                                            relu ? 1 : 0, s.kernel)
                }
            }
            return
        }
        parallelFor(channels, grain: max(1, 16_384 / m)) { range in
            for c in range {
                // Statistics in one pass over memory (cnn_bn_moments), then the normalize sweep,
                // ReLU included so y is written once: the channel's rows are often still in L2.
                let x = xp + c * inner
                var mean = 0.0, m2 = 0.0
                cnn_bn_moments(x, outer, stride, inner, &mean, &m2)
                let (meanF, a) = finish(c, mean: mean, m2: m2)
                cnn_bn_normalize(x, yp + c * inner, outer, stride, inner, meanF, a, bp[c], relu ? 1 : 0)
            }
        }
    }

    public func encodeBatchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                                beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                                runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer,
                                                relu: Bool) throws {
        let (outer, channels, inner) = (shape.outer, shape.axis, shape.inner)
        let xp = ptr(x), yp = ptr(y), gp = ptr(gamma), bp = ptr(beta), rm = ptr(runningMean), rv = ptr(runningVar)
        if BatchNormChannelRuns.applies(inner: inner) {
            let runs = BatchNormChannelRuns(outer: outer, channels: channels, inner: inner, workers: threads)
            parallelFor(runs.count, grain: 1) { range in
                let s = BatchNormRunScratch(channels: runs.length, inner: inner)
                defer { s.deallocate() }
                for run in range {
                    let cs = runs.channels(ofRun: run), c0 = cs.lowerBound
                    for j in 0..<cs.count { s.a[j] = gp[c0 + j] / (rv[c0 + j] + epsilon).squareRoot() }
                    cnn_bn_normalize_across(xp + c0 * inner, yp + c0 * inner, outer, channels * inner, inner, cs.count,
                                            rm + c0, s.a, bp + c0, relu ? 1 : 0, s.kernel)
                }
            }
            return
        }
        // Rows of `inner` elements share one channel's affine map: parallel over (n, c) rows.
        parallelFor(outer * channels, grain: max(1, 16_384 / inner)) { rows in
            for r in rows {
                let c = r % channels
                let a = gp[c] / (rv[c] + epsilon).squareRoot()
                cnn_bn_normalize(xp + r * inner, yp + r * inner, 1, inner, inner, rm[c], a, bp[c], relu ? 1 : 0)
            }
        }
    }

    public func encodeBatchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                        gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                        savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                        dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        batchNormBackward(shape, x: ptr(x), dy: ptr(dy), reluOutput: nil, gamma: ptr(gamma), savedMean: ptr(savedMean),
                          savedInvStd: ptr(savedInvStd), dx: ptr(dx), dGamma: ptr(dGamma), dBeta: ptr(dBeta))
    }

    /// Reads `y` for the mask whether or not β is given: recomputing it would have to repeat the
    /// forward's rounding exactly, which this backend's C loops do not promise.
    public func encodeBatchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                                            dy: any DeviceBuffer, gamma: any DeviceBuffer, beta: (any DeviceBuffer)?,
                                            savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                            dx: any DeviceBuffer, dGamma: any DeviceBuffer,
                                            dBeta: any DeviceBuffer) throws {
        batchNormBackward(shape, x: ptr(x), dy: ptr(dy), reluOutput: ptr(y), gamma: ptr(gamma),
                          savedMean: ptr(savedMean), savedInvStd: ptr(savedInvStd), dx: ptr(dx),
                          dGamma: ptr(dGamma), dBeta: ptr(dBeta))
    }

    /// Batch-norm backward of dy, masked by `reluOutput > 0` when given (batch norm + ReLU): two
    /// passes per channel (or run of channels, for short rows) in Sources/CCPUKernels, the sums,
    /// then dx; the mask is applied on the fly, so dy itself is never written.
    private func batchNormBackward(_ shape: AxisShape, x xp: UnsafePointer<Float>, dy dyp: UnsafePointer<Float>,
                                   reluOutput yp: UnsafePointer<Float>?, gamma gp: UnsafePointer<Float>,
                                   savedMean sm: UnsafePointer<Float>, savedInvStd si: UnsafePointer<Float>,
                                   dx dxp: UnsafeMutablePointer<Float>, dGamma dgp: UnsafeMutablePointer<Float>,
                                   dBeta dbp: UnsafeMutablePointer<Float>) {
        let (outer, channels, inner) = (shape.outer, shape.axis, shape.inner)
        let m = Float(outer * inner), stride = channels * inner
        /// Saves channel c's dBeta and dGamma; returns the coefficients of
        /// dx = gamma·invStd/M · (M·dy − dBeta − xhat·dGamma) = a·dy + b·(x − mean) + k.
        func coefficients(_ c: Int, sumDy: Double, sumDyCentered: Double) -> (Float, Float, Float) {
            let invStd = si[c]
            let db = Float(sumDy), dg = Float(sumDyCentered) * invStd
            dbp[c] = db
            dgp[c] = dg
            let scale = gp[c] * invStd / m
            return (gp[c] * invStd, -scale * dg * invStd, -scale * db)
        }
        if BatchNormChannelRuns.applies(inner: inner) {
            let runs = BatchNormChannelRuns(outer: outer, channels: channels, inner: inner, workers: threads)
            parallelFor(runs.count, grain: 1) { range in
                let s = BatchNormRunScratch(channels: runs.length, inner: inner)
                defer { s.deallocate() }
                for run in range {
                    let cs = runs.channels(ofRun: run), c0 = cs.lowerBound, o = c0 * inner
                    cnn_bn_backward_sums_across(xp + o, yp.map { $0 + o }, dyp + o, outer, stride, inner, cs.count,
                                                sm + c0, s.sums, s.squares, s.kernel)
                    for j in 0..<cs.count {
                        (s.a[j], s.b[j], s.k[j]) = coefficients(c0 + j, sumDy: s.sums[j], sumDyCentered: s.squares[j])
                    }
                    cnn_bn_backward_data_across(xp + o, yp.map { $0 + o }, dyp + o, dxp + o, outer, stride, inner,
                                                cs.count, sm + c0, s.a, s.b, s.k, s.kernel)
                }
            }
            return
        }
        parallelFor(channels, grain: max(1, 16_384 / (outer * inner))) { range in
            for c in range {
                let mean = sm[c], o = c * inner
                var sumDy = 0.0, sumDyCentered = 0.0
                cnn_bn_backward_sums(xp + o, yp.map { $0 + o }, dyp + o, outer, stride, inner, mean, &sumDy,
                                     &sumDyCentered)
                let (a, b, k) = coefficients(c, sumDy: sumDy, sumDyCentered: sumDyCentered)
                cnn_bn_backward_data(xp + o, yp.map { $0 + o }, dyp + o, dxp + o, outer, stride, inner, mean, a, b, k)
            }
        }
    }

    public func encodeLRNForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                                 x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y), sp = ptr(scale)
        let coefficient = p.alpha / Float(p.size)
        parallelFor(batch * channels, grain: max(1, 16_384 / (spatial * p.size))) { rows in
            for r in rows {
                let c = r % channels, plane = r - c  // row (n, 0)
                let lo = max(c - p.size / 2, 0), hi = min(c + (p.size - 1) / 2, channels - 1)
                let out = sp + r * spatial
                out.update(repeating: 0, count: spatial)
                for j in lo...hi {
                    let xj = xp + (plane + j) * spatial
                    for s in 0..<spatial { out[s] += xj[s] * xj[s] }
                }
                let xr = xp + r * spatial, yr = yp + r * spatial
                for s in 0..<spatial {
                    let sc = p.k + coefficient * out[s]
                    out[s] = sc
                    yr[s] = xr[s] * lrnPower(sc, p.beta)
                }
            }
        }
    }

    public func encodeLRNBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                                  x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer,
                                  dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y), sp = ptr(scale), dyp = ptr(dy), dxp = ptr(dx)
        let coefficient = 2 * p.alpha * p.beta / Float(p.size)
        parallelFor(batch * channels, grain: max(1, 16_384 / (spatial * p.size))) { rows in
            // Σ_j dy_j·y_j/scale_j for one row, reused across the rows of this chunk.
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: spatial)
            defer { acc.deallocate() }
            for r in rows {
                let c = r % channels, plane = r - c
                let lo = max(c - (p.size - 1) / 2, 0), hi = min(c + p.size / 2, channels - 1)
                acc.update(repeating: 0, count: spatial)
                for j in lo...hi {
                    let o = (plane + j) * spatial
                    for s in 0..<spatial { acc[s] += dyp[o + s] * yp[o + s] / sp[o + s] }
                }
                let o = r * spatial
                for s in 0..<spatial {
                    dxp[o + s] = dyp[o + s] * lrnPower(sp[o + s], p.beta) - coefficient * xp[o + s] * acc[s]
                }
            }
        }
    }
}

/// scale^−beta, with AlexNet's beta = 0.75 as square roots (several times faster than `powf`).
@inline(__always)
private func lrnPower(_ scale: Float, _ beta: Float) -> Float {
    if beta == 0.75 {
        let root = scale.squareRoot()
        return 1 / (root * root.squareRoot())
    }
    return powf(scale, -beta)
}
