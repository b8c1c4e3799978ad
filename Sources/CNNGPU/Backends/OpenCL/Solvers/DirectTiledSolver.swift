/// Tiled direct convolution (Kernels/conv_direct_tiled.cl) for narrow, stride-1, undilated,
/// ungrouped layers: LeNet's 1→6 and 6→16 5×5. There a GEMM tile of 32–64 rows is mostly
/// padding, im2col copies the input kh·kw times, and the row-per-work-item direct kernels ran at
/// 2–4 GFLOP/s on PoCL. Each work-group stages its input rows and weights in local memory once
/// and each work-item keeps a vector of output channels for several pixels in registers.
/// Backward data is the forward kernel on dy (weights flipped and channel axes swapped while
/// staged); backward filter sums over slices of the batch, then adds the slices in order.
///
/// The program is built per problem (`-D` geometry), so every loop has a constant trip count;
/// on PoCL that is what turns the inner loops into straight AVX-512 code.
extension OpenCLBackend {
    /// The local memory a work-group may use: OpenCL 1.2's guaranteed minimum, so every device
    /// can run what applies.
    static let directTiledLocalBytes = 32 * 1024
    /// Forward work-groups stay within the smallest maximum work-group size devices report.
    static let directTiledMaxItems = 256
    /// Output channels a forward work-item accumulates (one pixel vector each): with the input
    /// vector, within AVX-512's 32 registers.
    static let directTiledMaxOutputBlock = 16

    /// The convolution one launch computes: the forward problem, or for backward data its
    /// adjoint (dy in, dx out, padding k-1-pad).
    struct DirectTiledGeometry: Equatable {
        var cIn: Int, cOut: Int, inH: Int, inW: Int, outH: Int, outW: Int, kh: Int, kw: Int, padTop: Int, padLeft: Int
        var adjoint: Bool

        init(_ d: Conv2DDescriptor, adjoint: Bool) {
            if adjoint {
                (cIn, cOut, inH, inW, outH, outW) = (d.outChannels, d.inChannels, d.outH, d.outW, d.inH, d.inW)
                (padTop, padLeft) = (d.kernelH - 1 - d.padding.top, d.kernelW - 1 - d.padding.left)
            } else {
                (cIn, cOut, inH, inW, outH, outW) = (d.inChannels, d.outChannels, d.inH, d.inW, d.outH, d.outW)
                (padTop, padLeft) = (d.padding.top, d.padding.left)
            }
            (kh, kw) = (d.kernelH, d.kernelW)
            self.adjoint = adjoint
        }

        /// Backward filter: output channels per work-item, the written channels rounded up to
        /// a vector width, at most 16.
        var vw: Int { [1, 2, 4, 8, 16].first { $0 >= cOut } ?? 16 }
        /// Forward: output channels per work-item.
        var ob: Int { min(cOut, OpenCLBackend.directTiledMaxOutputBlock) }
        var taps: Int { cIn * kh * kw }
        var outputBlocks: Int { ceilDiv(cOut, vw) }
        var tileW: Int { outW + kw - 1 }

        /// Bytes of local memory at `rows` output rows per work-group.
        func localBytes(rows: Int, backwardFilter: Bool, vp: Int) -> Int {
            let xs = cIn * (rows + kh - 1) * tileW
            return 4 * (backwardFilter ? xs + rows * outW * vw : xs + kw + vp + taps * ob)
        }

        /// Forward: the pixel vectors of a tile of `rows` rows (the work-items of its group).
        func items(rows: Int, vp: Int) -> Int { ceilDiv((rows - 1) * tileW + outW, vp) }

        /// Output rows per work-group: forward as many as `maxItems` work-items of `vp`-pixel
        /// vectors cover, backward filter whole planes; fewer where local memory runs out, nil
        /// when not even one row fits.
        func tileRows(maxItems: Int, vp: Int, backwardFilter: Bool) -> Int? {
            var rows = outH
            func fits(_ r: Int) -> Bool {
                localBytes(rows: r, backwardFilter: backwardFilter, vp: vp) <= OpenCLBackend.directTiledLocalBytes
                    && (backwardFilter || items(rows: r, vp: vp) <= maxItems)
            }
            while rows > 1 && !fits(rows) { rows -= 1 }
            guard localBytes(rows: rows, backwardFilter: backwardFilter, vp: vp) <= OpenCLBackend.directTiledLocalBytes,
                  backwardFilter || items(rows: rows, vp: vp) <= OpenCLBackend.directTiledMaxItems else { return nil }
            return rows
        }

