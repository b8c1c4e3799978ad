/// Convolution on a channels-last copy of its input (Kernels/conv_channels_last.cl): the input
/// is transposed to [N, H·W, C] and the weights to [R·S, C, K] in the workspace, then each
/// work-item accumulates a register tile of CL_RP output pixels × CL_NV vectors of output
/// channels, walking each pixel's channels contiguously. Forward (any stride, padding,
/// dilation), the input gradient (the forward over dy with flipped, channel-swapped weights,
/// once per stride phase) and the filter gradient (on 1×1 stride-1 layers also straight from
/// NCHW x and dy, a product of rows as they lie); one group.
///
/// Why: on a CPU device the implicit GEMM's per-tile staging of NCHW operands through local
/// memory held ResNet's layers at 50–70 GFLOP/s on two AVX2 cores, where a register tile fed
/// from contiguous memory reaches 110–150 (Benchmarks/NOTES-opencl-solvers.md, fifteenth
/// session); the copy costs one pass over the input.
extension OpenCLBackend {
    /// The convolution conv_channels_last runs: the layer itself forward; for the input gradient,
    /// the adjoint over dy (its channels the layer's outputs) in one launch per stride phase that
    /// a tap reaches (a stride-1 layer: one phase of every tap).
    struct ChannelsLastProblem {
        /// Input channels and plane (dy's for the input gradient), output channels and plane (y's or dx's).
        let cin, h, w, cout, yh, yw: Int
        let passes: [Pass]
        /// Whether some output pixels lie in phases no tap reaches (three of four for a 1×1
        /// stride-2 layer): they are zeros, filled before the passes.
        let zeroFill: Bool

        /// One launch: output pixels (a, b) < (oh, ow), written to (row0 + rowStep·a, col0 + colStep·b);
        /// tap (j, i) reads input pixel (a·strideH − padTop + j·dilationH, b·strideW − padLeft + i·dilationW)
        /// with the layer's tap (rows.first + j·rows.step, columns.first + i·columns.step) (counted
        /// backwards for the input gradient).
        struct Pass {
            let rows, columns: (first: Int, step: Int, count: Int)
            let oh, ow, row0, col0, rowStep, colStep: Int
            let strideH, strideW, padTop, padLeft, dilationH, dilationW: Int
            var taps: Int { rows.count * columns.count }
        }

        init(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection) {
            if direction == .forward {
                (cin, h, w, cout, yh, yw) = (d.inChannels, d.inH, d.inW, d.outChannels, d.outH, d.outW)
                passes = [Pass(rows: (0, 1, d.kernelH), columns: (0, 1, d.kernelW), oh: d.outH, ow: d.outW, row0: 0, col0: 0,
                               rowStep: 1, colStep: 1, strideH: d.strideH, strideW: d.strideW, padTop: d.padding.top,
                               padLeft: d.padding.left, dilationH: d.dilationH, dilationW: d.dilationW)]
                zeroFill = false
                return
            }
            (cin, h, w, cout, yh, yw) = (d.outChannels, d.outH, d.outW, d.inChannels, d.inH, d.inW)
            // Along one axis, phase ph (dx positions ph + stride·a) receives the taps
            // first + j·step (`phaseTaps`) at dy positions a + base − j·step·dil/stride: a stride-1
            // correlation with dilation step·dil/stride over the taps counted backwards, padding
            // (count − 1)·dilation − base.
            func axis(_ ph: Int, _ pad: Int, _ stride: Int, _ dil: Int, _ kernel: Int, _ extent: Int)
                -> (taps: (first: Int, step: Int, count: Int), pixels: Int, pad: Int, dilation: Int) {
                let t = OpenCLBackend.phaseTaps(phase: ph, pad: pad, stride: stride, dilation: dil, kernel: kernel, extent: extent)
                let base = (ph + pad - t.first * dil) / stride
                let dilation = t.count > 1 ? t.step * dil / stride : 1
                return ((t.first, t.step, t.count), t.pixels, (t.count - 1) * dilation - base, dilation)
            }
            let rows = (0..<min(d.strideH, d.inH)).map { axis($0, d.padding.top, d.strideH, d.dilationH, d.kernelH, d.inH) }
            let columns = (0..<min(d.strideW, d.inW)).map { axis($0, d.padding.left, d.strideW, d.dilationW, d.kernelW, d.inW) }
            var passes: [Pass] = []
            for (ph, r) in rows.enumerated() where r.taps.count > 0 {
                for (pw, c) in columns.enumerated() where c.taps.count > 0 {
                    passes.append(Pass(rows: r.taps, columns: c.taps, oh: r.pixels, ow: c.pixels, row0: ph, col0: pw,
                                       rowStep: d.strideH, colStep: d.strideW, strideH: 1, strideW: 1, padTop: r.pad,
                                       padLeft: c.pad, dilationH: r.dilation, dilationW: c.dilation))
                }
            }
            self.passes = passes
            zeroFill = rows.contains { $0.taps.count == 0 } || columns.contains { $0.taps.count == 0 }
        }

