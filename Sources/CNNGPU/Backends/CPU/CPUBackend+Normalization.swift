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
        let m = outer * inner
        let xp = ptr(x), yp = ptr(y), gp = ptr(gamma), bp = ptr(beta)
        let rm = ptr(runningMean), rv = ptr(runningVar), sm = ptr(savedMean), si = ptr(savedInvStd)
        parallelFor(channels, grain: max(1, 16_384 / m)) { range in
            for c in range {
                // Per row: its mean, then Σ(x − row mean)² while the row is still in cache (no
                // cancellation, unlike E[x²] − E[x]²); rows merged by Chan et al.'s formula in
                // Double. One pass over memory for the statistics instead of two.
                var count = 0.0, mean = 0.0, m2 = 0.0
                for n in 0..<outer {
                    let row = xp + (n * channels + c) * inner
                    let rowMean = RowReduction.sum(row, inner) / Double(inner)
                    let rowM2 = RowReduction.squaredDeviations(row, inner, mean: Float(rowMean))
                    // Σ(x − m)² about the float-rounded mean used above, moved to the exact one.
                    let shift = rowMean - Double(Float(rowMean))
                    let rowSquares = rowM2 - Double(inner) * shift * shift
                    let total = count + Double(inner), delta = rowMean - mean
                    mean += delta * Double(inner) / total
                    m2 += rowSquares + delta * delta * count * Double(inner) / total
                    count = total
                }
                let variance = m2 / Double(m)
                let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
                let meanF = Float(mean)
                sm[c] = meanF
                si[c] = invStd
                rm[c] = (1 - momentum) * rm[c] + momentum * meanF
                rv[c] = (1 - momentum) * rv[c] + momentum * Float(variance * Double(m) / Double(m - 1))
                // (x − mean)·a + beta rather than x·a + (beta − mean·a): no cancellation when
                // |mean| ≫ std. ReLU in the same sweep: y is written once.
                let a = gp[c] * invStd, b = bp[c]
                for n in 0..<outer {
                    let o = (n * channels + c) * inner
                    if relu {
                        for i in o..<(o + inner) { let v = (xp[i] - meanF) * a + b; yp[i] = v < 0 ? 0 : v }
                    } else {
                        for i in o..<(o + inner) { yp[i] = (xp[i] - meanF) * a + b }
                    }
                }
            }
        }
    }

    public func encodeBatchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                                beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                                runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer,
                                                relu: Bool) throws {
        let (outer, channels, inner) = (shape.outer, shape.axis, shape.inner)
        let xp = ptr(x), yp = ptr(y), gp = ptr(gamma), bp = ptr(beta), rm = ptr(runningMean), rv = ptr(runningVar)
        // Rows of `inner` elements share one channel's affine map: parallel over (n, c) rows.
        parallelFor(outer * channels, grain: max(1, 16_384 / inner)) { rows in
            for r in rows {
                let c = r % channels
                let a = gp[c] / (rv[c] + epsilon).squareRoot(), b = bp[c], mean = rm[c]
                let o = r * inner
                for i in o..<(o + inner) { yp[i] = (xp[i] - mean) * a + b }
                if relu { Activation.relu.apply(yp + o, yp + o, inner) }
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

    public func encodeBatchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                                            dy: any DeviceBuffer, gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                            savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                            dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        batchNormBackward(shape, x: ptr(x), dy: ptr(dy), reluOutput: ptr(y), gamma: ptr(gamma),
                          savedMean: ptr(savedMean), savedInvStd: ptr(savedInvStd), dx: ptr(dx),
                          dGamma: ptr(dGamma), dBeta: ptr(dBeta))
    }

    /// Batch-norm backward of dy, masked by `reluOutput > 0` when given (batch norm + ReLU).
    /// The masked rows go through a per-worker scratch row, so dy itself is never written.
    private func batchNormBackward(_ shape: AxisShape, x xp: UnsafePointer<Float>, dy dyp: UnsafePointer<Float>,
                                   reluOutput yp: UnsafePointer<Float>?, gamma gp: UnsafePointer<Float>,
                                   savedMean sm: UnsafePointer<Float>, savedInvStd si: UnsafePointer<Float>,
                                   dx dxp: UnsafeMutablePointer<Float>, dGamma dgp: UnsafeMutablePointer<Float>,
                                   dBeta dbp: UnsafeMutablePointer<Float>) {
        let (outer, channels, inner) = (shape.outer, shape.axis, shape.inner)
        let m = Float(outer * inner)
        parallelFor(channels, grain: max(1, 16_384 / (outer * inner))) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: yp == nil ? 0 : inner)
            defer { scratch.deallocate() }
            /// Row `o` of the gradient to use: dy, or dy masked by y > 0 in `scratch`.
            func gradientRow(_ o: Int) -> UnsafePointer<Float> {
                guard let yp else { return dyp + o }
                for i in 0..<inner { let g = dyp[o + i]; scratch[i] = yp[o + i] > 0 ? g : 0 }
                return UnsafePointer(scratch)
            }
            for c in range {
                let mean = sm[c], invStd = si[c]
                var sumDy = 0.0, sumDyCentered = 0.0
                for n in 0..<outer {
                    let o = (n * channels + c) * inner
                    let g = gradientRow(o)
                    sumDy += RowReduction.sum(g, inner)
                    sumDyCentered += RowReduction.productWithDeviations(g, xp + o, inner, mean: mean)
                }
                let db = Float(sumDy), dg = Float(sumDyCentered) * invStd
                dbp[c] = db
                dgp[c] = dg
                // dx = gamma·invStd/M · (M·dy − dBeta − xhat·dGamma) = a·dy + b·(x − mean) + k.
                let scale = gp[c] * invStd / m
                let a = gp[c] * invStd, b = -scale * dg * invStd, k = -scale * db
                for n in 0..<outer {
                    let o = (n * channels + c) * inner
                    let g = gradientRow(o), x = xp + o, out = dxp + o
                    for i in 0..<inner { out[i] = a * g[i] + b * (x[i] - mean) + k }
                }
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
