/// Convolution of layers that read very few input channels (Kernels/conv_few_channels.cl):
/// image stems such as VGG-16's 3×3 3→64 and ResNet-50's 7×7/2 3→64, forward and filter
/// gradient. Their GEMM has a tiny reduction (Cg·R·S = 27 or 147) and a huge pixel dimension,
/// so the implicit GEMM's per-tile staging and output writes dominate it (VGG's layer ran at
/// 38–41 GFLOP/s there). Here a work-group stages the few input rows it needs once and every
/// work-item reuses them for all output channels; the filter gradient sums per tile of output
/// rows into partials that a second pass adds in order. The input gradient (a non-leaf stem's:
/// training never needs an image's) reduces over the many output channels a staged block at a
/// time, each work-item holding all the few input channels of a run of pixels, one register
/// vector per stride phase, so a strided layer spends no multiply-add on a tap that skips a
/// pixel (the direct kernel ran the 224² stem's at 9 GFLOP/s).
///
/// The program is built per problem (`-D` geometry), so every loop has a constant trip count.
extension OpenCLBackend {
    /// Applies to at most this many input channels per group and taps (Cg·R·S).
    static let fewChannelsMaxInputChannels = 4
    static let fewChannelsMaxTaps = 160
    /// The weights are read from constant memory: OpenCL 1.2 guarantees 64 KiB of it.
    static let fewChannelsConstantBytes = 64 * 1024
    /// Local memory every device offers (OpenCL 1.2's minimum): the smallest tiles must fit it.
    static let fewChannelsMinLocalBytes = 32 * 1024

    /// The per-problem shape of one launch, from the tunables and the device's limits.
    struct FewChannelsGeometry {
        let d: Conv2DDescriptor
        let vp: Int
        var owp: Int { ceilDiv(d.outW, vp) * vp }
        var vectorsPerRow: Int { owp / vp }
        var phaseW: Int { owp + (d.kernelW - 1) * d.dilationW / d.strideW }
        var xcols: Int { d.strideW * phaseW }
        func xrows(_ rows: Int) -> Int { (rows - 1) * d.strideH + (d.kernelH - 1) * d.dilationH + 1 }

        func forwardLocalBytes(rows: Int) -> Int { 4 * d.inChannels * xrows(rows) * xcols }
        /// With FC_DYL = 1 the group's dy rows are staged too.
        func filterLocalBytes(rows: Int, channels: Int, stagedDY: Bool) -> Int {
            forwardLocalBytes(rows: rows) + (stagedDY ? 4 * channels * rows * owp : 0)
        }
        func filterItems(channels: Int, perItem: Int) -> Int { channels / perItem * d.inChannels * d.kernelH }

        // Backward data (the macros of conv_few_channels_backward_data): a work-item covers
        // `dataTileWidth` dx columns, `bv` vectors per column phase.
        func dataTileWidth(bv: Int) -> Int { d.strideW * bv * vp }
        func dataItemsPerRow(bv: Int) -> Int { ceilDiv(d.inW, dataTileWidth(bv: bv)) }
        func dataCols(bv: Int) -> Int {
            let left = (d.kernelW - 1) * d.dilationW - d.padding.left
            return (left > 0 ? ceilDiv(left, d.strideW) : 0) + dataItemsPerRow(bv: bv) * bv * vp
                + (d.padding.left + d.strideW - 1) / d.strideW
        }
        func dataRows(_ rows: Int) -> Int { (rows - 1 + (d.kernelH - 1) * d.dilationH) / d.strideH + 1 }
        /// Output channels per staged block: COUT split into equal blocks of at most `upTo`.
        func dataBlock(upTo: Int) -> Int { ceilDiv(d.outChannels, ceilDiv(d.outChannels, upTo)) }
        func dataLocalBytes(rows: Int, block: Int, bv: Int) -> Int {
            4 * block * (d.inChannels * d.kernelH * d.kernelW + dataRows(rows) * dataCols(bv: bv))
        }
        /// Backward data: the most dx rows ≤ `upTo` whose staged block fits `localBytes` with at
        /// most `maxItems` work-items; nil when not even one row does.
        func dataRows(upTo: Int, block: Int, bv: Int, localBytes: Int, maxItems: Int) -> Int? {
            (1...max(1, min(upTo, d.inH))).reversed().first {
                dataLocalBytes(rows: $0, block: block, bv: bv) <= localBytes && $0 * dataItemsPerRow(bv: bv) <= maxItems
            }
        }