        func defines(rows: Int) -> [String] {
            ["CIN=\(cIn)", "COUT=\(cOut)", "IN_H=\(inH)", "IN_W=\(inW)", "OUT_H=\(outH)", "OUT_W=\(outW)",
             "KH=\(kh)", "KW=\(kw)", "PAD_T=\(padTop)", "PAD_L=\(padLeft)", "VW=\(vw)", "OB=\(ob)",
             "TILE_ROWS=\(rows)", "ADJOINT=\(adjoint ? 1 : 0)"]
        }
    }

    static func directTiledApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        guard d.strideH == 1, d.strideW == 1, d.dilationH == 1, d.dilationW == 1, d.groups == 1 else { return false }
        // The adjoint's padding k-1-pad must not be negative.
        if direction == .backwardData, d.padding.top >= d.kernelH || d.padding.left >= d.kernelW { return false }
        let g = DirectTiledGeometry(d, adjoint: direction == .backwardData)
        let allowed = KernelTunables.directTiled.allowed
        // Indices stay in Int32 inside the kernel except the image offsets, which use size_t.
        return g.tileRows(maxItems: allowed["DT_VECTORS"]!.min()!, vp: allowed["DT_VP"]!.max()!,
                          backwardFilter: direction == .backwardFilter) != nil
            && d.inputCount <= Int(Int32.max) && d.outputCount <= Int(Int32.max)
            && d.weightCount * d.batch <= Int(Int32.max)
    }

    /// Parameter sets worth timing (the device type's default first).
    func directTiledCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = KernelTunables.directTiled
        var result = [table.defaults(for: info)]
        for p in table.candidates where !result.contains(p) && table.isValid(p, limits: deviceLimits) {
            // Forward and backward data read DT_VP and DT_VECTORS, backward filter DT_WG and
            // DT_IMAGES: sets that differ only in the others are the same launch.
            let read = direction == .backwardFilter ? ["DT_WG", "DT_IMAGES"] : ["DT_VP", "DT_VECTORS"]
            if result.contains(where: { q in read.allSatisfy { q[$0] == p[$0] } }) { continue }
            result.append(p)
        }
        return result
    }

    /// Backward filter: one slice of dw per split of the batch when there is more than one.
    func directTiledWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                   parameters: TunableParameters) -> Int {
        guard direction == .backwardFilter else { return 0 }
        let splits = ceilDiv(d.batch, directTiledParameters(parameters)["DT_IMAGES"]!)
        return splits > 1 ? splits * d.weightCount : 0
    }

    func directTiledForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                            bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                            parameters: TunableParameters) throws {
        try directTiledPass(d, .forward, input: x, weight: weight, output: y,
                            epilogue: epilogueArguments(bias: bias, activation: activation, y: y), parameters: parameters)
    }

    func directTiledBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                 dx: any DeviceBuffer, parameters: TunableParameters) throws {
        try directTiledPass(d, .backwardData, input: dy, weight: weight, output: dx,
                            epilogue: epilogueArguments(bias: nil, activation: nil, y: dx), parameters: parameters)
    }

    /// dw = conv_backward_filter(x, dy), overwriting dw; with more than one split of the batch,
    /// `workspace` holds `directTiledWorkspaceCount` elements.
    func directTiledBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                   dw: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                   parameters: TunableParameters) throws {
        let (g, p, rows) = try directTiledSetup(d, .backwardFilter, parameters)
        let splits = ceilDiv(d.batch, p["DT_IMAGES"]!)
        let needed = directTiledWorkspaceCount(d, direction: .backwardFilter, parameters: p)
        if splits > 1 {
            guard let workspace, workspace.count >= needed else {
                throw CNNError.invalidArgument("tiled direct backward filter over \(splits) splits of the batch needs a "
                    + "workspace of \(needed) floats, got \(workspace?.count ?? 0); size it with directTiledWorkspaceCount")
            }
        }
        let out = splits > 1 ? workspace! : dw
        let table = KernelTunables.directTiled
        let wg = p["DT_WG"]!
        try launch("conv_direct_tiled", "conv_direct_tiled_backward_filter",
                   KernelLaunch(options: table.options(p, extra: g.defines(rows: rows)),
                                global: [wg, g.outputBlocks, splits], local: [wg, 1, 1]),
                   [.int(d.batch), .buffer(x), .buffer(dy), .buffer(out)])
        if splits > 1 {
            try launch("conv_direct_tiled", "conv_direct_tiled_reduce_splits",
                       KernelLaunch(options: table.options(p, extra: g.defines(rows: rows)),
                                    global: [ceilDiv(d.weightCount, 64) * 64], local: [64]),
                       [.int(d.weightCount), .int(splits), .buffer(out), .buffer(dw)])
        }
    }

    // MARK: Helpers

    private func directTiledPass(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, input: any DeviceBuffer,
                                 weight: any DeviceBuffer, output: any DeviceBuffer, epilogue: [KernelArgument],
                                 parameters: TunableParameters) throws {
        let (g, p, rows) = try directTiledSetup(d, direction, parameters)
        let items = g.items(rows: rows, vp: p["DT_VP"]!)
        try launch("conv_direct_tiled", "conv_direct_tiled_forward",
                   KernelLaunch(options: KernelTunables.directTiled.options(p, extra: g.defines(rows: rows) + ["FWD_ITEMS=\(items)"]),
                                global: [items, ceilDiv(g.outH, rows) * ceilDiv(g.cOut, g.ob), d.batch],
                                local: [items, 1, 1]),
                   [.buffer(input), .buffer(weight), .buffer(output)] + epilogue)
    }

    private func directTiledSetup(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection,
                                  _ parameters: TunableParameters) throws -> (DirectTiledGeometry, TunableParameters, Int) {
        guard Self.directTiledApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("tiled direct convolution (\(direction.rawValue)) needs stride 1, dilation 1, "
                + "one group, padding below the kernel size and a tile that fits \(Self.directTiledLocalBytes) bytes of "
                + "local memory; got \(d.problemText). Use implicit GEMM or the direct row kernels")
        }
        let p = try KernelTunables.directTiled.validated(directTiledParameters(parameters), limits: deviceLimits,
                                                         solver: "tiled direct convolution", device: info.name)
        let g = DirectTiledGeometry(d, adjoint: direction == .backwardData)
        let rows = g.tileRows(maxItems: p["DT_VECTORS"]!, vp: p["DT_VP"]!, backwardFilter: direction == .backwardFilter)!
        return (g, p, rows)
    }

    private func directTiledParameters(_ parameters: TunableParameters) -> TunableParameters {
        KernelTunables.directTiled.completed(parameters, for: info)
    }
}

