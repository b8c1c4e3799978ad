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
    /// Vector accumulators a forward work-item keeps (pixels × one vector of output channels):
    /// with its weight vector, within AVX-512's 32 registers.
    static let directTiledPixelsPerItem = 8

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

        /// Output channels per work-item: the written channels rounded up to a vector width, at most 16.
        var vw: Int { [1, 2, 4, 8, 16].first { $0 >= cOut } ?? 16 }
        var taps: Int { cIn * kh * kw }
        var outputBlocks: Int { ceilDiv(cOut, vw) }

        /// Bytes of local memory at `rows` output rows per work-group.
        func localBytes(rows: Int, backwardFilter: Bool) -> Int {
            let xs = cIn * (rows + kh - 1) * (outW + kw - 1)
            return 4 * (xs + (backwardFilter ? rows * outW * vw : taps * vw))
        }

        /// Output rows per work-group: forward about `directTiledPixelsPerItem` pixels per
        /// work-item, backward filter whole planes; fewer where local memory runs out, nil
        /// when not even one row fits.
        func tileRows(workGroup: Int, backwardFilter: Bool) -> Int? {
            var rows = backwardFilter ? outH
                : max(1, min(outH, workGroup * OpenCLBackend.directTiledPixelsPerItem / outW))
            while rows > 1 && localBytes(rows: rows, backwardFilter: backwardFilter) > OpenCLBackend.directTiledLocalBytes {
                rows -= 1
            }
            return localBytes(rows: rows, backwardFilter: backwardFilter) <= OpenCLBackend.directTiledLocalBytes ? rows : nil
        }

        func defines(rows: Int) -> [String] {
            ["CIN=\(cIn)", "COUT=\(cOut)", "IN_H=\(inH)", "IN_W=\(inW)", "OUT_H=\(outH)", "OUT_W=\(outW)",
             "KH=\(kh)", "KW=\(kw)", "PAD_T=\(padTop)", "PAD_L=\(padLeft)", "VW=\(vw)", "TILE_ROWS=\(rows)",
             "ADJOINT=\(adjoint ? 1 : 0)"]
        }
    }

    static func directTiledApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        guard d.strideH == 1, d.strideW == 1, d.dilationH == 1, d.dilationW == 1, d.groups == 1 else { return false }
        // The adjoint's padding k-1-pad must not be negative.
        if direction == .backwardData, d.padding.top >= d.kernelH || d.padding.left >= d.kernelW { return false }
        let g = DirectTiledGeometry(d, adjoint: direction == .backwardData)
        let smallest = KernelTunables.directTiled.allowed["DT_WG"]!.min()!
        // Indices stay in Int32 inside the kernel except the image offsets, which use size_t.
        return g.tileRows(workGroup: smallest, backwardFilter: direction == .backwardFilter) != nil
            && d.inputCount <= Int(Int32.max) && d.outputCount <= Int(Int32.max)
            && d.weightCount * d.batch <= Int(Int32.max)
    }

    /// Parameter sets worth timing (the device type's default first).
    func directTiledCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = KernelTunables.directTiled
        var result = [table.defaults(for: info.kind)]
        for p in table.candidates where !result.contains(p) && table.isValid(p, limits: deviceLimits) {
            // Backward filter alone reads DT_IMAGES; forward sets differing only there are one.
            if direction != .backwardFilter, result.contains(where: { $0["DT_WG"] == p["DT_WG"] }) { continue }
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
                            epilogue: [.int(bias == nil ? 0 : 1), .buffer(bias ?? y), .int(activation.kernelCode),
                                       .float(activation?.alpha ?? 0)], parameters: parameters)
    }

    func directTiledBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                 dx: any DeviceBuffer, parameters: TunableParameters) throws {
        try directTiledPass(d, .backwardData, input: dy, weight: weight, output: dx,
                            epilogue: [.int(0), .buffer(dx), .int(Optional<Activation>.none.kernelCode), .float(0)],
                            parameters: parameters)
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
        let wg = p["DT_WG"]!
        try launch("conv_direct_tiled", "conv_direct_tiled_forward",
                   KernelLaunch(options: KernelTunables.directTiled.options(p, extra: g.defines(rows: rows)),
                                global: [wg, ceilDiv(g.outH, rows) * g.outputBlocks, d.batch], local: [wg, 1, 1]),
                   [.buffer(input), .buffer(weight), .buffer(output)] + epilogue)
    }

    private func directTiledSetup(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection,
                                  _ parameters: TunableParameters) throws -> (DirectTiledGeometry, TunableParameters, Int) {
        guard Self.directTiledApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("tiled direct convolution (\(direction.rawValue)) needs stride 1, dilation 1, "
                + "one group, padding below the kernel size and a tile that fits \(Self.directTiledLocalBytes) bytes of "
                + "local memory; got \(d.problemText). Use implicit GEMM or the direct row kernels")
        }
        let p = directTiledParameters(parameters)
        guard KernelTunables.directTiled.isValid(p, limits: deviceLimits) else {
            throw CNNError.invalidArgument("tiled direct convolution parameters \(p.sorted { $0.key < $1.key }) are not "
                + "valid on this device (allowed: \(KernelTunables.directTiled.allowed))")
        }
        let g = DirectTiledGeometry(d, adjoint: direction == .backwardData)
        let rows = g.tileRows(workGroup: p["DT_WG"]!, backwardFilter: direction == .backwardFilter)!
        return (g, p, rows)
    }

    private func directTiledParameters(_ parameters: TunableParameters) -> TunableParameters {
        KernelTunables.directTiled.completed(parameters, for: info.kind)
    }
}

extension KernelTunables {
    /// Kernels/conv_direct_tiled.cl: DT_WG work-items per group, DT_IMAGES images per
    /// backward-filter work-group. Local memory depends on the problem, not on these, so
    /// `directTiledApplies` checks it. CPU default measured on PoCL (Benchmarks/NOTES-lenet.md);
    /// GPU default: 64 work-items (two warps / one wavefront), one image per backward-filter
    /// group so the batch fills the device, until a GPU is measured.
    static let directTiled = TunableKernel(
        program: "conv_direct_tiled",
        names: ["DT_WG", "DT_IMAGES"],
        allowed: ["DT_WG": [8, 16, 32, 64, 128, 256], "DT_IMAGES": [1, 2, 4, 8, 16]],
        cpuDefault: ["DT_WG": 16, "DT_IMAGES": 4],
        gpuDefault: ["DT_WG": 64, "DT_IMAGES": 1],
        candidates: [
            ["DT_WG": 16, "DT_IMAGES": 4], ["DT_WG": 32, "DT_IMAGES": 4], ["DT_WG": 64, "DT_IMAGES": 1],
            ["DT_WG": 16, "DT_IMAGES": 8], ["DT_WG": 8, "DT_IMAGES": 4], ["DT_WG": 128, "DT_IMAGES": 1],
            ["DT_WG": 32, "DT_IMAGES": 2],
        ],
        localSize: { p in [p["DT_WG"]!] },
        localBytes: { _ in 0 },
        consistent: { _ in true })
}