        /// Forward: the most output rows ≤ `upTo` whose staged input fits `localBytes` with at
        /// most `maxItems` work-items; nil when not even one row does.
        func forwardRows(upTo: Int, localBytes: Int, maxItems: Int) -> Int? {
            (1...max(1, min(upTo, d.outH))).reversed().first {
                forwardLocalBytes(rows: $0) <= localBytes && $0 * vectorsPerRow <= maxItems
            }
        }

        /// Backward filter: (output rows, output channels) per work-group, the most channels
        /// first (each channel block re-stages x), then the most rows.
        func filterTile(rows upTo: Int, channels maxChannels: Int, perItem: Int, stagedDY: Bool, localBytes: Int,
                        maxItems: Int) -> (rows: Int, channels: Int)? {
            var channels = min(maxChannels, ceilDiv(d.outChannels, perItem) * perItem)
            while channels >= perItem {
                if filterItems(channels: channels, perItem: perItem) <= maxItems,
                   let rows = (1...max(1, min(upTo, d.outH))).reversed().first(where: {
                       filterLocalBytes(rows: $0, channels: channels, stagedDY: stagedDY) <= localBytes }) {
                    return (rows, channels)
                }
                channels -= perItem
            }
            return nil
        }

        var defines: [String] {
            ["CIN=\(d.inChannels)", "COUT=\(d.outChannels)", "IN_H=\(d.inH)", "IN_W=\(d.inW)", "OUT_H=\(d.outH)",
             "OUT_W=\(d.outW)", "KH=\(d.kernelH)", "KW=\(d.kernelW)", "SH=\(d.strideH)", "SW=\(d.strideW)",
             "DH=\(d.dilationH)", "DW=\(d.dilationW)", "PAD_T=\(d.padding.top)", "PAD_L=\(d.padding.left)"]
        }
    }