        /// Output channels rounded up to the register tile's.
        func paddedOut(_ p: TunableParameters) -> Int { ceilDiv(cout, p["CL_VW"]! * p["CL_NV"]!) * p["CL_VW"]! * p["CL_NV"]! }

        /// Every pass's weights, one after another (the phases partition the layer's taps).
        func weightCount(_ p: TunableParameters) -> Int { passes.reduce(0) { $0 + $1.taps } * cin * paddedOut(p) }
    }

    /// Floats before the weights in the workspace (ZEROS in the kernel): the padding's zero.
    static let channelsLastZeros = 16

    /// One group, every direction.
    static func channelsLastApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        d.groups == 1 && d.inputCount <= Int(Int32.max) && d.outputCount <= Int(Int32.max)
    }

    /// Parameter sets worth timing on this device, the default for `d` first: the table's
    /// register tiles of this device's vector width, each in both launch orders and both input
    /// layouts (the filter gradient: with slices of 512, 2048 and 4096 pixels, and on 1×1 stride-1
    /// layers through the copies and in place, with one output-channel tile or the device's several).
    func channelsLastCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = KernelTunables.channelsLast
        let first = channelsLastDefault(d, direction: direction)
        var result: [TunableParameters] = []
        // The filter gradient reads neither the launch order nor (but on 1×1, stride-1, unpadded
        // layers) the layout; it varies its slices.
        let defaults = table.defaults(for: info)
        let inPlaceTile = Self.channelsLastInPlaceFilterTile(defaults)
        let inPlace: [TunableParameters] = d.isPointwise
            ? [["CL_NCHW": 0, "CL_FPIX": defaults["CL_FPIX"]!, "CL_KT": 1],
               ["CL_NCHW": 1, "CL_FPIX": inPlaceTile.slice, "CL_KT": inPlaceTile.outputTiles],
               ["CL_NCHW": 1, "CL_FPIX": inPlaceTile.slice, "CL_KT": 1]] : []
        let variations: [TunableParameters] = direction == .backwardFilter
            ? [[:], ["CL_FPIX": 512], ["CL_FPIX": 2048], ["CL_FPIX": 4096]] + inPlace
            : [[:], ["CL_NCHW": 1 - first["CL_NCHW"]!], ["CL_PF": 1 - first["CL_PF"]!],
               ["CL_PF": 1 - first["CL_PF"]!, "CL_NCHW": 1 - first["CL_NCHW"]!], ["CL_SO": 1 - first["CL_SO"]!]]
        for p in [first] + table.candidates where p["CL_VW"] == first["CL_VW"] {
            let shape = p.merging(["CL_PF": first["CL_PF"]!, "CL_NCHW": first["CL_NCHW"]!, "CL_FPIX": first["CL_FPIX"]!,
                                   "CL_SO": first["CL_SO"]!, "CL_KT": first["CL_KT"]!]) { $1 }
            for change in variations {
                let q = shape.merging(change) { $1 }
                if !result.contains(q), table.isValid(q, limits: deviceLimits) { result.append(q) }
            }
        }
        return result
    }

    /// The device's default, with the launch order and input layout for `d`. Channel blocks
    /// first (work-items that run one after another share their pixels' input runs) where the
    /// weights take at most `channelsLastSharedWeightBytes`, so that every channel block's
    /// slice stays in cache as the pixels advance; pixel blocks first (sharing one channel
    /// block's weights) where they are larger: on PoCL (Zen 3, batch 8, 5 interleaved rounds)
    /// the 3×3 512→512 layers at 7² and 14²/2 ran 1.8–3× faster pixel-first, 1×1 layers with
    /// 16–64 K weights 1.2–2× faster channel-first, and 3×3 layers between the two sizes within
    /// 5% either way; on Zen 4 (1 MB of L2 per core) weights of 512–590 KB ran up to 1.35×
    /// faster channel-first, 1–2 MB ones up to 1.15× faster pixel-first. Channel-first 1×1
    /// layers read their input in place (CL_NCHW): 1.1–1.9× faster than through the copy, which
    /// costs as much as their arithmetic (Zen 4, the 1×1/2 256→512's forward: 1.2×; its input
    /// gradient, 0.9×); pixel-first ones and every larger kernel read the copy (1.1–1.3× faster).
    func channelsLastDefault(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> TunableParameters {
        let defaults = KernelTunables.channelsLast.defaults(for: info)
        if direction == .backwardFilter {
            let tile = Self.channelsLastInPlaceFilterTile(defaults)
            guard d.isPointwise && d.inH * d.inW >= tile.minPixels else {
                return defaults.merging(Self.channelsLastFilterTile(defaults, outChannels: d.outChannels)) { $1 }
                    .merging(["CL_NCHW": 0]) { $1 }
            }
            return defaults.merging(["CL_NCHW": 1, "CL_FPIX": tile.slice, "CL_RP": tile.inputChannels,
                                     "CL_KT": tile.outputTiles]) { $1 }
        }
        let q = ChannelsLastProblem(d, direction)
        let pixelFirst = 4 * q.cin * q.cout * d.kernelH * d.kernelW > Self.channelsLastSharedWeightBytes
        let inPlace = !pixelFirst && d.kernelH == 1 && d.kernelW == 1
        return defaults.merging(["CL_PF": pixelFirst ? 1 : 0, "CL_NCHW": inPlace ? 1 : 0]) { $1 }
    }

    /// How the filter gradient of a 1×1 stride-1 layer reads x and dy in place (CL_NCHW 1), on
    /// planes of at least `minPixels`, in slices of `slice` pixels, each work-item CL_RP =
    /// `inputChannels` input channels × CL_KT = `outputTiles` tiles of CL_NV output channels.
    struct ChannelsLastInPlaceFilterTile: Equatable {
        let minPixels, slice, inputChannels, outputTiles: Int
    }

    /// The in-place filter gradient's defaults. On AVX-512 CPU devices 8 input channels × 8 tiles
    /// of 2 output channels, from 28²: with one tile a work-item streamed its 8 rows of x and dy
    /// from L2 (8 vector loads for 12 FMAs, the kernel L2-bound at 35–50% of the FMA loop); with 8
    /// tiles a run of its x rows stays in L1 while the tiles' dy rows pass through it. On PoCL
    /// (Zen 5, batch 8, 7 interleaved rounds) ResNet-50's 56² layers ran 1.3–1.6× one tile
    /// (64→64 2.0 → 1.3 ms, 256→64 4.7 → 3.4, 64→256 5.2 → 3.7–4.1) and its 28² layers, which
    /// read copies before, 1.3× the copies (128→512 4.6 → 3.4 ms, 512→128 4.1 → 3.1); at 14² and
    /// 7² the copies still ran 1.5–3× faster (Benchmarks/NOTES-opencl-solvers.md, nineteenth
    /// session). Other devices, not measured with tiles: one tile of the table's CL_RP, from 32²,
    /// in slices of at least 2048 pixels (Zen 5, one tile: 56² layers 1.2–1.8× the copies, 14²
    /// and 7² 0.35–0.65×); the tuner tries both.
    static func channelsLastInPlaceFilterTile(_ defaults: TunableParameters) -> ChannelsLastInPlaceFilterTile {
        let slice = max(defaults["CL_FPIX"]!, 2048)
        if Self.channelsLastWideCPUTiles(defaults) {
            return ChannelsLastInPlaceFilterTile(minPixels: 28 * 28, slice: slice, inputChannels: 8, outputTiles: 8)
        }
        return ChannelsLastInPlaceFilterTile(minPixels: 32 * 32, slice: slice, inputChannels: defaults["CL_RP"]!, outputTiles: 1)
    }

    /// The register tile of the filter gradient on the copies. On AVX-512 CPU devices 8 input
    /// channels × 3 vectors of 16 output channels (24 of the 32 registers) where rounding the
    /// output channels up to 48 adds at most an eighth: on PoCL (Zen 5, batch 8, two runs of 5
    /// and 7 interleaved rounds) 1.03–1.2× the 6 × 2 tile on ResNet-50's strided layers' filter
    /// gradients (3×3/2 512→512 14² 11.4 → 10.1 ms, 3×3/2 256→256 28² 8.1 → 7.2) and 0.97–1.13× on
    /// its other layers that read the copies (3×3 512→512 7², 1×1 1024→256 14², 1×1 512→2048
    /// 7²), but 0.74× on the 3×3 64→64 56² (64 channels padded to 96). Elsewhere the table's
    /// tile (Benchmarks/NOTES-opencl-solvers.md, nineteenth session).
    static func channelsLastFilterTile(_ defaults: TunableParameters, outChannels: Int) -> TunableParameters {
        let wide = 48
        guard Self.channelsLastWideCPUTiles(defaults), 8 * (ceilDiv(outChannels, wide) * wide - outChannels) <= outChannels
        else { return [:] }
        return ["CL_RP": 8, "CL_NV": 3]
    }

    /// Whether the device's defaults are the AVX-512 CPU shape (16-float vectors, one work-item a
    /// group), the one device type the filter gradients' wider tiles were measured on.
    private static func channelsLastWideCPUTiles(_ defaults: TunableParameters) -> Bool {
        defaults["CL_VW"] == 16 && defaults["CL_WG"] == 1
    }

    /// See `channelsLastDefault`: three quarters of a Zen 4 or Zen 5 core's L2.
    static let channelsLastSharedWeightBytes = 768 << 10

    /// On CPU devices the heuristic runs every pass here but those the Winograd solvers take
    /// (`convolutionSolutions`): on PoCL (Zen 3, AVX2, batch 8, interleaved) forward passes and
    /// stride-1 input gradients ran 1.1–3.4× the implicit GEMM on every ResNet-50 layer but one
    /// (the 1×1 64→64, within 10%) and 1.0–1.4× Winograd F(4×4,3×3) on its 3×3 layers; filter
    /// gradients 1.0–2.3× the implicit GEMM but on the 1×1 512→2048 at 7² (0.86×) and 1.8× the
    /// Winograd filter gradient on the 7² layer it does not take; on Zen 4 (AVX-512) the strided
    /// layers' input gradients, by stride phase, 1.04–1.8× the implicit GEMM's phases
    /// (Benchmarks/NOTES-opencl-solvers.md, fifteenth session). Not when the input's copy would
    /// take more than `winogradF4x3DefaultMaxWorkspaceBytes` (the tuner may still choose it).
    func channelsLastIsCPUDefault(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        Self.channelsLastApplies(d, direction: direction)
            && 4 * channelsLastWorkspaceCount(d, direction: direction, parameters: channelsLastDefault(d, direction: direction))
                <= Self.winogradF4x3DefaultMaxWorkspaceBytes
    }

    func channelsLastWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                    parameters: TunableParameters) -> Int {
        guard Self.channelsLastApplies(d, direction: direction) else { return 0 }
        let p = KernelTunables.channelsLast.completed(parameters, for: info)
        if direction == .backwardFilter {
            if Self.channelsLastFilterInPlace(d, p) { return ChannelsLastInPlaceFilterPlan(d, p).partCount }
            let f = ChannelsLastFilterPlan(d, p)
            return f.xhOffset + f.xhCount + f.dyhCount + f.partCount
        }
        let q = ChannelsLastProblem(d, direction)
        return Self.channelsLastZeros + q.weightCount(p) + (p["CL_NCHW"]! == 1 ? 0 : d.batch * q.h * q.w * q.cin)
    }

    /// The filter gradient's workspace: [xh: N·xH·xW·cinp (in panels of 8 channels, the last one
    /// whole, where `panels`)][dyh: N·OH·OW·kp][part: splits·R·S·cinp·kp], the copies' runs
    /// padded to whole register tiles (cinp: CL_RP input channels, kp: CL_NV·CL_VW output
    /// channels), `splits` slices of `rowsPerSlice` output rows.
    struct ChannelsLastFilterPlan {
        static let maxSplits = 128
        let cinp, kp, rowsPerSlice, splits, xhCount, dyhCount, partCount: Int
        /// A strided 1×1 unpadded layer: x is packed as its subsample, OH × OW pixels a plane, and
        /// the kernel sees a stride-1 layer on it (at stride 2, a quarter of the copy; PoCL, Zen 4:
        /// ResNet-50's 1×1/2 filter gradients 1.0–1.6× faster, the most at 14², where the copy was
        /// most of the time).
        let subsampled: Bool
        /// x as packed and as the filter kernel reads it: its plane and strides.
        let xH, xW, xStrideH, xStrideW: Int
        let xhOffset = 0
        var dyhOffset: Int { xhOffset + xhCount }
        var partOffset: Int { dyhOffset + dyhCount }

        /// Whether the copies are panels (one work-item per group, as Kernels/conv_channels_last.cl's
        /// PANELS): x in panels of 8 channels, dy of the register tile's; else whole rows.
        static func panels(_ p: TunableParameters) -> Bool { p["CL_WG"]! == 1 }

        init(_ d: Conv2DDescriptor, _ p: TunableParameters) {
            let tile = p["CL_VW"]! * p["CL_NV"]!
            cinp = ceilDiv(d.inChannels, p["CL_RP"]!) * p["CL_RP"]!
            kp = ceilDiv(d.outChannels, tile) * tile
            // At most `maxSplits` slices, so that the partial sums stay a fraction of the copies
            // (VGG's 224² layers at batch 8 would take 896 slices of 2 rows).
            rowsPerSlice = max(1, p["CL_FPIX"]! / d.outW, ceilDiv(d.batch * d.outH, Self.maxSplits))
            splits = ceilDiv(d.batch * d.outH, rowsPerSlice)
            subsampled = d.kernelH == 1 && d.kernelW == 1 && d.padding == .zero && (d.strideH > 1 || d.strideW > 1)
            (xH, xW) = subsampled ? (d.outH, d.outW) : (d.inH, d.inW)
            (xStrideH, xStrideW) = subsampled ? (1, 1) : (d.strideH, d.strideW)
            xhCount = d.batch * xH * xW * (Self.panels(p) ? ceilDiv(cinp, 8) * 8 : cinp)
            dyhCount = d.batch * d.outH * d.outW * kp
            partCount = splits * d.kernelH * d.kernelW * cinp * kp
        }
    }

    /// Whether the filter gradient reads x and dy in place (conv_channels_last_filter_in_place):
    /// asked for (CL_NCHW 1) on a 1×1, stride-1, unpadded layer, whose gradient is a product of
    /// NCHW rows as they lie. Other layers' filter gradients read the copies whatever CL_NCHW says.
    static func channelsLastFilterInPlace(_ d: Conv2DDescriptor, _ p: TunableParameters) -> Bool {
        p["CL_NCHW"] == 1 && d.isPointwise
    }

    /// The in-place filter gradient's slices and partial sums: part [splits, cinp, kp] (cinp:
    /// input channels rounded up to CL_RP, kp: output channels rounded up to a work-item's
    /// CL_KT·CL_NV, of which there are `outputBlocks`). A slice is
    /// `imagesPerSlice` whole images where an image has fewer than CL_FPIX pixels, else a
    /// `chunk` of one image's pixels (a whole number of vectors); at most `maxSplits` of them.
    struct ChannelsLastInPlaceFilterPlan {
        let cinp, kp, outputBlocks, imagesPerSlice, chunk, chunks, splits, partCount: Int

        init(_ d: Conv2DDescriptor, _ p: TunableParameters) {
            let pixels = d.inH * d.inW, maxSplits = ChannelsLastFilterPlan.maxSplits
            cinp = ceilDiv(d.inChannels, p["CL_RP"]!) * p["CL_RP"]!
            outputBlocks = ceilDiv(d.outChannels, p["CL_NV"]! * p["CL_KT"]!)
            kp = outputBlocks * p["CL_NV"]! * p["CL_KT"]!
            imagesPerSlice = max(1, p["CL_FPIX"]! / pixels, ceilDiv(d.batch, maxSplits))
            let imageSlices = ceilDiv(d.batch, imagesPerSlice)
            chunks = imagesPerSlice > 1 ? 1 : max(1, min(ceilDiv(pixels, p["CL_FPIX"]!), maxSplits / imageSlices))
            chunk = ceilDiv(ceilDiv(pixels, chunks), p["CL_VW"]!) * p["CL_VW"]!
            splits = imageSlices * chunks
            partCount = splits * cinp * kp
        }
    }

    /// y = activation(conv(x, w) + bias).
    func channelsLastForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                             bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                             workspace: (any DeviceBuffer)?, parameters: TunableParameters) throws {
        try channelsLast(d, .forward, input: x, weight: weight, bias: bias, activation: activation, output: y,
                         workspace: workspace, parameters: parameters)
    }

    /// dx = conv_backward_data(dy, w), overwriting dx.
    func channelsLastBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                  dx: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                  parameters: TunableParameters) throws {
        try channelsLast(d, .backwardData, input: dy, weight: weight, bias: nil, activation: nil, output: dx,
                         workspace: workspace, parameters: parameters)
    }

    /// dw = conv_backward_filter(x, dy), overwriting dw.
    func channelsLastBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                    dw: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                    parameters: TunableParameters) throws {
        let (p, ws) = try channelsLastChecked(d, .backwardFilter, parameters, workspace)
        if Self.channelsLastFilterInPlace(d, p) {
            let f = ChannelsLastInPlaceFilterPlan(d, p), wg = p["CL_WG"]!
            let options = KernelTunables.channelsLast.options(p)
            try launch("conv_channels_last", "conv_channels_last_filter_in_place",
                       KernelLaunch(options: options, global: [wg * f.outputBlocks, f.cinp / p["CL_RP"]!, f.splits],
                                    local: [wg, 1, 1]),
                       [d.batch, d.inChannels, d.outChannels, d.inH * d.inW, f.kp, f.cinp, f.imagesPerSlice, f.chunk,
                        f.chunks].map { KernelArgument.int($0) } + [.buffer(x), .buffer(dy), .buffer(ws), .int(0)])
            try channelsLastFilterReduce(d, taps: 1, kp: f.kp, cinp: f.cinp, splits: f.splits, ws: ws, partOffset: 0, dw: dw, p)
            return
        }
        let f = ChannelsLastFilterPlan(d, p)
        let (rs, tile, wg) = (d.kernelH * d.kernelW, p["CL_VW"]! * p["CL_NV"]!, p["CL_WG"]!)
        let options = KernelTunables.channelsLast.options(p)
        let panels = ChannelsLastFilterPlan.panels(p)
        try channelsLastPack(channels: d.inChannels, pixels: f.xH * f.xW, runLength: f.cinp, panel: panels ? 8 : nil,
                             subsample: f.subsampled ? d : nil, batch: d.batch, src: x, ws: ws, offset: f.xhOffset, p)
        try channelsLastPack(channels: d.outChannels, pixels: d.outH * d.outW, runLength: f.kp, panel: panels ? tile : nil,
                             batch: d.batch, src: dy, ws: ws, offset: f.dyhOffset, p)
        try launch("conv_channels_last", "conv_channels_last_filter",
                   KernelLaunch(options: options, global: [ceilDiv(f.kp / tile, wg) * wg, f.cinp / p["CL_RP"]! * rs, f.splits],
                                local: [wg, 1, 1]),
                   [d.batch, d.inChannels, f.xH, f.xW, d.outChannels, f.kp, f.cinp, d.kernelH, d.kernelW, f.xStrideH,
                    f.xStrideW, d.padding.top, d.padding.left, d.dilationH, d.dilationW, d.outH, d.outW, f.rowsPerSlice]
                       .map { KernelArgument.int($0) }
                       + [.buffer(ws), .int(f.xhOffset), .int(f.dyhOffset), .int(f.partOffset)])
        try channelsLastFilterReduce(d, taps: rs, kp: f.kp, cinp: f.cinp, splits: f.splits, ws: ws, partOffset: f.partOffset,
                                     dw: dw, p)
    }

    /// dw = the partial sums part [splits, taps, cinp, kp] at ws + partOffset added in order
    /// (both filter-gradient paths end here).
    private func channelsLastFilterReduce(_ d: Conv2DDescriptor, taps: Int, kp: Int, cinp: Int, splits: Int,
                                          ws: any DeviceBuffer, partOffset: Int, dw: any DeviceBuffer,
                                          _ p: TunableParameters) throws {
        try launch("conv_channels_last", "conv_channels_last_filter_reduce",
                   KernelLaunch(options: KernelTunables.channelsLast.options(p), global: [ceilDiv(d.weightCount, 64) * 64],
                                local: [64]),
                   [.int(d.outChannels), .int(d.inChannels), .int(taps), .int(kp), .int(cinp), .int(splits),
                    .buffer(ws), .int(partOffset), .buffer(dw)])
    }

    /// The parameters (completed, validated) and the workspace, or the error naming what is wrong.
    private func channelsLastChecked(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection,
                                     _ parameters: TunableParameters, _ workspace: (any DeviceBuffer)?) throws
        -> (TunableParameters, any DeviceBuffer) {
        guard Self.channelsLastApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("channels-last convolution runs one-group layers (and tensors of fewer than "
                + "2^31 elements); got \(direction.rawValue) of \(d.problemText). Use implicit GEMM")
        }
        let table = KernelTunables.channelsLast
        let p = try table.validated(table.completed(parameters, for: info), limits: deviceLimits,
                                    solver: "channels-last convolution", device: info.name)
        let needed = channelsLastWorkspaceCount(d, direction: direction, parameters: p)
        guard let ws = workspace, ws.count >= needed else {
            throw CNNError.invalidArgument("channels-last convolution needs a workspace of \(needed) floats, got "
                + "\(workspace?.count ?? 0); size it with convolutionWorkspaceCount")
        }
        guard needed <= Int(Int32.max) else {
            throw CNNError.invalidArgument("channels-last convolution of \(d.problemText) needs \(needed) floats of "
                + "workspace, more than a kernel offset can address; use implicit GEMM")
        }
        return (p, ws)
    }

    /// src [N, channels, pixels] → [N, pixels, runLength] at ws + offset (zeros past `channels`),
    /// or panels of `panel` channels [runLength / panel, N·pixels, panel]. With `subsample` (a 1×1
    /// strided layer: output rows × columns, the strides, and the input plane's size), only the
    /// input pixels its taps read: `pixels` is then the output plane's.
    private func channelsLastPack(channels: Int, pixels: Int, runLength: Int, panel: Int? = nil,
                                  subsample: Conv2DDescriptor? = nil, batch: Int, src: any DeviceBuffer,
                                  ws: any DeviceBuffer, offset: Int, _ p: TunableParameters) throws {
        let pwg = p["CL_PWG"]!
        let geometry = subsample.map { [$0.outW, $0.inW, $0.inH * $0.inW, $0.strideH, $0.strideW] } ?? [pixels, pixels, pixels, 1, 1]
        try launch("conv_channels_last", "channels_last_pack",
                   KernelLaunch(options: KernelTunables.channelsLast.options(p),
                                global: [ceilDiv(ceilDiv(runLength, 8), pwg) * pwg, ceilDiv(pixels, 8), batch],
                                local: [pwg, 1, 1]),
                   ([channels, pixels, runLength, panel ?? runLength] + geometry).map { KernelArgument.int($0) }
                       + [.buffer(src), .buffer(ws), .int(offset)])
    }

    private func channelsLast(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, input: any DeviceBuffer,
                              weight: any DeviceBuffer, bias: (any DeviceBuffer)?, activation: Activation?,
                              output: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                              parameters: TunableParameters) throws {
        let (p, ws) = try channelsLastChecked(d, direction, parameters, workspace)
        let q = ChannelsLastProblem(d, direction)
        let kp = q.paddedOut(p), xhOffset = Self.channelsLastZeros + q.weightCount(p)
        let options = KernelTunables.channelsLast.options(p)
        if p["CL_NCHW"]! == 0 {
            try channelsLastPack(channels: q.cin, pixels: q.h * q.w, runLength: q.cin, batch: d.batch, src: input, ws: ws,
                                 offset: xhOffset, p)
        }
        if q.zeroFill { try encodeFill(output, value: 0, offset: 0, count: d.batch * q.cout * q.yh * q.yw) }
        var wtOffset = Self.channelsLastZeros
        for pass in q.passes {
            try launch("conv_channels_last", "channels_last_weights",
                       KernelLaunch(options: options, global: [ceilDiv(q.cin, 16) * 16, pass.taps, kp / (p["CL_VW"]! * p["CL_NV"]!)],
                                    local: [16, 1, 1]),
                       [d.outChannels, d.inChannels, d.kernelH, d.kernelW, kp, direction == .forward ? 0 : 1,
                        pass.rows.first, pass.rows.step, pass.rows.count, pass.columns.first, pass.columns.step,
                        pass.columns.count].map { KernelArgument.int($0) }
                           + [.buffer(weight), .buffer(ws), .int(wtOffset)])
            let pixelBlocks = ceilDiv(d.batch * pass.oh * pass.ow, p["CL_RP"]!), channelBlocks = kp / (p["CL_VW"]! * p["CL_NV"]!)
            let extent = p["CL_PF"]! == 1 ? [pixelBlocks, channelBlocks] : [channelBlocks, pixelBlocks]
            let wg = p["CL_WG"]!
            try launch("conv_channels_last", "conv_channels_last",
                       KernelLaunch(options: options, global: [ceilDiv(extent[0], wg) * wg, extent[1]], local: [wg, 1]),
                       [d.batch, q.cin, q.h, q.w, q.cout, kp, pass.rows.count, pass.columns.count, pass.strideH, pass.strideW,
                        pass.padTop, pass.padLeft, pass.dilationH, pass.dilationW, pass.oh, pass.ow, q.yh, q.yw, pass.row0,
                        pass.col0, pass.rowStep, pass.colStep].map { KernelArgument.int($0) }
                           + [.buffer(input), .buffer(ws), .int(wtOffset), .int(xhOffset), .buffer(bias ?? weight),
                              .int(bias == nil ? 0 : 1), .int(activation.kernelCode), .float(activation?.alpha ?? 0),
                              .buffer(output)])
            wtOffset += pass.taps * q.cin * kp
        }
    }

}

