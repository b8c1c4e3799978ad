/// Tiled implicit-GEMM convolution (Kernels/conv_implicit_gemm.cl): each direction is one GEMM
/// per group whose operands are gathered from the NCHW tensors tile by tile into `__local`
/// memory, so no column matrix is materialized and any stride, padding, dilation and group
/// count works; the input gradient of a strided layer runs one such GEMM per stride phase. The
/// backward-filter reduction (over N·OH·OW) is split into `KSPLIT` slices
/// written to a workspace and summed by a second, deterministic kernel.
///
/// Parameters: the `KernelTunables.implicitGEMM` tile parameters, plus `KSPLIT` (backward
/// filter only; absent = `implicitGEMMDefaultSplits`) and `WT` (backward data only: 1 stages
/// transposed weights, 0 gathers them; absent = `transposesWeights`' rule).
extension OpenCLBackend {
    static let implicitGEMMKernel = KernelTunables.implicitGEMM

    /// Every float32 NCHW convolution whose tensors a 32-bit kernel index reaches, except the
    /// input gradient of a strided layer with fewer than 8 input channels per group (an image
    /// stem): a GEMM of that few rows, most of whose gathered taps are zero, took 6 s on PoCL
    /// for ResNet's stem where the direct kernel takes 0.8 s, and a tuner would pay that once.
    static func implicitGEMMApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        if direction == .backwardData && d.groupInChannels < 8 && (d.strideH > 1 || d.strideW > 1) { return false }
        let limit = Int(Int32.max)
        // The backward-filter workspace holds KSPLIT copies of dw; bound by the largest split.
        return d.inputCount <= limit && d.outputCount <= limit && d.weightCount * maxSplits <= limit
    }

    /// The most backward-filter slices: past this the second pass costs more than it saves.
    static let maxSplits = 64

    /// Tile parameter sets worth timing on this device for `d` (the default first), each
    /// valid for the device; backward filter adds split counts around the default.
    func implicitGEMMCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = Self.implicitGEMMKernel
        let limits = deviceLimits
        var tiles = [table.defaults(for: info)]
        // A GEMM with few rows (M = channels per group of the written tensor) wastes most of a
        // 64-row tile: put the shortest tile first. It only helps so much: each gathered input
        // element then serves ≤ 16 rows, so the gather dominates (the ResNet stem's input
        // gradient, M = 3, stride 2: 40 s on 64-row tiles, 31 s on 16 on PoCL, vs 0.7 s for
        // the direct kernel, which a solver list must therefore keep for such layers).
        // Of the 16-row tiles, the one whose work-group size is closest to the default's (many
        // small work-items on a GPU, few SIMD-wide ones on a CPU).
        let rows = direction == .backwardData ? d.groupInChannels : d.groupOutChannels
        let size = { (p: TunableParameters) in table.localSize(p).reduce(1, *) }
        let defaultSize = size(tiles[0])
        if rows <= 16, let short = table.candidates.filter({ $0["TM"] == 16 })
            .min(by: { abs(size($0) - defaultSize) < abs(size($1) - defaultSize) }) {
            tiles.insert(short, at: 0)
        }
        // The bounded search keeps the shapes of this device type: a CPU device runs a
        // work-group's items one after another, so few SIMD-wide items win there (the GPU
        // shapes ran at 3–11 GFLOP/s on PoCL); a GPU needs many items per group to hide latency.
        let gpu = info.kind == .gpu
        let fitsKind = { (p: TunableParameters) in gpu ? size(p) >= 64 : size(p) <= 64 }
        for c in table.candidates where !tiles.contains(c) && fitsKind(c) { tiles.append(c) }
        // A CPU device with 8-float vectors (16 registers) keeps the register tiles whose
        // accumulators fill at most half of them: the AVX-512 shapes spill there.
        if info.hasNarrowVectors {
            tiles.removeAll { $0["WPT_M"]! * $0["WPT_N"]! > 8 * info.nativeFloatVectorWidth }
        }
        tiles = tiles.filter { table.isValid($0, limits: limits) }
        guard direction == .backwardFilter else {
            if !gpu, let narrow = Self.cpuNarrowColumnTile(rows: rows, columns: Self.gemmColumns(d, direction: direction),
                                                           strided: d.strideH > 1 || d.strideW > 1, among: tiles) {
                tiles.removeAll { $0 == narrow }
                tiles.insert(narrow, at: 0)
            }
            return tiles
        }
        // (A GEMM of ≤ 16 rows keeps the 16-row tile put first above.)
        if !gpu, rows > 16, let best = Self.cpuFilterTile(rows: d.groupOutChannels, columns: d.groupInChannels * d.kernelH * d.kernelW,
                                               among: tiles) {
            // The 128-wide tiles step k by 64: each k step reads a short run of every dy row and
            // x row of the tile (about a hundred rows of different planes), and twice the run per
            // visit with half the barrier regions took 1.1–1.4× less CPU time on PoCL for VGG's
            // 224² and 112² filter gradients and ResNet's (NOTES-opencl-solvers.md, eighth
            // session). 64 × 64 (1×1 64→64) was not measured at 64. The 32-step tile stays a
            // candidate.
            var first = best
            let longK = best.merging(["TK": 64]) { $1 }
            if max(best["TM"] ?? 0, best["TN"] ?? 0) == 128, best["TK"] == 32, table.isValid(longK, limits: limits) {
                first = longK
            }
            tiles.removeAll { $0 == first }
            tiles.insert(first, at: 0)
        }
        return tiles.flatMap { t -> [TunableParameters] in
            let base = implicitGEMMDefaultSplits(d, parameters: t)
            // The heuristic's count first: it is what `--tune fast` and untuned runs use.
            let others = Set([max(1, base / 4), min(Self.maxSplits, base * 4)]).subtracting([base]).sorted()
            return ([base] + others).map { t.merging(["KSPLIT": $0]) { $1 } }
        }
    }

    /// The CPU-device tile for a filter gradient of `rows` output channels × `columns` taps
    /// (Cg·R·S) per group, from the 8×32-per-item shapes in `tiles`: 128 × 64 where it pads
    /// the GEMM no more than a third beyond the tightest of 128 × 64, 64 × 128 and 64 × 64,
    /// else 64 × 128, else 64 × 64. 128 × 64 stages half the input (the gathered, bounds-checked
    /// operand) per FMA of 64 × 128; a tile wider than the GEMM computes padding. Measured on
    /// PoCL (Zen 5, 2 cores; Benchmarks/NOTES-opencl-solvers.md): 1×1 64→256 56² 2× faster at
    /// 128 × 64, 1×1 64→64 56² 3× at 64 × 64, the 1×1/2 and 7² layers 1.1–1.5×; 1×1 256→64 56²
    /// and the 7×7 stem stay at 64 × 128 (2× and 1.5× slower at 128 × 64). Nil when `tiles`
    /// lacks those shapes.
    static func cpuFilterTile(rows: Int, columns: Int, among tiles: [TunableParameters]) -> TunableParameters? {
        let shape = { (tm: Int, tn: Int) in
            tiles.first { $0["TM"] == tm && $0["TN"] == tn && $0["WPT_M"] == 8 && $0["WPT_N"] == 32 }
        }
        let preferred = [(128, 64), (64, 128), (64, 64)].compactMap { tm, tn in shape(tm, tn).map { (tm, tn, $0) } }
        let padded = { (tm: Int, tn: Int) in ceilDiv(rows, tm) * tm * ceilDiv(columns, tn) * tn }
        guard let least = preferred.map({ padded($0.0, $0.1) }).min() else { return nil }
        return preferred.first { 3 * padded($0.0, $0.1) <= 4 * least }?.2
    }

    /// The CPU-device tile for a forward or input-gradient GEMM of `rows` × `columns` in place
    /// of the default 64 × 128: 128 × 64 (same 8 × 32 register tiles, same work-group size),
    /// which stages half the right operand (the gathered input or dy) per FMA and twice the
    /// weights (vector copies), where
    /// - the layer is strided and 128-row tiles pad no more than 64-row ones: a strided
    ///   forward gathers its input element by element (four bounds checks each) and a strided
    ///   input gradient's phases load dy as masked chunks, so that operand is the costly one;
    /// - or 128-wide column tiles pad the GEMM more than an eighth beyond it: ResNet-50's 7²
    ///   layers at batch 8 (392 pixels: 512 columns computed at TN = 128, 448 at 64).
    /// Measured on PoCL (Zen 5, 2 cores, batch 8; process CPU time, same binary, A B A B;
    /// Benchmarks/NOTES-opencl-solvers.md, ninth session): ResNet's strided forwards 1.05–1.48×
    /// (3×3/2 128→128 56² 1.31×, 3×3/2 256→256 28² 1.48×), their input gradients 1.01–1.39×,
    /// 3×3/2 512→512 14² and 1×1/2 1024→2048 14² input gradients 1.1–1.3×, 1×1 512→2048 7²
    /// forward 1.2×. Stride-1 layers from 14² up (6% padding or none) keep the default: their
    /// input loads as whole vectors, and 128 rows would pad the 64-channel layers (2× slower).
    /// Nil when `tiles` lacks the shape.
    static func cpuNarrowColumnTile(rows: Int, columns: Int, strided: Bool,
                                    among tiles: [TunableParameters]) -> TunableParameters? {
        guard let narrow = tiles.first(where: { $0["TM"] == 128 && $0["TN"] == 64 && $0["WPT_M"] == 8 && $0["WPT_N"] == 32 })
        else { return nil }
        let padded = { (tm: Int, tn: Int) in ceilDiv(rows, tm) * tm * ceilDiv(columns, tn) * tn }
        let wide = padded(64, 128), tall = padded(128, 64)
        return (strided ? tall <= wide : 8 * wide > 9 * tall) ? narrow : nil
    }

    /// Columns of the forward or input-gradient GEMM (one launch): output pixels, input pixels,
    /// or a strided layer's first stride phase (the largest).
    static func gemmColumns(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Int {
        direction == .forward ? d.batch * d.outH * d.outW : d.batch * ceilDiv(d.inH, d.strideH) * ceilDiv(d.inW, d.strideW)
    }

    /// Enough slices that the filter-gradient launch has about four work-groups per compute
    /// unit on a GPU (to hide latency) and one per compute unit on a CPU, while each slice
    /// still covers at least 8 k steps. On PoCL (2 units) every split of ResNet's filter
    /// gradients from 56² down measured slower than none: the slices' partial sums cost more
    /// memory traffic than the better balance saves (3×3 64→64 56²: 36 ms unsplit, 42 and 56 ms
    /// with 2 and 4). Reductions over `cpuSplitPixels` or more with fewer than 8 tiles per unit
    /// are the exception: there a few long-running groups leave a core idle at the end, and 4
    /// slices won the tuner's search on PoCL (batch 8, untuned default before → after: VGG-16's
    /// 3×3 64→64 224² 419–425 → 344 ms, 64→128 112² 138 → 122 ms, ResNet's 7×7/2 stem 28.2 →
    /// 25.3 ms; NOTES-opencl-solvers.md, fifth session).
    func implicitGEMMDefaultSplits(_ d: Conv2DDescriptor, parameters p: TunableParameters) -> Int {
        let tm = p["TM"] ?? 64, tn = p["TN"] ?? 64, tk = p["TK"] ?? 16
        let tiles = d.groups * ceilDiv(d.groupOutChannels, tm) * ceilDiv(d.groupInChannels * d.kernelH * d.kernelW, tn)
        let units = max(1, info.computeUnits), pixels = d.batch * d.outH * d.outW
        let wanted: Int
        if info.kind == .gpu {
            wanted = ceilDiv(4 * units, tiles)
        } else {
            wanted = pixels >= Self.cpuSplitPixels && tiles < 8 * units ? 4 : ceilDiv(units, tiles)
        }
        let kSteps = ceilDiv(pixels, tk)
        return max(1, min(Self.maxSplits, wanted, kSteps / 8))
    }

    /// Output pixels (batch · OH · OW) from which a CPU device splits a filter gradient of few
    /// tiles (`implicitGEMMDefaultSplits`): batch 8 at 112², ResNet's stem and VGG's first stages.
    static let cpuSplitPixels = 8 * 112 * 112

    /// Float32 elements of workspace: KSPLIT partial copies of dw for backward filter, the
    /// transposed weights for backward data (a strided layer's per-phase copies partition the
    /// taps, so they fill the same count), else 0.
    func implicitGEMMWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                    parameters: TunableParameters) -> Int {
        switch direction {
        case .forward: return 0
        case .backwardData: return transposesWeights(d, parameters) ? d.weightCount : 0
        case .backwardFilter:
            let splits = resolvedSplits(d, parameters)
            return splits > 1 ? splits * d.weightCount : 0
        }
    }

    /// Whether an input gradient stages its weights from a transposed copy (wt[g][c][o][rs],
    /// conv_igemm_transpose_weights; a strided layer's phases each a copy of their own taps) as
    /// row-major vectors instead of gathering them: parameter `WT` (1 or 0) where given, else
    /// when dx (all stride phases together) spans at least `transposeMinColumnTiles` column
    /// tiles, since the transpose costs about as much per weight as gathering it once, and each
    /// column tile stages every weight again. Measured on PoCL (batch 8, transpose included;
    /// Benchmarks/NOTES-opencl-solvers.md, seventh and eighth sessions): stride-1 56² layers
    /// (196 tiles) 8–15% faster, 14² about even, ResNet's 3×3 512→512 at 7² (4 tiles) 17 → 20 ms
    /// wall clock (a 3.5 ms transpose of 2.4 M weights, no faster GEMM; even in CPU time); the
    /// strided layers 0–14% less CPU time, those into 7² (4 tiles per phase, 13 in all) too.
    /// An unpadded 1×1 layer (any stride) never transposes: its W'[c][o] = w[o][c] has k rows
    /// contiguous along m in w, which the kernels copy as vectors (KERNEL_1X1), and `WT` is
    /// ignored there.
    func transposesWeights(_ d: Conv2DDescriptor, _ parameters: TunableParameters) -> Bool {
        if Self.isUnpaddedOneByOne(d) { return false }
        if let wt = parameters["WT"] { return wt != 0 }
        let tn = Self.implicitGEMMKernel.completed(parameters, for: info)["TN"] ?? 64
        return ceilDiv(d.batch * d.inH * d.inW, tn) >= Self.transposeMinColumnTiles
    }

    /// See `transposesWeights`.
    static let transposeMinColumnTiles = 8

    /// y = activation(conv(x, w) + bias). `parameters` may be partial (missing tunables take
    /// the device type's defaults); an invalid set throws.
    func implicitGEMMForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                             bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                             parameters: TunableParameters) throws {
        let p = try resolvedTiles(parameters)
        let oneByOne = Self.isUnpaddedOneByOne(d)
        let l = Self.implicitGEMMKernel.launch(p, extent: [d.batch * d.outH * d.outW, d.groupOutChannels, d.groups],
                                               tile: [p["TN"]!, p["TM"]!], extra: oneByOne ? ["KERNEL_1X1"] : [])
        try launch("conv_implicit_gemm", "conv_igemm_forward", l, geometry(d) + [
            .buffer(x), .buffer(weight), .buffer(bias ?? weight), .int(bias == nil ? 0 : 1),
            .int(activation?.kernelCode ?? -1), .float(activation?.alpha ?? 0), .buffer(y),
        ])
    }

    /// dx = conv_backward_data(dy, w), overwriting dx. Where the weights are transposed
    /// (`transposesWeights`), `workspace` must hold `implicitGEMMWorkspaceCount` elements.
    func implicitGEMMBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                  dx: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                  parameters: TunableParameters) throws {
        let p = try resolvedTiles(parameters)
        var transposed: (any DeviceBuffer)?
        if transposesWeights(d, parameters) {
            guard let workspace, workspace.count >= d.weightCount else {
                throw CNNError.invalidArgument("implicit-GEMM backward data with WT=1 needs a workspace of "
                    + "\(d.weightCount) floats for the transposed weights, got \(workspace?.count ?? 0); "
                    + "size it with implicitGEMMWorkspaceCount")
            }
            transposed = workspace
        }
        let weightsTransposed = transposed == nil ? [] : ["WEIGHTS_TRANSPOSED"]
        guard d.strideH > 1 || d.strideW > 1 else {
            let l = Self.implicitGEMMKernel.launch(p, extent: [d.batch * d.inH * d.inW, d.groupInChannels, d.groups],
                                                   tile: [p["TN"]!, p["TM"]!],
                                                   extra: (Self.isPlainOneByOne(d) ? ["KERNEL_1X1"] : []) + weightsTransposed)
            if let transposed {
                try transposeWeights(d, weight, into: transposed, at: 0, options: l.options,
                                     rows: (0, 1, d.kernelH), columns: (0, 1, d.kernelW))
            }
            try launch("conv_implicit_gemm", "conv_igemm_backward_data", l,
                       geometry(d) + [.buffer(dy), .buffer(transposed ?? weight), .buffer(dx)])
            return
        }
        // Strided: one dense GEMM per stride phase (conv_igemm_backward_data_phase), each with
        // the taps that reach its pixels; together the phases write every pixel of dx once.
        // Transposed, each phase's taps get their own copy, the copies one after another.
        // Phases that no tap reaches (three of four for a 1×1 stride-2 layer) are zeros: one fill
        // of dx, then only the other phases run, instead of a GEMM launch per empty phase
        // that stores its zeros one scattered element at a time.
        let phaseRows = (0..<min(d.strideH, d.inH)).map {
            Self.phaseTaps(phase: $0, pad: d.padding.top, stride: d.strideH, dilation: d.dilationH, kernel: d.kernelH, extent: d.inH)
        }
        let phaseColumns = (0..<min(d.strideW, d.inW)).map {
            Self.phaseTaps(phase: $0, pad: d.padding.left, stride: d.strideW, dilation: d.dilationW, kernel: d.kernelW, extent: d.inW)
        }
        if phaseRows.contains(where: { $0.count == 0 }) || phaseColumns.contains(where: { $0.count == 0 }) {
            try encodeFill(dx, value: 0, offset: 0, count: d.inputCount)
        }
        var offset = 0
        for (ph, rows) in phaseRows.enumerated() where rows.count > 0 {
            for (pw, cols) in phaseColumns.enumerated() where cols.count > 0 {
                let l = Self.implicitGEMMKernel.launch(
                    p, extent: [d.batch * rows.pixels * cols.pixels, d.groupInChannels, d.groups], tile: [p["TN"]!, p["TM"]!],
                    extra: weightsTransposed + (Self.isUnpaddedOneByOne(d) ? ["KERNEL_1X1"] : []))
                let taps = rows.count * cols.count
                if let transposed {
                    try transposeWeights(d, weight, into: transposed, at: offset, options: l.options,
                                         rows: (rows.first, rows.step, rows.count), columns: (cols.first, cols.step, cols.count))
                }
                try launch("conv_implicit_gemm", "conv_igemm_backward_data_phase", l, geometry(d) + [
                    .int(ph), .int(pw), .int(rows.pixels), .int(cols.pixels),
                    .int(rows.first), .int(rows.step), .int(rows.count),
                    .int(cols.first), .int(cols.step), .int(cols.count),
                    .buffer(dy), .buffer(transposed ?? weight), .int(transposed == nil ? 0 : offset), .buffer(dx),
                ])
                offset += d.groups * d.groupOutChannels * d.groupInChannels * taps
            }
        }
    }

    /// Writes the input gradient's weights transposed for row-major staging,
    /// wt[g][c][o][(j, i)] = w[g·Kg + o][c][rows.first + j·rows.step][columns.first + i·columns.step]
    /// for the taps j < rows.count, i < columns.count (all of them for a stride-1 layer, one
    /// stride phase's otherwise), at `offset` in `wt`. `options`: the GEMM's, so that both
    /// kernels share one compiled program.
    private func transposeWeights(_ d: Conv2DDescriptor, _ weight: any DeviceBuffer, into wt: any DeviceBuffer, at offset: Int,
                                  options: String, rows: (first: Int, step: Int, count: Int),
                                  columns: (first: Int, step: Int, count: Int)) throws {
        let taps = rows.count * columns.count, t = transposeTile(taps: taps)
        let l = KernelLaunch(options: options,
                             global: [ceilDiv(d.groupInChannels, t) * t * taps, ceilDiv(d.groupOutChannels, t), d.groups],
                             local: [t * taps, 1, 1])
        try launch("conv_implicit_gemm", "conv_igemm_transpose_weights", l, [
            .int(d.groupOutChannels), .int(d.groupInChannels), .int(d.kernelH), .int(d.kernelW), .int(t),
            .int(rows.first), .int(rows.step), .int(rows.count), .int(columns.first), .int(columns.step), .int(columns.count),
            .buffer(weight), .buffer(wt), .int(offset), .local(4 * t * t * taps),
        ])
    }

    /// The weight transpose's block side T (T × T channel pairs with all their taps per
    /// work-group of T·taps items): 32 for 1×1 (longer rows per work-item), else 16, halved
    /// until the block's T²·taps floats fit the device's local memory and T·taps its
    /// work-group size (1 always fits).
    func transposeTile(taps: Int) -> Int {
        var t = taps == 1 ? 32 : 16
        while t > 1 && (4 * t * t * taps > deviceLimits.localMemoryBytes || t * taps > deviceLimits.maxWorkGroupSize) { t /= 2 }
        return t
    }

    /// Along one axis of a strided layer's input gradient, the stride phase `phase` (input
    /// positions phase + stride·a): how many positions it has, and the kernel taps t that reach
    /// them — those with t·dilation ≡ phase + pad (mod stride), an arithmetic progression of
    /// step stride / gcd(stride, dilation) (count 0 when none does).
    static func phaseTaps(phase: Int, pad: Int, stride: Int, dilation: Int, kernel: Int, extent: Int)
        -> (pixels: Int, first: Int, step: Int, count: Int) {
        let pixels = ceilDiv(extent - phase, stride)
        let taps = (0..<kernel).filter { t in ((phase + pad - t * dilation) % stride + stride) % stride == 0 }
        guard let first = taps.first else { return (pixels, 0, 1, 0) }
        let step = taps.count > 1 ? taps[1] - taps[0] : 1
        return (pixels, first, step, taps.count)
    }

    /// dw = conv_backward_filter(x, dy), overwriting dw. With KSPLIT > 1, `workspace` must hold
    /// `implicitGEMMWorkspaceCount` elements.
    func implicitGEMMBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                    dw: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                    parameters: TunableParameters) throws {
        let p = try resolvedTiles(parameters)
        let splits = resolvedSplits(d, parameters)
        let kTotal = d.batch * d.outH * d.outW, tk = p["TK"]!
        // Whole k steps per slice, so only the last slice has a ragged end.
        let kPerSplit = ceilDiv(ceilDiv(kTotal, splits), tk) * tk
        let needed = splits > 1 ? splits * d.weightCount : 0
        let out: any DeviceBuffer
        if splits > 1 {
            guard let workspace, workspace.count >= needed else {
                throw CNNError.invalidArgument("implicit-GEMM backward filter with KSPLIT=\(splits) needs a workspace of "
                    + "\(needed) floats, got \(workspace?.count ?? 0); size it with implicitGEMMWorkspaceCount")
            }
            out = workspace
        } else {
            out = dw
        }
        let l = Self.implicitGEMMKernel.launch(
            p, extent: [d.groupInChannels * d.kernelH * d.kernelW, d.groupOutChannels, d.groups * splits],
            tile: [p["TN"]!, p["TM"]!], extra: Self.isUnpaddedOneByOne(d) ? ["KERNEL_1X1"] : [])
        try launch("conv_implicit_gemm", "conv_igemm_backward_filter", l,
                   geometry(d) + [.int(splits), .int(kPerSplit), .buffer(x), .buffer(dy), .buffer(out)])
        if splits > 1 {
            try launch("conv_implicit_gemm", "conv_igemm_reduce_splits", global: [d.weightCount], local: nil,
                       [.int(d.weightCount), .int(splits), .buffer(out), .buffer(dw)])
        }
    }

    // MARK: Helpers

    /// 1×1 with no padding, any stride: the forward and filter-gradient passes read the input
    /// without bounds checks (KERNEL_1X1).
    static func isUnpaddedOneByOne(_ d: Conv2DDescriptor) -> Bool {
        d.kernelH == 1 && d.kernelW == 1 && d.padding == .zero
    }

    /// 1×1, stride 1, no padding: the input is the GEMM operand itself (KERNEL_1X1).
    static func isPlainOneByOne(_ d: Conv2DDescriptor) -> Bool {
        d.kernelH == 1 && d.kernelW == 1 && d.strideH == 1 && d.strideW == 1 && d.padding == .zero
    }

    private func resolvedTiles(_ parameters: TunableParameters) throws -> TunableParameters {
        let table = Self.implicitGEMMKernel
        var p = table.completed(parameters, for: info).filter { table.names.contains($0.key) }
        // A set that names its register tile but not its vector width gets the default width
        // narrowed to one that divides WPT_N (a 4-column tile cannot hold float16 vectors).
        if parameters["VW"] == nil, let wn = p["WPT_N"], var vw = p["VW"] {
            while vw > 1 && wn % vw != 0 { vw /= 2 }
            p["VW"] = vw
        }
        return try table.validated(p, limits: deviceLimits, solver: "implicit-GEMM", device: info.name)
    }

    private func resolvedSplits(_ d: Conv2DDescriptor, _ parameters: TunableParameters) -> Int {
        let p = Self.implicitGEMMKernel.completed(parameters, for: info)
        let requested = p["KSPLIT"] ?? implicitGEMMDefaultSplits(d, parameters: p)
        // More slices than k steps would leave slices empty.
        return max(1, min(Self.maxSplits, requested, ceilDiv(d.batch * d.outH * d.outW, p["TK"]!)))
    }

    /// The GEOMETRY arguments of conv_implicit_gemm.cl.
    private func geometry(_ d: Conv2DDescriptor) -> [KernelArgument] {
        [d.batch, d.inChannels, d.inH, d.inW, d.outChannels, d.kernelH, d.kernelW, d.strideH, d.strideW,
         d.padding.top, d.padding.left, d.dilationH, d.dilationW, d.outH, d.outW, d.groups].map { .int($0) }
    }
}

func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