    /// Every direction of ungrouped layers with at most 4 input channels and 160 taps whose
    /// weights fit constant memory and whose one-row tiles fit 32 KiB of local memory.
    static func fewChannelsApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        guard d.groups == 1, d.inChannels <= fewChannelsMaxInputChannels,
              d.inChannels * d.kernelH * d.kernelW <= fewChannelsMaxTaps,
              d.weightCount * 4 <= fewChannelsConstantBytes,
              d.inputCount <= Int(Int32.max), d.outputCount <= Int(Int32.max) else { return false }
        let allowed = KernelTunables.fewChannels.allowed
        let g = FewChannelsGeometry(d: d, vp: allowed["FC_VP"]!.max()!)
        let minItems = 64   // the smallest maximum work-group size worth supporting
        if direction == .forward {
            return g.forwardRows(upTo: 1, localBytes: fewChannelsMinLocalBytes, maxItems: max(minItems, g.vectorsPerRow)) != nil
                && g.vectorsPerRow <= 256
        }
        if direction == .backwardData {
            let bv = allowed["FC_DBV"]!.min()!
            return g.dataRows(upTo: 1, block: g.dataBlock(upTo: allowed["FC_DOB"]!.min()!), bv: bv,
                              localBytes: fewChannelsMinLocalBytes, maxItems: 256) != nil
        }
        let perItem = allowed["FC_FOB"]!.min()!
        return g.filterTile(rows: 1, channels: allowed["FC_FCB"]!.min()!, perItem: perItem, stagedDY: true,
                            localBytes: fewChannelsMinLocalBytes, maxItems: 256) != nil
            && partialTiles(d, rows: 1) * d.weightCount <= Int(Int32.max)
    }

    /// Parameter sets worth timing, the default for `d` first (`fewChannelsDefault`).
    func fewChannelsCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = KernelTunables.fewChannels
        var result: [TunableParameters] = []
        for p in [fewChannelsDefault(d)] + table.candidates where !result.contains(p) && fewChannelsFits(d, direction, p) {
            // Forward reads FC_VP, FC_OB, FC_ROWS; backward filter FC_VP and the FC_F* ones;
            // backward data FC_VP and the FC_D* ones.
            let read = switch direction {
            case .forward: ["FC_VP", "FC_OB", "FC_ROWS"]
            case .backwardFilter: ["FC_VP", "FC_FROWS", "FC_FOB", "FC_FCB", "FC_DYL"]
            case .backwardData: ["FC_VP", "FC_DROWS", "FC_DOB", "FC_DBV"]
            }
            if result.contains(where: { q in read.allSatisfy { q[$0] == p[$0] } }) { continue }
            result.append(p)
        }
        return result
    }

    /// The device type's default, with the forward's channel tile narrowed for layers of few
    /// output channels: a tile of FC_OB channels computes ⌈COUT / FC_OB⌉·FC_OB of them, so
    /// LeNet-5's 6-channel conv1 computed 16 at the CPU default (0.91 ms a forward at batch 64
    /// on PoCL, Zen 3) and 8 at FC_OB 8 (0.38 ms; Benchmarks/NOTES-opencl-solvers.md). The
    /// largest allowed FC_OB up to the default among those computing the fewest channels: at
    /// 16, 32 or 64 channels, the default itself.
    func fewChannelsDefault(_ d: Conv2DDescriptor) -> TunableParameters {
        let table = KernelTunables.fewChannels
        var p = table.defaults(for: info)
        let computed = { (ob: Int) in ceilDiv(d.outChannels, ob) * ob }
        p["FC_OB"] = table.allowed["FC_OB"]!.filter { $0 <= p["FC_OB"]! }
            .min { (computed($0), -$0) < (computed($1), -$1) }
        return p
    }

    /// Backward filter: one partial dw per tile of output rows.
    func fewChannelsWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                   parameters: TunableParameters) -> Int {
        guard direction == .backwardFilter, let tile = try? fewChannelsFilterTile(d, fewChannelsParameters(parameters))
        else { return 0 }
        return Self.partialTiles(d, rows: tile.rows) * d.weightCount
    }

    func fewChannelsForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                            bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                            parameters: TunableParameters) throws {
        let p = try fewChannelsChecked(d, .forward, parameters)
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        let limits = deviceLimits
        guard let rows = g.forwardRows(upTo: p["FC_ROWS"]!, localBytes: limits.localMemoryBytes,
                                       maxItems: limits.maxWorkGroupSize) else {
            throw CNNError.invalidArgument("few-channel convolution forward: one output row of \(d.problemText) needs "
                + "\(g.forwardLocalBytes(rows: 1)) bytes of local memory and \(g.vectorsPerRow) work-items; \(info.name) "
                + "offers \(limits.localMemoryBytes) and \(limits.maxWorkGroupSize). Use implicit GEMM")
        }
        let items = rows * g.vectorsPerRow
        try launch("conv_few_channels", "conv_few_channels_forward",
                   KernelLaunch(options: KernelTunables.fewChannels.options(p, extra: g.defines + ["ROWS=\(rows)"]),
                                global: [ceilDiv(d.outH, rows) * items, d.batch], local: [items, 1]),
                   [.buffer(x), .buffer(weight), .buffer(y), .int(bias == nil ? 0 : 1), .buffer(bias ?? y),
                    .int(activation.kernelCode), .float(activation?.alpha ?? 0)])
    }

    /// dw = conv_backward_filter(x, dy), overwriting dw; `workspace` holds
    /// `fewChannelsWorkspaceCount` elements.
    func fewChannelsBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                   dw: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                   parameters: TunableParameters) throws {
        let p = try fewChannelsChecked(d, .backwardFilter, parameters)
        let tile = try fewChannelsFilterTile(d, p)
        let tiles = Self.partialTiles(d, rows: tile.rows)
        let needed = tiles * d.weightCount
        guard let workspace, workspace.count >= needed else {
            throw CNNError.invalidArgument("few-channel convolution backward filter over \(tiles) row tiles needs a "
                + "workspace of \(needed) floats, got \(workspace?.count ?? 0); size it with fewChannelsWorkspaceCount")
        }
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        let items = g.filterItems(channels: tile.channels, perItem: p["FC_FOB"]!)
        let options = KernelTunables.fewChannels.options(p, extra: g.defines + ["FROWS=\(tile.rows)", "FCB=\(tile.channels)"])
        try launch("conv_few_channels", "conv_few_channels_backward_filter",
                   KernelLaunch(options: options, global: [ceilDiv(d.outH, tile.rows) * items,
                                                           ceilDiv(d.outChannels, tile.channels), d.batch],
                                local: [items, 1, 1]),
                   [.buffer(x), .buffer(dy), .buffer(workspace)])
        try launch("conv_few_channels", "conv_few_channels_reduce",
                   KernelLaunch(options: options, global: [ceilDiv(d.weightCount, 64) * 64], local: [64]),
                   [.int(d.weightCount), .int(tiles), .buffer(workspace), .buffer(dw)])
    }

    /// dx = conv_backward_data(dy, w), overwriting dx; no workspace.
    func fewChannelsBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                 dx: any DeviceBuffer, parameters: TunableParameters) throws {
        let p = try fewChannelsChecked(d, .backwardData, parameters)
        let tile = try fewChannelsDataTile(d, p)
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        let items = tile.rows * g.dataItemsPerRow(bv: p["FC_DBV"]!)
        let options = KernelTunables.fewChannels.options(p, extra: g.defines + ["DROWS=\(tile.rows)", "DOB=\(tile.block)"])
        try launch("conv_few_channels", "conv_few_channels_backward_data",
                   KernelLaunch(options: options, global: [ceilDiv(d.inH, tile.rows) * items, d.batch], local: [items, 1]),
                   [.buffer(dy), .buffer(weight), .buffer(dx)])
    }

    // MARK: Helpers

    /// Partial sums of the filter gradient: one per image and tile of `rows` output rows.
    static func partialTiles(_ d: Conv2DDescriptor, rows: Int) -> Int { d.batch * ceilDiv(d.outH, rows) }

    private func fewChannelsFilterTile(_ d: Conv2DDescriptor, _ p: TunableParameters) throws -> (rows: Int, channels: Int) {
        let limits = deviceLimits
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        guard let tile = g.filterTile(rows: p["FC_FROWS"]!, channels: p["FC_FCB"]!, perItem: p["FC_FOB"]!,
                                      stagedDY: p["FC_DYL"]! == 1, localBytes: limits.localMemoryBytes, maxItems: limits.maxWorkGroupSize) else {
            throw CNNError.invalidArgument("few-channel convolution backward filter: no tile of \(d.problemText) with "
                + "\(p["FC_FOB"]!) output channels per work-item fits \(info.name)'s \(limits.localMemoryBytes) bytes of "
                + "local memory and \(limits.maxWorkGroupSize) work-items; choose a smaller FC_FOB or use implicit GEMM")
        }
        return tile
    }

    /// Backward data: (dx rows per work-group, output channels per staged block).
    private func fewChannelsDataTile(_ d: Conv2DDescriptor, _ p: TunableParameters) throws -> (rows: Int, block: Int) {
        let limits = deviceLimits
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        let block = g.dataBlock(upTo: p["FC_DOB"]!)
        guard let rows = g.dataRows(upTo: p["FC_DROWS"]!, block: block, bv: p["FC_DBV"]!, localBytes: limits.localMemoryBytes,
                                    maxItems: limits.maxWorkGroupSize) else {
            throw CNNError.invalidArgument("few-channel convolution backward data: one dx row of \(d.problemText) with "
                + "blocks of \(block) output channels needs \(g.dataLocalBytes(rows: 1, block: block, bv: p["FC_DBV"]!)) "
                + "bytes of local memory and \(g.dataItemsPerRow(bv: p["FC_DBV"]!)) work-items; \(info.name) offers "
                + "\(limits.localMemoryBytes) and \(limits.maxWorkGroupSize). Choose a smaller FC_DOB or use the direct kernel")
        }
        return (rows, block)
    }

    private func fewChannelsFits(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ p: TunableParameters) -> Bool {
        guard KernelTunables.fewChannels.isValid(p, limits: deviceLimits) else { return false }
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        let limits = deviceLimits
        switch direction {
        case .forward:
            return g.forwardRows(upTo: p["FC_ROWS"]!, localBytes: limits.localMemoryBytes, maxItems: limits.maxWorkGroupSize) != nil
        case .backwardFilter: return (try? fewChannelsFilterTile(d, p)) != nil
        case .backwardData: return (try? fewChannelsDataTile(d, p)) != nil
        }
    }

    private func fewChannelsChecked(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection,
                                    _ parameters: TunableParameters) throws -> TunableParameters {
        guard Self.fewChannelsApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("few-channel convolution (\(direction.rawValue)) needs one group, at most "
                + "\(Self.fewChannelsMaxInputChannels) input channels, at most \(Self.fewChannelsMaxTaps) taps "
                + "(channels × kernel), weights within \(Self.fewChannelsConstantBytes) bytes and one-row tiles "
                + "within \(Self.fewChannelsMinLocalBytes) bytes of local memory; got \(d.problemText). Use implicit "
                + "GEMM or the direct kernels")
        }
        return try KernelTunables.fewChannels.validated(fewChannelsParameters(parameters), limits: deviceLimits,
                                                        solver: "few-channel convolution", device: info.name)
    }

    private func fewChannelsParameters(_ parameters: TunableParameters) -> TunableParameters {
        KernelTunables.fewChannels.completed(parameters, for: info)
    }
}

