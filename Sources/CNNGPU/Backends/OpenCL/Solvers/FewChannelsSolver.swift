/// Convolution of layers that read very few input channels (Kernels/conv_few_channels.cl):
/// image stems such as VGG-16's 3×3 3→64 and ResNet-50's 7×7/2 3→64, forward and filter
/// gradient. Their GEMM has a tiny reduction (Cg·R·S = 27 or 147) and a huge pixel dimension,
/// so the implicit GEMM's per-tile staging and output writes dominate it (VGG's layer ran at
/// 38–41 GFLOP/s there). Here a work-group stages the few input rows it needs once and every
/// work-item reuses them for all output channels; the filter gradient sums per tile of output
/// rows into partials that a second pass adds in order. The input gradient is not offered:
/// training never needs the first layer's, and the direct kernel already serves it.
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

    /// Forward and backward filter of ungrouped layers with at most 4 input channels and 160
    /// taps whose weights fit constant memory and whose one-row tiles fit 32 KiB of local memory.
    static func fewChannelsApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        guard direction != .backwardData, d.groups == 1, d.inChannels <= fewChannelsMaxInputChannels,
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
        let perItem = allowed["FC_FOB"]!.min()!
        return g.filterTile(rows: 1, channels: allowed["FC_FCB"]!.min()!, perItem: perItem, stagedDY: true,
                            localBytes: fewChannelsMinLocalBytes, maxItems: 256) != nil
            && partialTiles(d, rows: 1) * d.weightCount <= Int(Int32.max)
    }

    /// Parameter sets worth timing, the device type's default first.
    func fewChannelsCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = KernelTunables.fewChannels
        var result: [TunableParameters] = []
        for p in [table.defaults(for: info.kind)] + table.candidates where !result.contains(p) && fewChannelsFits(d, direction, p) {
            // Forward reads FC_VP, FC_OB, FC_ROWS; backward filter FC_VP and the FC_F* ones.
            let read = direction == .forward ? ["FC_VP", "FC_OB", "FC_ROWS"] : ["FC_VP", "FC_FROWS", "FC_FOB", "FC_FCB", "FC_DYL"]
            if result.contains(where: { q in read.allSatisfy { q[$0] == p[$0] } }) { continue }
            result.append(p)
        }
        return result
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

    private func fewChannelsFits(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ p: TunableParameters) -> Bool {
        guard KernelTunables.fewChannels.isValid(p, limits: deviceLimits) else { return false }
        let g = FewChannelsGeometry(d: d, vp: p["FC_VP"]!)
        let limits = deviceLimits
        return direction == .forward
            ? g.forwardRows(upTo: p["FC_ROWS"]!, localBytes: limits.localMemoryBytes, maxItems: limits.maxWorkGroupSize) != nil
            : (try? fewChannelsFilterTile(d, p)) != nil
    }

    private func fewChannelsChecked(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection,
                                    _ parameters: TunableParameters) throws -> TunableParameters {
        guard Self.fewChannelsApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("few-channel convolution (\(direction.rawValue)) needs one group, at most "
                + "\(Self.fewChannelsMaxInputChannels) input channels, at most \(Self.fewChannelsMaxTaps) taps "
                + "(channels × kernel), weights within \(Self.fewChannelsConstantBytes) bytes and no input gradient; "
                + "got \(d.problemText). Use implicit GEMM or the direct kernels")
        }
        return try KernelTunables.fewChannels.validated(fewChannelsParameters(parameters), limits: deviceLimits,
                                                        solver: "few-channel convolution", device: info.name)
    }

    private func fewChannelsParameters(_ parameters: TunableParameters) -> TunableParameters {
        KernelTunables.fewChannels.completed(parameters, for: info.kind)
    }
}

extension KernelTunables {
    /// Kernels/conv_few_channels.cl. Forward: FC_VP-pixel vectors × FC_OB output channels per
    /// register tile, FC_ROWS output rows per work-group. Backward filter: FC_FROWS output rows
    /// and FC_FCB output channels per work-group, FC_FOB channels × KW taps of vectors per
    /// work-item, FC_DYL whether dy is staged in local memory. Local memory and work-group size
    /// depend on the problem, so the solver sizes the tiles to the device (`FewChannelsGeometry`).
    /// CPU defaults, measured on PoCL (Zen 5, 2 cores, VGG's 3×3 3→64 and ResNet's 7×7/2 stem
    /// at 224², NOTES-opencl-solvers.md, sixth session): AVX-512-wide vectors and 16
    /// accumulators (PoCL runs a group's work-items one after another, so the register tile
    /// carries the SIMD width; 4- and 8-pixel vectors ran 2–5× slower, 8 forward channels per
    /// tile no faster); filter groups of 16 rows with 4 channels × KW taps per work-item (8
    /// rows 1.2–2.3× slower, 8 channels 1.3–2× slower; 1 row 4–7× slower: the lane sums and
    /// partials dominate); dy read in place (staging it, a copy on a device whose local memory
    /// is ordinary memory, was 1.3–5× slower).
    /// GPU defaults, until a GPU is measured: 4-pixel vectors, 100–200 work-items per group, dy
    /// staged in local memory.
    static let fewChannels = TunableKernel(
        program: "conv_few_channels",
        names: ["FC_VP", "FC_OB", "FC_ROWS", "FC_FROWS", "FC_FOB", "FC_FCB", "FC_DYL"],
        allowed: ["FC_VP": [4, 8, 16], "FC_OB": [4, 8, 16], "FC_ROWS": [1, 2, 4, 8],
                  "FC_FROWS": [1, 2, 4, 8, 16, 32], "FC_FOB": [1, 2, 4, 8], "FC_FCB": [8, 16, 32, 64], "FC_DYL": [0, 1]],
        cpuDefault: ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 16, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 0],
        gpuDefault: ["FC_VP": 4, "FC_OB": 8, "FC_ROWS": 4, "FC_FROWS": 1, "FC_FOB": 2, "FC_FCB": 16, "FC_DYL": 1],
        candidates: [
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 16, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 0],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 16, "FC_FOB": 8, "FC_FCB": 64, "FC_DYL": 0],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 8, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 0],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 4, "FC_FROWS": 2, "FC_FOB": 4, "FC_FCB": 64, "FC_DYL": 1],
            ["FC_VP": 16, "FC_OB": 16, "FC_ROWS": 1, "FC_FROWS": 1, "FC_FOB": 2, "FC_FCB": 64, "FC_DYL": 0],
            ["FC_VP": 16, "FC_OB": 8, "FC_ROWS": 8, "FC_FROWS": 4, "FC_FOB": 8, "FC_FCB": 64, "FC_DYL": 0],
            ["FC_VP": 8, "FC_OB": 16, "FC_ROWS": 2, "FC_FROWS": 8, "FC_FOB": 4, "FC_FCB": 32, "FC_DYL": 1],
            ["FC_VP": 4, "FC_OB": 8, "FC_ROWS": 4, "FC_FROWS": 1, "FC_FOB": 2, "FC_FCB": 16, "FC_DYL": 1],
            ["FC_VP": 4, "FC_OB": 4, "FC_ROWS": 8, "FC_FROWS": 2, "FC_FOB": 1, "FC_FCB": 8, "FC_DYL": 0],
        ],
        localSize: { _ in [1] },
        localBytes: { _ in 0 },
        consistent: { p in p["FC_FCB"]! % p["FC_FOB"]! == 0 })
}
