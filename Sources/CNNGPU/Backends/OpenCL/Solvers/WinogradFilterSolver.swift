/// The filter gradient of 3×3, stride-1, dilation-1, single-group layers by Winograd
/// F(3×3, 4×4) (Kernels/conv_winograd_filter.cl): dy's 4×4 tiles and x's 6×6 patches are
/// transformed into the 36-point domain of F(4×4,3×3), multiplied there as 36 GEMMs whose
/// reduction runs over tiles and images (4× fewer multiplies than direct), and transformed back
/// to 3×3. The images go through in chunks (`CHUNK` images each) so that the transformed
/// tensors, 2.25× x and dy, stay within `winogradFilterChunkBytes`; each chunk's GEMMs add into
/// `KSPLIT` partial sums of the 36 products (slices of the tiles, for parallelism where K × C is
/// small), which the output transform sums in a fixed order: deterministic, no atomics.
///
/// Parameters: `KernelTunables.winogradFilter` (the GEMM's tile), plus `KSPLIT` (slices of the
/// tile reduction) and `CHUNK` (images per chunk), host-side; missing ones get the defaults.
/// Workspace: X [36, C, PP] and D [36, K, PP] for one chunk (PP = its 4×4 tiles rounded up to
/// 16) and M [KSPLIT, 36, K, CP] (CP = C rounded up to 16).
extension OpenCLBackend {
    static func winogradFilterApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        // Any padding: it only moves the x patch under each dy tile.
        direction == .backwardFilter && d.kernelH == 3 && d.kernelW == 3 && d.strideH == 1 && d.strideW == 1
            && d.dilationH == 1 && d.dilationW == 1 && d.groups == 1
    }

    /// Whether a CPU device runs this solver first when nothing is tuned: 3×3 stride-1 filter
    /// gradients with at least 64 input and output channels on planes of at least 14² (4×4
    /// tiles per image ≥ 16) and a workspace the device can hold in one buffer. Measured on
    /// PoCL (Zen 5, 2 cores, batch 8, default parameters, process CPU time in one run;
    /// Benchmarks/NOTES-opencl-solvers.md, ninth session): 1.5–1.7× the implicit GEMM on
    /// 64-channel layers (VGG 224² and 112², ResNet 56²), 2–3.4× on VGG's 128–512-channel
    /// layers from 112² to 14², 1.5× on ResNet's 256→256 14²; 0.8× on 512→512 7², where a
    /// 7² plane fills four 4×4 tiles with 49 outputs of 64 and the 36·K·C transform products
    /// per image are not amortized. Narrower layers were not measured and stay on the implicit GEMM.
    func winogradFilterIsCPUDefault(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        Self.winogradFilterApplies(d, direction: direction) && d.inChannels >= 64 && d.outChannels >= 64
            && min(d.outH, d.outW) >= 14
            && 4 * winogradFilterWorkspaceCount(d, parameters: [:]) <= info.maxBufferBytes
    }

    /// The transformed x and dy of one chunk take about this many bytes at most (the tile
    /// columns are rounded up to 16; one image is the smallest chunk): VGG-16's 64→64 224² layer
    /// at batch 8 runs in chunks of 2 images, 58 MB of X and D per image. The transforms and
    /// GEMMs measured the same per image in chunks of 1, 2 and 8 (the tensors fit no cache), so
    /// a larger chunk only saves launches.
    static let winogradFilterChunkBytes = 128 << 20

    /// The most slices the tile reduction is split into.
    static let winogradFilterMaxSplits = 32

    /// The launch geometry of one problem for resolved parameters.
    struct WinogradFilterPlan {
        let d: Conv2DDescriptor
        let splits, chunkImages: Int
        /// Tiles per work-item of the transforms (WF_STRIP).
        let strip: Int
        var tilesH: Int { ceilDiv(d.outH, 4) }
        var tilesW: Int { ceilDiv(d.outW, 4) }
        var tilesPerImage: Int { tilesH * tilesW }
        /// Columns of X and D for a chunk of `images`: whole 16-float vectors.
        func paddedTiles(_ images: Int) -> Int { ceilDiv(images * tilesPerImage, 16) * 16 }
        /// The transforms' work-items for a chunk of `images`: strips of `strip` tiles along each
        /// tile row (the last one partial), then strips of the padding columns.
        func strips(_ images: Int) -> Int {
            return images * tilesH * ceilDiv(tilesW, strip) + ceilDiv(paddedTiles(images) - images * tilesPerImage, strip)
        }
        /// M's rows: whole 16-float vectors, so the GEMM stores whole vectors.
        var paddedChannels: Int { ceilDiv(d.inChannels, 16) * 16 }
        var xCount: Int { 36 * d.inChannels * paddedTiles(chunkImages) }
        var dCount: Int { 36 * d.outChannels * paddedTiles(chunkImages) }
        var mCount: Int { splits * 36 * d.outChannels * paddedChannels }
        var workspaceCount: Int { xCount + dCount + mCount }
        /// The reduction slice of each split for a chunk of `images`: whole 16-column runs and
        /// whole k steps, so a vector run never straddles two slices.
        func tilesPerSplit(_ images: Int, tk: Int) -> Int {
            let step = max(16, tk)
            return ceilDiv(ceilDiv(paddedTiles(images), splits), step) * step
        }
    }

    /// Images per chunk: as many as keep X and D within `winogradFilterChunkBytes`, spread evenly
    /// over the chunks that takes (8 images in chunks of 4 + 4 rather than 5 + 3).
    func winogradFilterDefaultChunk(_ d: Conv2DDescriptor) -> Int {
        let perImage = 4 * 36 * (d.inChannels + d.outChannels) * ceilDiv(d.outH, 4) * ceilDiv(d.outW, 4)
        let fit = max(1, min(d.batch, Self.winogradFilterChunkBytes / max(1, perImage)))
        return ceilDiv(d.batch, ceilDiv(d.batch, fit))
    }

    /// Slices of the tile reduction: enough work-groups for the device (4 per compute unit on a
    /// GPU, one per compute unit on a CPU, where 36 GEMMs already are 36 groups), with at least
    /// 4 k steps per slice.
    func winogradFilterDefaultSplits(_ d: Conv2DDescriptor, parameters p: TunableParameters, chunk: Int) -> Int {
        let tm = p["TM"] ?? 64, tn = p["TN"] ?? 64, tk = p["TK"] ?? 16
        let groups = 36 * ceilDiv(d.outChannels, tm) * ceilDiv(ceilDiv(d.inChannels, 16) * 16, tn)
        let units = max(1, info.computeUnits)
        let wanted = ceilDiv((info.kind == .gpu ? 4 : 1) * units, groups)
        let kSteps = ceilDiv(chunk * ceilDiv(d.outH, 4) * ceilDiv(d.outW, 4), tk)
        return max(1, min(Self.winogradFilterMaxSplits, wanted, kSteps / 4))
    }

    /// `parameters` completed with the device type's tile, KSPLIT and CHUNK; the tile validated.
    func winogradFilterResolved(_ d: Conv2DDescriptor, _ parameters: TunableParameters) throws
        -> (tile: TunableParameters, plan: WinogradFilterPlan) {
        let table = KernelTunables.winogradFilter
        let tile = try table.validated(table.completed(parameters, for: info).filter { table.names.contains($0.key) },
                                       limits: deviceLimits, solver: "Winograd filter gradient", device: info.name)
        // A chunk larger than the batch is the whole batch.
        let chunk = min(d.batch, parameters["CHUNK"] ?? winogradFilterDefaultChunk(d))
        let splits = parameters["KSPLIT"] ?? winogradFilterDefaultSplits(d, parameters: tile, chunk: chunk)
        guard chunk >= 1, (1...Self.winogradFilterMaxSplits).contains(splits) else {
            throw CNNError.invalidArgument("Winograd filter gradient parameters CHUNK=\(parameters["CHUNK"] ?? chunk) "
                + "KSPLIT=\(splits) are not valid for \(d.problemText): CHUNK (images per chunk) must be at least 1, "
                + "KSPLIT (slices of the tile reduction) 1…\(Self.winogradFilterMaxSplits)")
        }
        return (tile, WinogradFilterPlan(d: d, splits: splits, chunkImages: chunk, strip: tile["WF_STRIP"]!))
    }

    func winogradFilterWorkspaceCount(_ d: Conv2DDescriptor, parameters: TunableParameters) -> Int {
        guard Self.winogradFilterApplies(d, direction: .backwardFilter),
              let plan = try? winogradFilterResolved(d, parameters).plan else { return 0 }
        return plan.workspaceCount
    }

    /// Parameter sets worth timing (the default first): the device type's GEMM tiles, and on
    /// CPUs the default tile with twice and half the default split.
    func winogradFilterCandidates(_ d: Conv2DDescriptor) -> [TunableParameters] {
        let table = KernelTunables.winogradFilter
        let limits = deviceLimits
        let gpu = info.kind == .gpu
        let size = { (p: TunableParameters) in table.localSize(p).reduce(1, *) }
        var tiles = [table.defaults(for: info)]
        for c in table.candidates where !tiles.contains(c) && (gpu ? size(c) >= 64 : size(c) <= 64) { tiles.append(c) }
        var result: [TunableParameters] = []
        for tile in tiles where table.isValid(tile, limits: limits) {
            let chunk = winogradFilterDefaultChunk(d)
            let splits = winogradFilterDefaultSplits(d, parameters: tile, chunk: chunk)
            let set = tile.merging(["KSPLIT": splits, "CHUNK": chunk]) { $1 }
            if !result.contains(set) { result.append(set) }
        }
        return result
    }

    /// dw = conv_backward_filter(x, dy), overwriting dw.
    func winogradFilterBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                      dw: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                      parameters: TunableParameters) throws {
        guard Self.winogradFilterApplies(d, direction: .backwardFilter) else {
            throw CNNError.invalidArgument("the Winograd filter gradient needs a 3×3 kernel, stride 1, dilation 1 and one "
                + "group; got \(d.problemText); use implicit GEMM")
        }
        let (p, plan) = try winogradFilterResolved(d, parameters)
        let needed = plan.workspaceCount
        // The kernels take X's and D's offsets as int.
        guard needed <= Int(Int32.max) else {
            throw CNNError.invalidArgument("the Winograd filter gradient of \(d.problemText) needs a workspace of \(needed) "
                + "floats, more than its kernels index (2³¹ − 1); use a smaller CHUNK or implicit GEMM")
        }
        guard let ws = workspace, ws.count >= needed else {
            throw CNNError.invalidArgument("the Winograd filter gradient needs a workspace of \(needed) floats, got "
                + "\(workspace?.count ?? 0); size it with winogradFilterWorkspaceCount")
        }
        let table = KernelTunables.winogradFilter
        let (c, k, cp) = (d.inChannels, d.outChannels, plan.paddedChannels)
        // Workspace: M first (it outlives the chunks), then the chunk's D and X.
        let (dOffset, xOffset) = (plan.mCount, plan.mCount + plan.dCount)
        let options = table.options(p)
        // The transforms' work-groups: 16 strips of tiles, no local memory.
        let group = 16
        var first = 0
        while first < d.batch {
            let images = min(plan.chunkImages, d.batch - first)
            let pp = plan.paddedTiles(images)
            let strips = ceilDiv(plan.strips(images), group) * group
            try launch("conv_winograd_filter", "winograd_filter_x_transform",
                       KernelLaunch(options: options, global: [strips, c], local: [group, 1]),
                       [.int(first), .int(images), .int(c), .int(d.inH), .int(d.inW), .int(d.padding.top),
                        .int(d.padding.left), .int(plan.tilesH), .int(plan.tilesW), .int(pp), .buffer(x), .buffer(ws),
                        .int(xOffset)])
            try launch("conv_winograd_filter", "winograd_filter_dy_transform",
                       KernelLaunch(options: options, global: [strips, k], local: [group, 1]),
                       [.int(first), .int(images), .int(k), .int(d.outH), .int(d.outW), .int(plan.tilesH),
                        .int(plan.tilesW), .int(pp), .buffer(dy), .buffer(ws), .int(dOffset)])
            let gemm = table.launch(p, extent: [cp, k, 36], tile: [p["TN"]!, p["TM"]!])
            for split in 0..<plan.splits {
                try launch("conv_winograd_filter", "winograd_filter_batched_gemm", gemm,
                           [.int(k), .int(c), .int(cp), .int(pp), .int(split), .int(plan.tilesPerSplit(images, tk: p["TK"]!)),
                            .int(first == 0 ? 0 : 1), .buffer(ws), .int(dOffset), .buffer(ws), .int(xOffset), .buffer(ws)])
            }
            first += images
        }
        try launch("conv_winograd_filter", "winograd_filter_output_transform",
                   KernelLaunch(options: options, global: [ceilDiv(c, group) * group, k], local: [group, 1]),
                   [.int(k), .int(c), .int(cp), .int(plan.splits), .buffer(ws), .buffer(dw)])
    }
}