extension KernelTunables {
    /// Kernels/conv_few_channels.cl. Forward: FC_VP-pixel vectors × FC_OB output channels per
    /// register tile, FC_ROWS output rows per work-group. Backward filter: FC_FROWS output rows
    /// and FC_FCB output channels per work-group, FC_FOB channels × KW taps of vectors per
    /// work-item, FC_DYL whether dy is staged in local memory. Backward data: FC_DROWS dx rows
    /// and FC_DOB output channels staged per block, FC_DBV vectors per column phase per
    /// work-item (its register tile: CIN × stride × FC_DBV vectors). Local memory and work-group size
    /// depend on the problem, so the solver sizes the tiles to the device (`FewChannelsGeometry`).
    /// CPU defaults, measured on PoCL (Zen 5, 2 cores, VGG's 3×3 3→64 and ResNet's 7×7/2 stem
    /// at 224², NOTES-opencl-solvers.md, sixth session): AVX-512-wide vectors and 16
    /// accumulators (PoCL runs a group's work-items one after another, so the register tile
    /// carries the SIMD width; 4- and 8-pixel vectors ran 2–5× slower, 8 forward channels per
    /// tile no faster); filter groups of 16 rows with 4 channels × KW taps per work-item (8
    /// rows 1.2–2.3× slower, 8 channels 1.3–2× slower; 1 row 4–7× slower: the lane sums and
    /// partials dominate); dy read in place (staging it, a copy on a device whose local memory
    /// is ordinary memory, was 1.3–5× slower). Backward data (eighth session, under load 12):
    /// 8 rows and 8 channels per block, 2 vectors per phase (6 or 12 accumulators for 3
    /// channels: 1 vector per phase left VGG's 3 accumulators waiting on the multiply-add
    /// latency; 3–4 were no faster), staged blocks of 35–100 KB (64-channel blocks of 150–350 KB
    /// ran 1.3–2.7× slower: every work-item walks the whole block, so it should stay in cache).
    /// GPU defaults, until a GPU is measured: 4-pixel vectors, 100–200 work-items per group, dy
    /// staged in local memory.
    static let fewChannels = TunableKernel(
        program: "conv_few_channels",
        names: ["FC_VP", "FC_OB", "FC_ROWS", "FC_FROWS", "FC_FOB", "FC_FCB", "FC_DYL", "FC_DROWS", "FC_DOB", "FC_DBV"],
        allowed: ["FC_VP": [4, 8, 16], "FC_OB": [4, 8, 16], "FC_ROWS": [1, 2, 4, 8],
                  "FC_FROWS": [1, 2, 4, 8, 16, 32], "FC_FOB": [1, 2, 4, 8], "FC_FCB": [8, 16, 32, 64], "FC_DYL": [0, 1],
                  "FC_DROWS": [1, 2, 4, 8, 16], "FC_DOB": [8, 16, 32, 64], "FC_DBV": [1, 2, 3, 4]],
        cpuDefault: ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 16, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 0,
                     "FC_DROWS": 8, "FC_DOB": 8, "FC_DBV": 2],
        gpuDefault: ["FC_VP": 4, "FC_OB": 8, "FC_ROWS": 4, "FC_FROWS": 1, "FC_FOB": 2, "FC_FCB": 16, "FC_DYL": 1,
                     "FC_DROWS": 4, "FC_DOB": 8, "FC_DBV": 1],
        candidates: [
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 16, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 0,
             "FC_DROWS": 8, "FC_DOB": 8, "FC_DBV": 2],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 16, "FC_FOB": 8, "FC_FCB": 64, "FC_DYL": 0,
             "FC_DROWS": 16, "FC_DOB": 16, "FC_DBV": 2],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 8, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 0,
             "FC_DROWS": 4, "FC_DOB": 16, "FC_DBV": 2],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 2, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 1,
             "FC_DROWS": 8, "FC_DOB": 16, "FC_DBV": 1],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 1, "FC_FROWS": 1, "FC_FOB": 2, "FC_FCB": 64, "FC_DYL": 0,
             "FC_DROWS": 8, "FC_DOB": 16, "FC_DBV": 2],
            ["FC_VP": 16, "FC_OB": 8, "FC_ROWS": 8, "FC_FROWS": 4, "FC_FOB": 8, "FC_FCB": 64, "FC_DYL": 0,
             "FC_DROWS": 2, "FC_DOB": 8, "FC_DBV": 2],
            ["FC_VP": 8, "FC_OB": 16, "FC_ROWS": 2, "FC_FROWS": 8, "FC_FOB": 4, "FC_FCB": 32, "FC_DYL": 1,
             "FC_DROWS": 8, "FC_DOB": 16, "FC_DBV": 2],
            ["FC_VP": 4, "FC_OB": 8, "FC_ROWS": 4, "FC_FROWS": 1, "FC_FOB": 2, "FC_FCB": 16, "FC_DYL": 1,
             "FC_DROWS": 4, "FC_DOB": 8, "FC_DBV": 1],
            ["FC_VP": 4, "FC_OB": 4, "FC_ROWS": 8, "FC_FROWS": 2, "FC_FOB": 1, "FC_FCB": 8, "FC_DYL": 0,
             "FC_DROWS": 8, "FC_DOB": 16, "FC_DBV": 2],
        ],
        localSize: { _ in [1] },
        localBytes: { _ in 0 },
        consistent: { p in p["FC_FCB"]! % p["FC_FOB"]! == 0 })
}