extension KernelTunables {
    /// Kernels/conv_direct_tiled.cl. Forward and backward data: DT_VP pixels per vector,
    /// DT_VECTORS at most per work-group (one per work-item). Backward filter: DT_WG work-items
    /// per group, DT_IMAGES images per group. Local memory depends on the problem, not on
    /// these, so `directTiledApplies` checks it. CPU defaults measured on PoCL, LeNet's layers
    /// (Benchmarks/NOTES-lenet.md): AVX-512-wide pixel vectors, whole 10² and 14² planes and half
    /// of a 28² one per forward group, 8 work-items per backward-filter group. GPU defaults, until a GPU is
    /// measured: 4-pixel vectors (16 channels × 4 pixels of accumulators per work-item), 64
    /// work-items, one image per backward-filter group so the batch fills the device.
    static let directTiled = TunableKernel(
        program: "conv_direct_tiled",
        names: ["DT_WG", "DT_IMAGES", "DT_VP", "DT_VECTORS"],
        allowed: ["DT_WG": [8, 16, 32, 64, 128, 256], "DT_IMAGES": [1, 2, 4, 8, 16], "DT_VP": [4, 8, 16],
                  "DT_VECTORS": [8, 16, 32, 64, 128, 256]],
        cpuDefault: ["DT_WG": 8, "DT_IMAGES": 4, "DT_VP": 16, "DT_VECTORS": 64],
        gpuDefault: ["DT_WG": 64, "DT_IMAGES": 1, "DT_VP": 4, "DT_VECTORS": 64],
        candidates: [
            ["DT_WG": 8, "DT_IMAGES": 4, "DT_VP": 16, "DT_VECTORS": 64],
            ["DT_WG": 8, "DT_IMAGES": 4, "DT_VP": 16, "DT_VECTORS": 32],
            ["DT_WG": 16, "DT_IMAGES": 4, "DT_VP": 8, "DT_VECTORS": 16],
            ["DT_WG": 64, "DT_IMAGES": 1, "DT_VP": 4, "DT_VECTORS": 64],
            ["DT_WG": 8, "DT_IMAGES": 8, "DT_VP": 16, "DT_VECTORS": 8],
            ["DT_WG": 32, "DT_IMAGES": 2, "DT_VP": 16, "DT_VECTORS": 64],
            ["DT_WG": 128, "DT_IMAGES": 1, "DT_VP": 8, "DT_VECTORS": 128],
        ],
        localSize: { p in [p["DT_WG"]!] },
        localBytes: { _ in 0 },
        consistent: { _ in true })
}