extension KernelTunables {
    /// Kernels/conv_winograd_filter.cl's batched GEMM: TM × TN work-group tile (dy channels ×
    /// x channels), TK step over tiles, WPT_M × WPT_N per work-item with the columns in vectors
    /// of VW. CPU default: conv_winograd_f4x3.cl's reasoning (PoCL runs a group's work-items one
    /// after another, so each carries an AVX-512-wide register tile) on 64 × 64 tiles, VGG's and
    /// ResNet's 64–512 channels; a k step of 64, as the implicit GEMM's filter gradient measured
    /// best (the reduction is long: 784–25088 tiles per image chunk). The register tile is 4 × 64
    /// (16 float16 accumulators, as 8 × 32): per k, 4 broadcasts of D and 4 vector loads of X
    /// feed its 16 FMAs where 8 × 32 needs 8 + 2; each work-item spans the tile's 64 columns.
    /// Measured on PoCL (Zen 5, 2 cores, process CPU time, A B A B;
    /// Benchmarks/NOTES-opencl-solvers.md, vgg8b): 3–7% less per pass than 8 × 32 on VGG's
    /// 64→64 224², 64→128 and 128→128 112², 256→256 56², the same on ResNet's 64→64 56². GPU
    /// default: 256 work-items of 4 × 4 with float4 loads, until a GPU is measured.
    ///
    /// WF_STRIP, the tiles each work-item of the two transforms covers (a multiple of 4: the
    /// kernels work on 4 tiles as float4s): 16 on CPUs, where a work-item writing whole 64-byte
    /// lines ran the x transform in 53–56 CPU ms per VGG 64→64 224² pass on PoCL against 79–80
    /// for an earlier form on strips of 4 (swizzled float16 loads; vgg8, NOTES-opencl-solvers.md;
    /// this form at 4 was not timed on PoCL); 4 on GPUs, where a strip of 16 holds a 480-float
    /// private patch (x's 6 rows of 68 columns plus dy's) that no register file keeps, and where
    /// each store instruction of a warp should cover consecutive addresses: with 4, consecutive
    /// work-items write consecutive float4s (a 192-float x patch; still large — staging through
    /// local memory is the GPU's next step).
    static let winogradFilter = TunableKernel.gemmTile(
        program: "conv_winograd_filter",
        cpuDefault: ["TM": 64, "TN": 64, "TK": 64, "WPT_M": 4, "WPT_N": 64, "VW": 16, "WF_STRIP": 16],
        gpuDefault: ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4, "WF_STRIP": 4],
        candidates: [
            // GPU shapes: many work-items, small register tiles.
            ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4, "WF_STRIP": 4],
            ["TM": 32, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4, "WF_STRIP": 4],
            ["TM": 128, "TN": 128, "TK": 16, "WPT_M": 8, "WPT_N": 8, "VW": 4, "WF_STRIP": 4],
            // CPU shapes: few work-items, each a SIMD-wide register tile.
            ["TM": 64, "TN": 64, "TK": 64, "WPT_M": 4, "WPT_N": 64, "VW": 16, "WF_STRIP": 16],
            ["TM": 64, "TN": 64, "TK": 64, "WPT_M": 8, "WPT_N": 32, "VW": 16, "WF_STRIP": 16],
            ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16, "WF_STRIP": 16],
            ["TM": 128, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16, "WF_STRIP": 16],
            ["TM": 64, "TN": 128, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16, "WF_STRIP": 16],
        ],
        more: ["WF_STRIP": [4, 8, 16]])
}
