/// Convolution on the CPU, by one of three kernels:
/// - register-blocked direct convolution (CPUBackend+BlockedConvolution.swift, AVX2 C loops)
///   for stride-1, undilated, ungrouped layers of at most `blockedMaxChannels` channels;
/// - direct loops along rows (CPUBackend+DirectConvolution.swift) for depthwise convolution
///   (at most `directMaxGroupOutChannels` output channels per group), where each GEMM is a
///   sliver that OpenBLAS pads to its micro-kernel, and for the `.direct` problems the blocked
///   kernels cannot take (strides, dilation, groups);
/// - im2col + OpenBLAS SGEMM (see `Im2ColConvolution`) for the rest: im2col and col2im run in
///   parallel over (row, image) and (image, channel), each GEMM split across the workers.
///
/// Measured (2 cores, loaded machine; batch 64; forward / backward-data / backward-filter in
/// ms, best of 15; blocked vs im2col + GEMM):
/// LeNet 1→6 5×5 on 28² pad 2: 0.31 / 1.12 / 0.30 vs 1.1 / 1.8 / 1.4;
/// LeNet 6→16 5×5 on 14²: 0.47–0.72 / 0.59–0.85 / 0.55–0.88 vs 1.4–1.5 / 1.3–1.8 / 1.0–1.6;
/// 16→32 3×3 on 14² pad 1: 1.8 / 1.7 / 2.3 vs 3.5 / 4.2 / 3.5;
/// 32→64 3×3 on 26²: 20–26 / 35–49 / 30–36 vs 29–50 / 52–64 / 36–45;
/// 1→32 3×3 on 28²: 0.5–0.9 / 1.9–2.5 / 0.8 vs 1.4–2.0 / 1.2–1.6 / 0.9–1.8 — so
/// backward-data stays on GEMM below `blockedMinAdjointChannels` input channels.
/// Depthwise 3×3, 64 channels, 56², batch 8: row-direct 6.0 / 10.2 / 3.8, GEMM 19 / 39 / 26.
extension CPUBackend: ConvolutionOps, Im2ColConvolution {
    static let directMaxGroupOutChannels = 2
    /// The widest layer measured faster blocked than on GEMM (32→64); wider ones are untested.
    static let blockedMaxChannels = 64
    /// Backward-data's blocked kernel computes the forward's input channels in register blocks
    /// of 6, so with fewer than this many most of its lanes idle.
    static let blockedMinAdjointChannels = 4

    func algorithm(for d: Conv2DDescriptor) -> ConvolutionAlgorithm {
        if let forced = ConvolutionAlgorithm.forced { return forced }
        if d.groupOutChannels <= Self.directMaxGroupOutChannels { return .direct }
        return Self.blockedConvolutionApplies(d) && d.outChannels <= Self.blockedMaxChannels
            && d.inChannels <= Self.blockedMaxChannels ? .direct : .im2colGEMM
    }

    /// `algorithm(for:)`, except that blocked layers with few input channels take GEMM.
    func backwardDataAlgorithm(for d: Conv2DDescriptor) -> ConvolutionAlgorithm {
        let picked = algorithm(for: d)
        guard ConvolutionAlgorithm.forced == nil, picked == .direct, Self.blockedConvolutionApplies(d),
              d.groupOutChannels > Self.directMaxGroupOutChannels else { return picked }
        return d.inChannels < Self.blockedMinAdjointChannels ? .im2colGEMM : .direct
    }