extension KernelTunables {
    /// Kernels/conv_channels_last.cl: CL_RP pixels × CL_NV vectors of CL_VW output channels per
    /// work-item (CL_RP·CL_NV accumulators), CL_WG work-items per group, CL_PF the launch order
    /// (the solver picks it per problem), CL_PWG the pack's work-items per group, CL_NCHW
    /// whether the input is read in place instead of from its channels-last copy (and, on 1×1
    /// stride-1 layers, whether the filter gradient reads x and dy in place, CL_RP input ×
    /// CL_NV output channels a work-item, each a vector of CL_VW pixels), CL_FPIX the filter
    /// gradient's pixels per slice, CL_SO the epilogue's store order (1: a tile whose
    /// pixels are consecutive in one output plane goes out channel by channel, each channel's
    /// pixels one after another; 0: pixel by pixel, a lane into each channel's plane), CL_KT the
    /// in-place filter gradient's tiles of CL_NV output channels per work-item and CL_FRUN its run
    /// of pixel vectors that the tiles take in turn (`channelsLastInPlaceFilterTile`). CL_SO 1 on
    /// AVX-512 devices: 1.0–1.3× on ResNet-50's 1×1 layers on Zen 4 in two interleaved runs
    /// (the 3×3 layers within 8% either way); not measured on AVX2 or GPUs, which keep 0.
    /// CL_FPIX 4096 on AVX-512 devices: on Zen 4 (5 interleaved rounds, ResNet-50's filter
    /// gradients at batch 8) 1.1–1.55× slices of 512 wherever the plane allows more than one
    /// slice, none slower (each slice writes a weight-sized partial sum that the reduction
    /// re-reads: 3×3 64→64 at 56² wrote 50 of them, now 7); 8192 and 16384 within the noise of
    /// 4096. AVX2 devices keep 512 (not re-measured since the fifteenth session, whose kernel
    /// differed), GPUs 512 (more slices, more groups in flight).
    /// CPU defaults, measured on PoCL
    /// (Zen 3, AVX2, batch 8; Benchmarks/NOTES-opencl-solvers.md, fifteenth session): 6 pixels ×
    /// 2 float8 vectors, 12 of AVX2's 16 registers with the two weight vectors and the
    /// broadcast (the 6 × 16 shape of OpenBLAS-style AVX2 micro-kernels; a packed SGEMM with
    /// it ran 125–150 GFLOP/s there); AVX-512 devices take float16 vectors, the same 12
    /// accumulators: on Zen 4 (AVX-512, same session) 1.05–1.4× float8 × 2 on every ResNet-50
    /// layer and pass, and within 10% of 8 × 2 and 8 × 3 float16 tiles on most (8 × 3 up to
    /// 1.3× on strided 1×1 filter gradients, which the tuner finds). One work-item per group:
    /// PoCL runs a group's work-items one after another anyway. GPU default, until a GPU is
    /// measured: float4 × 4 pixels, 64 work-items per group.
    static let channelsLast = TunableKernel(
        program: "conv_channels_last",
        names: ["CL_VW", "CL_NV", "CL_RP", "CL_PF", "CL_WG", "CL_PWG", "CL_NCHW", "CL_FPIX", "CL_SO", "CL_KT", "CL_FRUN"],
        allowed: ["CL_VW": [4, 8, 16], "CL_NV": [1, 2, 3], "CL_RP": [1, 2, 3, 4, 5, 6, 7, 8], "CL_PF": [0, 1],
                  "CL_WG": [1, 16, 64], "CL_PWG": [1, 8, 32], "CL_NCHW": [0, 1],
                  "CL_FPIX": [16, 64, 256, 512, 1024, 2048, 4096], "CL_SO": [0, 1],
                  "CL_KT": [1, 2, 4, 8, 16], "CL_FRUN": [8, 16, 32, 64, 128]],
        cpuDefault: ["CL_VW": 16, "CL_NV": 2, "CL_RP": 6, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 4096, "CL_SO": 1, "CL_KT": 1, "CL_FRUN": 32],
        gpuDefault: ["CL_VW": 4, "CL_NV": 1, "CL_RP": 4, "CL_PF": 1, "CL_WG": 64, "CL_PWG": 32, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
        candidates: [
            // AVX2-sized: at most 12 accumulators of 8 lanes.
            ["CL_VW": 8, "CL_NV": 2, "CL_RP": 6, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 8, "CL_NV": 3, "CL_RP": 4, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 8, "CL_NV": 1, "CL_RP": 8, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 8, "CL_NV": 2, "CL_RP": 4, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            // AVX-512-sized.
            ["CL_VW": 16, "CL_NV": 2, "CL_RP": 6, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 16, "CL_NV": 3, "CL_RP": 8, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 16, "CL_NV": 2, "CL_RP": 8, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            // GPU-sized: many work-items, small tiles.
            ["CL_VW": 4, "CL_NV": 1, "CL_RP": 4, "CL_PF": 1, "CL_WG": 64, "CL_PWG": 32, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 4, "CL_NV": 2, "CL_RP": 2, "CL_PF": 1, "CL_WG": 64, "CL_PWG": 32, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
            ["CL_VW": 4, "CL_NV": 1, "CL_RP": 8, "CL_PF": 1, "CL_WG": 16, "CL_PWG": 8, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32],
        ],
        localSize: { p in [p["CL_WG"]!] },
        // The in-place filter gradient's sums, added through local memory when a group has more
        // than one work-item.
        localBytes: { p in p["CL_WG"]! > 1 ? 4 * p["CL_KT"]! * p["CL_RP"]! * p["CL_NV"]! * p["CL_WG"]! : 0 },
        consistent: { _ in true },
        cpuNarrowDefault: ["CL_VW": 8, "CL_NV": 2, "CL_RP": 6, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 0, "CL_KT": 1, "CL_FRUN": 32])
}
