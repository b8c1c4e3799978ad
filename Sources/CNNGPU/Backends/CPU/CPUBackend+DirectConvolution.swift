/// Direct convolution along rows, the CPU twin of `conv_direct_*` in Kernels/convolution.cl:
/// each task owns one output row (input row, weight), and the inner loops run along
/// contiguous memory so the compiler vectorizes them. No workspace, no atomics, fixed order.
extension CPUBackend {
    /// y = activation(conv + bias), the epilogue applied to each row as soon as it is complete.
    func directForward(_ d: Conv2DDescriptor, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, activation: Activation?, y: UnsafeMutablePointer<Float>) {
        let (c, h, w, o, outH, outW) = (d.inChannels, d.inH, d.inW, d.outChannels, d.outH, d.outW)
        let (kh, kw, cg, og) = (d.kernelH, d.kernelW, d.groupInChannels, d.groupOutChannels)
        let (sh, sw) = (d.strideH, d.strideW)
        let taps = cg * kh * kw
        parallelFor(d.batch * o * outH, grain: max(1, 8192 / (outW * taps))) { rows in
            for t in rows {   // t = (n·O + oc)·outH + oh
                let (no, oh) = t.quotientAndRemainder(dividingBy: outH)
                let (n, oc) = no.quotientAndRemainder(dividingBy: o)
                let image = x + (n * c + oc / og * cg) * h * w
                let filter = weight + oc * taps
                let out = y + t * outW
                out.update(repeating: 0, count: outW)
                for j in 0..<kw {
                    let cols = d.validColumns(kernelColumn: j)
                    guard !cols.isEmpty else { continue }
                    let off = j * d.dilationW - d.padding.left
                    for ci in 0..<cg {
                        for i in 0..<kh {
                            let ih = oh * sh - d.padding.top + i * d.dilationH
                            guard ih >= 0, ih < h else { continue }
                            let wv = filter[(ci * kh + i) * kw + j]
                            // Input column of output column ow: ow·sw + off (inside the row for ow in cols).
                            let src = image + (ci * h + ih) * w + (cols.lowerBound * sw + off)
                            let dst = out + cols.lowerBound
                            if sw == 1 {
                                axpyRow(wv, src, dst, cols.count)
                            } else {
                                for k in 0..<cols.count { dst[k] += wv * src[k * sw] }
                            }
                        }
                    }
                }
                if bias != nil || activation != nil {
                    convolutionEpilogueRow(out, outW, bias: bias?[oc], activation: activation)
                }
            }
        }
    }

    func directBackwardData(_ d: Conv2DDescriptor, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                            dx: UnsafeMutablePointer<Float>) {
        let (c, h, w, o, outH, outW) = (d.inChannels, d.inH, d.inW, d.outChannels, d.outH, d.outW)
        let (kh, kw, cg, og) = (d.kernelH, d.kernelW, d.groupInChannels, d.groupOutChannels)
        let (sh, sw) = (d.strideH, d.strideW)
        parallelFor(d.batch * c * h, grain: max(1, 8192 / (w * og * kh * kw))) { rows in
            for t in rows {   // t = (n·C + ch)·H + ih: this task owns input row ih
                let (nc, ih) = t.quotientAndRemainder(dividingBy: h)
                let (n, ch) = nc.quotientAndRemainder(dividingBy: c)
                let (g, ci) = ch.quotientAndRemainder(dividingBy: cg)
                let out = dx + t * w
                out.update(repeating: 0, count: w)
                for i in 0..<kh {
                    let hp = ih + d.padding.top - i * d.dilationH   // = oh·sh when (ih, i) is used
                    if hp < 0 { break }
                    let (oh, rem) = hp.quotientAndRemainder(dividingBy: sh)
                    guard rem == 0, oh < outH else { continue }
                    for j in 0..<kw {
                        let cols = d.validColumns(kernelColumn: j)
                        guard !cols.isEmpty else { continue }
                        let dst = out + (cols.lowerBound * sw + j * d.dilationW - d.padding.left)
                        for k in 0..<og {
                            let oc = g * og + k
                            let wv = weight[((oc * cg + ci) * kh + i) * kw + j]
                            let grad = dy + ((n * o + oc) * outH + oh) * outW + cols.lowerBound
                            if sw == 1 {
                                axpyRow(wv, grad, dst, cols.count)
                            } else {
                                for q in 0..<cols.count { dst[q * sw] += wv * grad[q] }
                            }
                        }
                    }
                }
            }
        }
    }

    func directBackwardFilter(_ d: Conv2DDescriptor, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                              dw: UnsafeMutablePointer<Float>) {
        let (c, h, w, o, outH, outW) = (d.inChannels, d.inH, d.inW, d.outChannels, d.outH, d.outW)
        let (kh, kw, cg, og) = (d.kernelH, d.kernelW, d.groupInChannels, d.groupOutChannels)
        let (sh, sw) = (d.strideH, d.strideW)
        parallelFor(o * cg * kh * kw, grain: max(1, 65_536 / (d.batch * outH * outW))) { weights in
            for t in weights {   // t = ((oc·cg + ci)·kh + i)·kw + j
                let (r, j) = t.quotientAndRemainder(dividingBy: kw)
                let (z, i) = r.quotientAndRemainder(dividingBy: kh)
                let (oc, ci) = z.quotientAndRemainder(dividingBy: cg)
                let cols = d.validColumns(kernelColumn: j)
                let offH = i * d.dilationH - d.padding.top
                let ohLo = offH >= 0 ? 0 : (sh - 1 - offH) / sh
                let ohHi = h - 1 - offH < 0 ? 0 : min(outH, (h - 1 - offH) / sh + 1)
                var total = 0.0
                for n in 0..<d.batch {
                    let plane = x + (n * c + oc / og * cg + ci) * h * w
                    let grad = dy + (n * o + oc) * outH * outW
                    var sum: Float = 0
                    for oh in ohLo..<max(ohLo, ohHi) where !cols.isEmpty {
                        let src = plane + (oh * sh + offH) * w + (cols.lowerBound * sw + j * d.dilationW - d.padding.left)
                        let g = grad + oh * outW + cols.lowerBound
                        sum += sw == 1 ? dot(src, g, cols.count) : stridedDot(src, sw, g, cols.count)
                    }
                    total += Double(sum)
                }
                dw[t] = Float(total)
            }
        }
    }
}

/// y[i] += a·x[i], eight lanes at a time: the compiler does not vectorize this loop itself,
/// since it cannot rule out that x and y overlap.
private func axpyRow(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
    while i + 8 <= n {
        let v = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            + a * rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        ry.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += a * x[i]; i += 1 }
}

/// Σ a[i]·b[i], eight lanes at a time (a float sum the compiler may not reorder by itself).
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= n {
        acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

private func stridedDot(_ a: UnsafePointer<Float>, _ stride: Int, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s: Float = 0
    for i in 0..<n { s += a[i * stride] * b[i] }
    return s
}
