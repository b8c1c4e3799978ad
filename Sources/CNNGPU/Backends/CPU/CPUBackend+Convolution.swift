/// Convolution on the CPU, by one of four kernels:
/// - oneDNN's JIT kernels (CPUBackend+OneDNNConvolution.swift) for ungrouped layers of at least
///   `oneDNNMinOutChannels` outputs: ResNet's and VGG's layers and the 7×7 stem;
/// - register-blocked direct convolution (CPUBackend+BlockedConvolution.swift, AVX2 C loops)
///   for stride-1, undilated, ungrouped layers of at most `blockedMaxChannels` channels;
/// - direct loops along rows (CPUBackend+DirectConvolution.swift) for depthwise convolution
///   (at most `directMaxGroupOutChannels` output channels per group), where each GEMM is a
///   sliver that a GEMM pads to its micro-kernel, and for the `.direct` problems the blocked
///   kernels cannot take (strides, dilation, groups);
/// - im2col + oneDNN's SGEMM (see `Im2ColConvolution`) for the rest: im2col and col2im run in
///   parallel over (row, image) and (image, channel), each GEMM split across the workers;
///   1×1 layers below `packedMaxPointwisePixels` output pixels with their images packed side by
///   side (`im2colPacked`), so that ResNet's 4² and 2² stages run one wide GEMM per pass;
///   1×1 backward-filter with more input than output channels as transposed GEMMs per worker
///   (`pointwiseFilterTransposed`, CPUBackend+PointwiseFilterGradient.swift).
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
    /// Backward-data's padded forward form computes the forward's input channels in register
    /// blocks of 6, so with fewer than this many most of its lanes idle. Measured before
    /// backward-data ran as GEMM + col2im on small planes (whose lanes are pixels); not
    /// re-measured since.
    static let blockedMinAdjointChannels = 4
    /// im2col + GEMM with a 1×1 layer's images packed side by side (see `Im2ColConvolution`).
    static let im2colPacked = ConvolutionSolution(.im2colGEMM, parameters: ["packed": 1])
    /// A 1×1 layer with fewer output pixels than this runs packed: at batch 32 the layers at 4²
    /// and 2² took 1.1–7× less CPU packed than as per-image GEMMs of 16 or 4 columns, those at
    /// 8² 1.1–1.3× more (Benchmarks/NOTES-cpu-convolution.md).
    static let packedMaxPointwisePixels = 8 * 8
    /// A 1×1 backward-filter on planes of this many pixels (ResNet-50's 14² stage) runs packed
    /// too: at batch 8, in four runs, 1024→256 took 4.8–4.9 CPU ms packed against 5.4–5.6 on
    /// oneDNN's NCHW path, 1024→512 8.5–8.7 against 9.1–9.5, 256→1024 4.4–4.5 against 4.4–4.6.
    /// Not measured on larger or smaller planes (at 8², batch 32, per-image GEMMs were as fast).
    static let packedPointwiseFilterPixels = (14 * 14)..<(16 * 16)

    /// Every algorithm applies to every problem; the measurements above and in
    /// CPUBackend+OneDNNConvolution.swift put the faster first. Tuning (`tuneConvolution`)
    /// times them all on the processor it runs on.
    public func convolutionSolutions(for d: Conv2DDescriptor, direction: ConvolutionDirection) -> [ConvolutionSolution] {
        let ours = ownSolutions(for: d, direction: direction)
        // Below one image per worker the batch split already runs whole on oneDNN's threading.
        let oneDNN = [Self.oneDNNBlocked, Self.oneDNNPlain, Self.oneDNNChannelSplit]
            + (d.batch >= threads && threads > 1 ? [Self.oneDNNBlockedTeam, Self.oneDNNPlainTeam] : [])
        let offered: [ConvolutionSolution] = if let preferred = preferredOneDNN(d, direction: direction) {
            [preferred] + oneDNN.filter { $0 != preferred } + ours
        } else {
            ours + oneDNN
        }
        guard direction == .backwardFilter, Self.pointwiseFilterTransposedApplies(d) else { return offered }
        return prefersPointwiseFilterTransposed(d) ? [Self.pointwiseFilterTransposed] + offered
            : offered + [Self.pointwiseFilterTransposed]
    }

    /// The register-blocked and row-direct loops, and im2col + GEMM (for 1×1 layers both per
    /// image and packed), in the order measured best.
    func ownSolutions(for d: Conv2DDescriptor, direction: ConvolutionDirection) -> [ConvolutionSolution] {
        let blocked = Self.blockedConvolutionApplies(d)
        var direct = d.groupOutChannels <= Self.directMaxGroupOutChannels
            || blocked && d.outChannels <= Self.blockedMaxChannels && d.inChannels <= Self.blockedMaxChannels
        // Backward-data's blocked kernel idles most of its lanes with few input channels.
        if direction == .backwardData, direct, blocked, d.groupOutChannels > Self.directMaxGroupOutChannels,
           d.inChannels < Self.blockedMinAdjointChannels {
            direct = false
        }
        let order: [ConvolutionAlgorithm] = direct ? [.direct, .im2colGEMM] : [.im2colGEMM, .direct]
        return order.flatMap { a -> [ConvolutionSolution] in
            guard a == .im2colGEMM, d.isPointwise else { return [ConvolutionSolution(a)] }
            let perImage = ConvolutionSolution(.im2colGEMM)
            let packedFirst = d.outPixels < Self.packedMaxPointwisePixels
                || direction == .backwardFilter && Self.packedPointwiseFilterPixels.contains(d.outPixels)
            return packedFirst ? [Self.im2colPacked, perImage] : [perImage, Self.im2colPacked]
        }
    }

    public func convolutionWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                          solution: ConvolutionSolution) -> Int {
        if solution.algorithm == .oneDNN { return oneDNNWorkspaceCount(d, direction: direction, solution: solution) }
        if solution == Self.pointwiseFilterTransposed { return pointwiseFilterTransposedWorkspaceCount(d) }
        guard solution.algorithm == .im2colGEMM else { return 0 }
        return ConvolutionWorkspace.count(d, limitBytes: ConvolutionWorkspace.limitBytes,
                                          maxBufferBytes: info.maxBufferBytes, packed: solution.isPacked)
    }

    public func encodeConvolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                         bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                                         solution: ConvolutionSolution, workspace: (any DeviceBuffer)?) throws {
        let biasPointer = bias.map { UnsafePointer(ptr($0)) }
        switch solution.algorithm {
        case .im2colGEMM:
            try im2colForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y, workspace: workspace,
                              packed: solution.isPacked)
        case .direct where Self.blockedConvolutionApplies(d):
            blockedForward(d, x: ptr(x), weight: ptr(weight), bias: biasPointer, activation: activation, y: ptr(y))
        case .direct:
            directForward(d, x: ptr(x), weight: ptr(weight), bias: biasPointer, activation: activation, y: ptr(y))
        case .oneDNN:
            try oneDNNConvolution(d, .forward, solution, tensors: [x, weight, y], bias: bias, activation: activation,
                                  workspace: workspace)
        case .implicitGEMM, .winogradF2x3, .winogradF4x3, .winogradFilter, .conv1x1CLBlast, .directTiled, .fewChannels, .channelsLast, .pointwise,
             .fullyConnected:
            throw CNNError.invalidArgument("the CPU backend has no \(solution.algorithm) convolution")
        }
    }

    public func encodeConvolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                              dx: any DeviceBuffer, solution: ConvolutionSolution,
                                              workspace: (any DeviceBuffer)?) throws {
        switch solution.algorithm {
        case .im2colGEMM:
            try im2colBackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace, packed: solution.isPacked)
        case .direct where Self.blockedConvolutionApplies(d):
            blockedBackwardData(d, dy: ptr(dy), weight: ptr(weight), dx: ptr(dx))
        case .direct:
            directBackwardData(d, dy: ptr(dy), weight: ptr(weight), dx: ptr(dx))
        case .oneDNN:
            try oneDNNConvolution(d, .backwardData, solution, tensors: [dy, weight, dx], workspace: workspace)
        case .implicitGEMM, .winogradF2x3, .winogradF4x3, .winogradFilter, .conv1x1CLBlast, .directTiled, .fewChannels, .channelsLast, .pointwise,
             .fullyConnected:
            throw CNNError.invalidArgument("the CPU backend has no \(solution.algorithm) convolution")
        }
    }

    public func encodeConvolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                                dw: any DeviceBuffer, solution: ConvolutionSolution,
                                                workspace: (any DeviceBuffer)?) throws {
        switch solution.algorithm {
        case .im2colGEMM where solution == Self.pointwiseFilterTransposed:
            try pointwiseFilterGradientTransposed(d, x: x, dy: dy, dw: dw, workspace: workspace)
        case .im2colGEMM:
            try im2colBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, packed: solution.isPacked)
        case .direct where Self.blockedConvolutionApplies(d):
            blockedBackwardFilter(d, x: ptr(x), dy: ptr(dy), dw: ptr(dw))
        case .direct:
            directBackwardFilter(d, x: ptr(x), dy: ptr(dy), dw: ptr(dw))
        case .oneDNN:
            try oneDNNConvolution(d, .backwardFilter, solution, tensors: [x, dy, dw], workspace: workspace)
        case .implicitGEMM, .winogradF2x3, .winogradF4x3, .winogradFilter, .conv1x1CLBlast, .directTiled, .fewChannels, .channelsLast, .pointwise,
             .fullyConnected:
            throw CNNError.invalidArgument("the CPU backend has no \(solution.algorithm) convolution")
        }
    }

    /// The im2col path's epilogue on one chunk, right after its GEMM: each worker takes whole
    /// (image, channel) planes.
    func convolutionEpilogue(_ d: Conv2DDescriptor, bias: (any DeviceBuffer)?, activation: Activation?,
                             y: any DeviceBuffer, firstImage: Int, images: Int) throws {
        let (o, p) = (d.outChannels, d.outPixels)
        let yp = ptr(y) + firstImage * o * p, bp = bias.map(ptr)
        parallelFor(images * o, grain: max(1, 16_384 / p)) { planes in
            for plane in planes {
                convolutionEpilogueRow(yp + plane * p, p, bias: bp?[plane % o], activation: activation)
            }
        }
    }

    /// Each worker takes a run of (row, image) pairs, row-major, so a row's kernel tap and
    /// valid columns are worked out once for all its images: at ResNet's 2×2 outputs a row of
    /// one image is 4 floats, and per-pair divisions and copy calls made im2col half the cost
    /// of the whole 3×3 forward pass.
    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws {
        let (c, h, w) = (d.inChannels, d.inH, d.inW)
        let (kh, kw, outH, outW, p) = (d.kernelH, d.kernelW, d.outH, d.outW, d.outPixels)
        let rows = c * kh * kw
        let xp = UnsafePointer(ptr(x) + firstImage * c * h * w), cp = ptr(col)
        // Below this row width a scalar loop beats three copy calls per output row.
        let narrow = outW < 8
        parallelFor(images * rows, grain: max(1, 16_384 / p)) { range in
            var (row, n) = range.lowerBound.quotientAndRemainder(dividingBy: images)
            var t = range.lowerBound
            while t < range.upperBound {   // t = row·images + n: column block n of row `row`
                let (ch, k) = row.quotientAndRemainder(dividingBy: kh * kw)
                let (i, j) = k.quotientAndRemainder(dividingBy: kw)
                let cols = d.validColumns(kernelColumn: j)
                let offW = j * d.dilationW - d.padding.left
                let last = min(images, n + range.upperBound - t)
                for image in n..<last {
                    let plane = xp + (image * c + ch) * h * w
                    let out = cp + (row * images + image) * p
                    for oh in 0..<outH {
                        let ih = oh * d.strideH - d.padding.top + i * d.dilationH
                        let o = out + oh * outW
                        guard ih >= 0, ih < h else { o.update(repeating: 0, count: outW); continue }
                        let src = plane + ih * w
                        if narrow {
                            for ow in 0..<outW { o[ow] = cols.contains(ow) ? src[ow * d.strideW + offW] : 0 }
                            continue
                        }
                        o.update(repeating: 0, count: cols.lowerBound)
                        if d.strideW == 1 {
                            (o + cols.lowerBound).update(from: src + (cols.lowerBound + offW), count: cols.count)
                        } else {
                            for ow in cols { o[ow] = src[ow * d.strideW + offW] }
                        }
                        (o + cols.upperBound).update(repeating: 0, count: outW - cols.upperBound)
                    }
                }
                t += last - n
                n = 0
                row += 1
            }
        }
    }

    /// Each worker owns whole (image, channel) planes of dx, so the scatter-add below is
    /// race-free and its order fixed.
    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws {
        let (c, h, w) = (d.inChannels, d.inH, d.inW)
        let (kh, kw, outH, outW, p) = (d.kernelH, d.kernelW, d.outH, d.outW, d.outPixels)
        let dxp = ptr(dx) + firstImage * c * h * w, cp = UnsafePointer(ptr(col))
        // Worked out once, not per plane: at 2×2 outputs the divisions cost as much as the adds.
        let validColumns = (0..<kw).map { d.validColumns(kernelColumn: $0) }
        parallelFor(images * c, grain: max(1, 4096 / (kh * kw * p))) { range in
            var (n, ch) = range.lowerBound.quotientAndRemainder(dividingBy: c)
            for t in range {
                defer { ch += 1; if ch == c { ch = 0; n += 1 } }
                let plane = dxp + t * h * w
                plane.update(repeating: 0, count: h * w)
                for i in 0..<kh {
                    for j in 0..<kw {
                        let src = cp + ((ch * kh + i) * kw + j) * images * p + n * p
                        let cols = validColumns[j]
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

    /// The epilogue runs on each row right after it is copied, while it is in cache.
    func unpackImages(rows: Int, length: Int, src: any DeviceBuffer, srcOffset: Int, images: Int,
                      dst: any DeviceBuffer, firstImage: Int, bias: (any DeviceBuffer)?,
                      activation: Activation?) throws {
        let s = ptr(src) + srcOffset, d = ptr(dst) + firstImage * rows * length, bp = bias.map(ptr)
        let epilogue = bias != nil || activation != nil
        parallelFor(images * rows, grain: max(1, 16_384 / length)) { range in
            for t in range {
                let (n, r) = t.quotientAndRemainder(dividingBy: rows)
                (d + t * length).update(from: s + (r * images + n) * length, count: length)
                if epilogue { convolutionEpilogueRow(d + t * length, length, bias: bp?[r], activation: activation) }
            }
        }
    }
}

extension ConvolutionSolution {
    /// im2col + GEMM with a 1×1 layer's images packed (`CPUBackend.im2colPacked`).
    var isPacked: Bool { algorithm == .im2colGEMM && parameters["packed"] == 1 }
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