    public func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                   bias: (any DeviceBuffer)?, y: any DeviceBuffer) throws {
        try validate.convolution(d, x: x, w: weight, y: y, bias: bias, "conv2d")
        guard algorithm(for: d) == .direct else {
            return try im2colForward(d, x: x, weight: weight, bias: bias, y: y)
        }
        if Self.blockedConvolutionApplies(d) {
            return blockedForward(d, x: ptr(x), weight: ptr(weight), bias: bias.map { UnsafePointer(ptr($0)) }, y: ptr(y))
        }
        directForward(d, x: ptr(x), weight: ptr(weight), y: ptr(y))
        if let bias {
            try addBias(AxisShape(outer: d.batch, axis: d.outChannels, inner: d.outPixels), bias: bias, y: y)
        }
    }

    public func convolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                        dx: any DeviceBuffer) throws {
        try validate.convolutionBackward(d, "conv2d_backward_data", input: ("dx", dx), weight: ("weight", weight),
                                         output: ("dy", dy))
        guard backwardDataAlgorithm(for: d) == .direct else {
            return try im2colBackwardData(d, dy: dy, weight: weight, dx: dx)
        }
        if Self.blockedConvolutionApplies(d) {
            blockedBackwardData(d, dy: ptr(dy), weight: ptr(weight), dx: ptr(dx))
        } else {
            directBackwardData(d, dy: ptr(dy), weight: ptr(weight), dx: ptr(dx))
        }
    }

    public func convolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                          dw: any DeviceBuffer) throws {
        try validate.convolutionBackward(d, "conv2d_backward_filter", input: ("x", x), weight: ("dw", dw),
                                         output: ("dy", dy))
        guard algorithm(for: d) == .direct else { return try im2colBackwardFilter(d, x: x, dy: dy, dw: dw) }
        if Self.blockedConvolutionApplies(d) {
            blockedBackwardFilter(d, x: ptr(x), dy: ptr(dy), dw: ptr(dw))
        } else {
            directBackwardFilter(d, x: ptr(x), dy: ptr(dy), dw: ptr(dw))
        }
    }

    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws {
        let (c, h, w) = (d.inChannels, d.inH, d.inW)
        let (kh, kw, outH, outW, p) = (d.kernelH, d.kernelW, d.outH, d.outW, d.outPixels)
        let rows = c * kh * kw
        let xp = ptr(x) + firstImage * c * h * w, cp = ptr(col)
        parallelFor(images * rows, grain: max(1, 16_384 / p)) { range in
            for t in range {   // t = row·images + n: column block n of row `row`
                let (row, n) = t.quotientAndRemainder(dividingBy: images)
                let (ch, k) = row.quotientAndRemainder(dividingBy: kh * kw)
                let (i, j) = k.quotientAndRemainder(dividingBy: kw)
                let plane = xp + (n * c + ch) * h * w
                let out = cp + t * p
                let cols = d.validColumns(kernelColumn: j)
                let offW = j * d.dilationW - d.padding.left
                for oh in 0..<outH {
                    let ih = oh * d.strideH - d.padding.top + i * d.dilationH
                    let o = out + oh * outW
                    guard ih >= 0, ih < h else { o.update(repeating: 0, count: outW); continue }
                    let src = plane + ih * w
                    o.update(repeating: 0, count: cols.lowerBound)
                    if d.strideW == 1 {
                        (o + cols.lowerBound).update(from: src + (cols.lowerBound + offW), count: cols.count)
                    } else {
                        for ow in cols { o[ow] = src[ow * d.strideW + offW] }
                    }
                    (o + cols.upperBound).update(repeating: 0, count: outW - cols.upperBound)
                }
            }
        }
    }

    /// Each worker owns whole (image, channel) planes of dx, so the scatter-add below is
    /// race-free and its order fixed.
    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws {
        let (c, h, w) = (d.inChannels, d.inH, d.inW)
        let (kh, kw, outH, outW, p) = (d.kernelH, d.kernelW, d.outH, d.outW, d.outPixels)
        let dxp = ptr(dx) + firstImage * c * h * w, cp = ptr(col)
        parallelFor(images * c, grain: max(1, 4096 / (kh * kw * p))) { range in
            for t in range {
                let plane = dxp + t * h * w
                let (n, ch) = t.quotientAndRemainder(dividingBy: c)
                plane.update(repeating: 0, count: h * w)
                for i in 0..<kh {
                    for j in 0..<kw {
                        let src = cp + ((ch * kh + i) * kw + j) * images * p + n * p
                        let cols = d.validColumns(kernelColumn: j)
                        let offW = j * d.dilationW - d.padding.left
                        for oh in 0..<outH {
                            let ih = oh * d.strideH - d.padding.top + i * d.dilationH
                            guard ih >= 0, ih < h else { continue }
                            let dst = plane + ih * w, s = src + oh * outW
                            for ow in cols { dst[ow * d.strideW + offW] += s[ow] }
                        }
                    }
                }
            }
        }
    }
}

extension CPUBackend {
    func packImages(rows: Int, length: Int, src: any DeviceBuffer, firstImage: Int, images: Int,
                    dst: any DeviceBuffer, dstOffset: Int) throws {
        let s = ptr(src) + firstImage * rows * length, d = ptr(dst) + dstOffset
        parallelFor(images * rows, grain: max(1, 16_384 / length)) { range in
            for t in range {   // t = n·rows + r
                let (n, r) = t.quotientAndRemainder(dividingBy: rows)
                (d + (r * images + n) * length).update(from: s + t * length, count: length)
            }
        }
    }

    func unpackImages(rows: Int, length: Int, src: any DeviceBuffer, srcOffset: Int, images: Int,
                      dst: any DeviceBuffer, firstImage: Int) throws {
        let s = ptr(src) + srcOffset, d = ptr(dst) + firstImage * rows * length
        parallelFor(images * rows, grain: max(1, 16_384 / length)) { range in
            for t in range {
                let (n, r) = t.quotientAndRemainder(dividingBy: rows)
                (d + t * length).update(from: s + (r * images + n) * length, count: length)
            }
        }
    }
}

extension Conv2DDescriptor {
    /// The output columns `ow` whose input column `ow·strideW - padLeft + kw·dilationW` lies
    /// inside the image, for kernel column `kw`.
    func validColumns(kernelColumn kw: Int) -> Range<Int> {
        let off = kw * dilationW - padding.left
        let lo = off >= 0 ? 0 : (-off + strideW - 1) / strideW
        let last = inW - 1 - off
        let hi = last < 0 ? 0 : min(outW, last / strideW + 1)
        return lo..<max(lo, hi)
    }
}
