import CCPUKernels
import Foundation

/// Activations, softmax and maxout on the host. Each loop is a flat pass over contiguous
/// memory split across the workers; the function is chosen outside the loop so that each
/// inner loop is branch-free enough to vectorize.
extension CPUBackend: ActivationOps {
    public func encodeActivationForward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y)
        parallelFor(count, grain: 16_384) { r in f.apply(xp + r.lowerBound, yp + r.lowerBound, r.count) }
    }

    public func encodeActivationBackward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                                         dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y), g = ptr(dy), out = ptr(dx)
        parallelFor(count, grain: 16_384) { r in
            // Every operand is loaded unconditionally: a load inside `? :` keeps LLVM from
            // vectorizing (measured 9× slower for relu).
            switch f {
            case .relu:
                for i in r { let d = g[i]; out[i] = xp[i] > 0 ? d : 0 }
            case .leakyReLU(let alpha):
                for i in r { let d = g[i]; out[i] = xp[i] > 0 ? d : alpha * d }
            case .elu(let alpha):
                // For x ≤ 0, d/dx alpha·(e^x − 1) = alpha·e^x = y + alpha.
                for i in r { let d = g[i], e = d * (yp[i] + alpha); out[i] = xp[i] > 0 ? d : e }
            case .sigmoid:
                for i in r { let s = yp[i]; out[i] = g[i] * s * (1 - s) }
            case .tanh:
                for i in r { let t = yp[i]; out[i] = g[i] * (1 - t * t) }
            }
        }
    }

    public func encodeSoftmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y)
        let axis = shape.axis, inner = shape.inner
        if inner == 1 { return softmaxRowsForward(rows: shape.outer, axis: axis, log: log, xp, yp) }
        forEachRowSegment(shape) { o, i0, w, m, s in
            let base = o * axis * inner + i0
            for j in 0..<w { m[j] = xp[base + j]; s[j] = 0 }
            for a in 1..<max(axis, 1) {
                let p = base + a * inner
                for j in 0..<w { let v = xp[p + j]; if v > m[j] { m[j] = v } }
            }
            if log {
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { s[j] += exp(xp[p + j] - m[j]) }
                }
                for j in 0..<w { m[j] += Foundation.log(s[j]) }
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { yp[p + j] = xp[p + j] - m[j] }
                }
            } else {
                // Each element is read once before it is written, so x may alias y.
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { let e = exp(xp[p + j] - m[j]); yp[p + j] = e; s[j] += e }
                }
                for j in 0..<w { s[j] = 1 / s[j] }
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { yp[p + j] *= s[j] }
                }
            }
        }
    }

    public func encodeSoftmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                                      dx: any DeviceBuffer) throws {
        let yp = ptr(y), g = ptr(dy), out = ptr(dx)
        let axis = shape.axis, inner = shape.inner
        if inner == 1 { return softmaxRowsBackward(rows: shape.outer, axis: axis, log: log, yp, g, out) }
        forEachRowSegment(shape) { o, i0, w, s, _ in
            let base = o * axis * inner + i0
            for j in 0..<w { s[j] = 0 }
            if log {
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { s[j] += g[p + j] }
                }
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { out[p + j] = g[p + j] - exp(yp[p + j]) * s[j] }
                }
            } else {
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { s[j] += g[p + j] * yp[p + j] }
                }
                for a in 0..<axis {
                    let p = base + a * inner
                    for j in 0..<w { out[p + j] = yp[p + j] * (g[p + j] - s[j]) }
                }
            }
        }
    }

    /// Softmax over contiguous rows (inner = 1: classifier outputs), one row at a time:
    /// 2–5× faster than `forEachRowSegment`'s one-row segments (measured on [65536, 10],
    /// [256, 1000] and [16384, 1000]), which is why the general path is not used here. Each
    /// chunk of rows is one call into Sources/CCPUKernels/softmax.c (16-lane exponentials with
    /// AVX-512, AVX2 or baseline code): libm's scalar exp held this loop to 1.2 GB/s, Swift's
    /// baseline-x86 vectors to 5 GB/s.
    private func softmaxRowsForward(rows: Int, axis: Int, log: Bool, _ xp: UnsafeMutablePointer<Float>,
                                    _ yp: UnsafeMutablePointer<Float>) {
        parallelFor(rows, grain: max(1, 16_384 / axis)) { r in
            cnn_softmax_rows(xp + r.lowerBound * axis, yp + r.lowerBound * axis, r.count, axis, log ? 1 : 0)
        }
    }

    private func softmaxRowsBackward(rows: Int, axis: Int, log: Bool, _ yp: UnsafeMutablePointer<Float>,
                                     _ gp: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        parallelFor(rows, grain: max(1, 16_384 / axis)) { r in
            // Softmax's rows run in Sources/CCPUKernels/softmax.c (AVX-512, AVX2 or baseline
            // vectors; Swift's loop here was compiled for SSE2).
            if !log {
                cnn_softmax_rows_backward(yp + r.lowerBound * axis, gp + r.lowerBound * axis,
                                          out + r.lowerBound * axis, r.count, axis)
                return
            }
            for row in r {
                let y = yp + row * axis, g = gp + row * axis, dx = out + row * axis
                // The sum in 16 lanes (RowReduction): a scalar float sum does not vectorize.
                let s = Float(RowReduction.sum(g, axis))
                for a in 0..<axis { dx[a] = g[a] - exp(y[a]) * s }
            }
        }
    }

    /// Splits the `outer·inner` rows of `shape` across the workers and hands `body` runs of
    /// `w` adjacent rows `(o, i0..<i0+w)` with two scratch vectors of at least `w` floats, so
    /// the loops over a run read contiguous memory even when `inner > 1`.
    private func forEachRowSegment(_ shape: AxisShape,
                                   _ body: (_ o: Int, _ i0: Int, _ w: Int, UnsafeMutablePointer<Float>,
                                            UnsafeMutablePointer<Float>) -> Void) {
        let rows = shape.outer * shape.inner, inner = shape.inner
        parallelFor(rows, grain: max(1, 16_384 / shape.axis)) { r in
            let width = min(inner, r.count)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * width)
            defer { scratch.deallocate() }
            var row = r.lowerBound
            while row < r.upperBound {
                let o = row / inner, i0 = row % inner
                let w = min(inner - i0, r.upperBound - row)
                body(o, i0, w, scratch, scratch + width)
                row += w
            }
        }
    }

    public func encodeMaxoutForward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                                    x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y)
        let planes = batch * channels / groupSize   // (n, k) pairs
        parallelFor(planes, grain: max(1, 16_384 / (groupSize * spatial))) { r in
            for nk in r {
                let out = yp + nk * spatial, src = xp + nk * groupSize * spatial
                out.update(from: src, count: spatial)
                for j in 1..<max(groupSize, 1) {
                    let row = src + j * spatial
                    for s in 0..<spatial where row[s] > out[s] { out[s] = row[s] }
                }
            }
        }
    }

    public func encodeMaxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                                     x: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let xp = ptr(x), g = ptr(dy), out = ptr(dx)
        let planes = batch * channels / groupSize
        parallelFor(planes, grain: max(1, 16_384 / (groupSize * spatial))) { r in
            for nk in r {
                let src = xp + nk * groupSize * spatial, dst = out + nk * groupSize * spatial
                for s in 0..<spatial {
                    var arg = 0, best = src[s]
                    for j in 1..<max(groupSize, 1) where src[j * spatial + s] > best {
                        best = src[j * spatial + s]; arg = j
                    }
                    let grad = g[nk * spatial + s]
                    for j in 0..<groupSize { dst[j * spatial + s] = j == arg ? grad : 0 }
                }
            }
        }
    }
}

extension Activation {
    /// dst[i] = f(src[i]) for i < n (dst may be src). The function is chosen outside the loop,
    /// so each loop is one vectorizable sweep; Kernels/activation_function.cl and the blocked C
    /// kernel's epilogue use the same formulas.
    func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case .relu:
            for i in 0..<n { let v = src[i]; dst[i] = v < 0 ? 0 : v }   // NaN stays NaN, as in PyTorch
        case .leakyReLU(let alpha):
            for i in 0..<n { let v = src[i]; dst[i] = v > 0 ? v : alpha * v }
        case .elu(let alpha):
            for i in 0..<n { let v = src[i]; dst[i] = v > 0 ? v : alpha * expm1(v) }
        case .sigmoid:
            for i in 0..<n { dst[i] = 1 / (1 + exp(-src[i])) }
        case .tanh:
            for i in 0..<n { dst[i] = Foundation.tanh(src[i]) }
        }
    }
}

/// A fused convolution epilogue on one output row that was just written (still in cache):
/// row = activation(row + bias).
func convolutionEpilogueRow(_ row: UnsafeMutablePointer<Float>, _ n: Int, bias: Float?, activation: Activation?) {
    if let bias { for i in 0..<n { row[i] += bias } }
    activation?.apply(row, row, n)
}
