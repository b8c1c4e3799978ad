/// Winograd F(4×4, 3×3) convolution (Kernels/conv_winograd_f4x3.cl), all four steps our own
/// kernels: weight transform → input transform (6×6 patches → 36 values) → 36 GEMMs in one
/// tiled launch (`KernelTunables.winogradF4x3`) → output transform with fused bias and
/// activation. 4× fewer multiplies than direct for 3×3, stride-1, dilation-1, single-group
/// layers (F(2×2,3×3): 2.25×), at the price of about ten times F(2×2,3×3)'s rounding error
/// (the points ±2 put coefficients up to 8 into the transforms). Backward data is the same
/// pipeline on dy with the weights flipped and transposed and padding 2 − pad (so each side's
/// padding must be at most 2). The workspace holds U [36, K, C], V [36, C, PP] and M [36, K, PP],
/// PP = the 4×4 tile count rounded up to 16.
extension OpenCLBackend {
    static func winogradF4x3Applies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        // Same problems as F(2×2,3×3): the transforms differ, not the convolution they compute.
        winogradF2x3Applies(d, direction: direction)
    }

    /// The convolution the pipeline runs (forward, or backward data as a forward convolution of
    /// dy) and its tile counts.
    struct WinogradF4x3Plan {
        let cIn, h, w, kOut, oh, ow, padTop, padLeft, batch: Int
        var tilesH: Int { ceilDiv(oh, 4) }
        var tilesW: Int { ceilDiv(ow, 4) }
        var tiles: Int { batch * tilesH * tilesW }
        /// Columns of V and M: whole 16-float vectors, so the GEMM never loads a partial one.
        var paddedTiles: Int { ceilDiv(tiles, 16) * 16 }
        var uCount: Int { 36 * kOut * cIn }
        var vCount: Int { 36 * cIn * paddedTiles }
        var mCount: Int { 36 * kOut * paddedTiles }

        init(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection) {
            batch = d.batch
            if direction == .forward {
                (cIn, h, w, kOut, oh, ow, padTop, padLeft)
                    = (d.inChannels, d.inH, d.inW, d.outChannels, d.outH, d.outW, d.padding.top, d.padding.left)
            } else {
                (cIn, h, w, kOut, oh, ow, padTop, padLeft)
                    = (d.outChannels, d.outH, d.outW, d.inChannels, d.inH, d.inW, 2 - d.padding.top, 2 - d.padding.left)
            }
        }
    }

    /// Whether a CPU device may run this solver first when nothing is tuned (on AVX2-wide
    /// devices only where the channels-last solver's copies are too large:
    /// `convolutionSolutions`): 3×3 stride-1 layers with at least 128 input and output channels
    /// on images from 14² to 56² with at least 32 4×4 tiles in all, and a
    /// workspace of at most `winogradF4x3DefaultMaxWorkspaceBytes`. Measured on PoCL (Zen 5, 2
    /// cores, batch 8, default parameters, forward and input gradient, same process;
    /// Benchmarks/NOTES-opencl-solvers.md, eighth session): 1.3–3.5× the implicit GEMM at
    /// 128 28², 256 14², 256 28², 512 14², 512 7²; about even at 64 56², which stays off it;
    /// on Zen 4 (fifteenth session) 1.3–2.3× the channels-last solver at 256 14², 512 7²,
    /// 512 14², 512 28², 256→512 28² and 128→256 56² (larger images not measured). With
    /// fewer tiles the weight transform (36·K·C values at every launch) is not amortized:
    /// ResNet-50 at 64² input (512 channels at 2², 8 tiles) ran 63–83 ms per layer pass on it.
    /// Not at 7² since the channels-last solver's weights became panels (seventeenth session,
    /// Zen 4, 5 interleaved rounds): there it ran 1.33–1.42× Winograd on ResNet-50's 512→512
    /// (forward 13.6 against 19.3 ms, input gradient 12.5 against 16.6); at 14² Winograd kept
    /// VGG's 512→512 (1.1–1.2×), ResNet's 256→256 within 10% either way.
    func winogradF4x3IsCPUDefault(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        Self.winogradF4x3Applies(d, direction: direction) && d.inChannels >= 128 && d.outChannels >= 128
            && max(d.inH, d.inW, d.outH, d.outW) <= 56 && min(d.inH, d.inW, d.outH, d.outW) >= 14
            && WinogradF4x3Plan(d, direction).tiles >= 32
            && 4 * winogradF4x3WorkspaceCount(d, direction: direction) <= Self.winogradF4x3DefaultMaxWorkspaceBytes
    }

    /// See `winogradF4x3IsCPUDefault`: VGG-16's 512→512 28² layer at batch 8 needs 97 MB.
    static let winogradF4x3DefaultMaxWorkspaceBytes = 256 << 20

    func winogradF4x3WorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Int {
        let q = WinogradF4x3Plan(d, direction)
        return q.uCount + q.vCount + q.mCount
    }

    /// Parameter sets worth timing on this device (the default for the problem first): the
    /// device type's shapes, valid for its limits.
    func winogradF4x3Candidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        let table = KernelTunables.winogradF4x3
        let limits = deviceLimits
        var result = [winogradF4x3DefaultParameters(d, direction)]
        let gpu = info.kind == .gpu
        let size = { (p: TunableParameters) in table.localSize(p).reduce(1, *) }
        for c in table.candidates where !result.contains(c) && (gpu ? size(c) >= 64 : size(c) <= 64) { result.append(c) }
        return result.filter { table.isValid($0, limits: limits) }
    }

    /// The device type's default, with the CPU tile narrowed to 32 columns where the GEMM has
    /// at most 32 (ResNet's 7² layers at batch 8: 32 tiles), since a wider tile only computes
    /// padding there.
    func winogradF4x3DefaultParameters(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection) -> TunableParameters {
        var p = KernelTunables.winogradF4x3.defaults(for: info)
        if info.kind != .gpu && WinogradF4x3Plan(d, direction).paddedTiles <= 32 { p["TN"] = 32 }
        return p
    }

    func winogradF4x3Forward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                             bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                             workspace: (any DeviceBuffer)?, parameters: TunableParameters) throws {
        try winogradF4x3(d, .forward, input: x, weight: weight, bias: bias, activation: activation, output: y,
                         workspace: workspace, parameters: parameters)
    }

    func winogradF4x3BackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                  dx: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                  parameters: TunableParameters) throws {
        try winogradF4x3(d, .backwardData, input: dy, weight: weight, bias: nil, activation: nil, output: dx,
                         workspace: workspace, parameters: parameters)
    }

    private func winogradF4x3(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, input: any DeviceBuffer,
                              weight: any DeviceBuffer, bias: (any DeviceBuffer)?, activation: Activation?,
                              output: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                              parameters: TunableParameters) throws {
        guard Self.winogradF4x3Applies(d, direction: direction) else {
            throw CNNError.invalidArgument("Winograd F(4×4,3×3) \(direction.rawValue) needs a 3×3 kernel, stride 1, "
                + "dilation 1, one group (and padding at most 2 for backward data); got \(d.problemText); use implicit GEMM")
        }
        let table = KernelTunables.winogradF4x3
        let p = try table.validated(parameters.isEmpty ? winogradF4x3DefaultParameters(d, direction)
                                        : table.completed(parameters, for: info),
                                    limits: deviceLimits, solver: "Winograd F(4×4,3×3)", device: info.name)
        let q = WinogradF4x3Plan(d, direction)
        let needed = q.uCount + q.vCount + q.mCount
        // The kernels take V's and M's offsets as int.
        guard needed <= Int(Int32.max) else {
            throw CNNError.invalidArgument("Winograd F(4×4,3×3) of \(d.problemText) needs a workspace of \(needed) "
                + "floats, more than its kernels index (2³¹ − 1); use implicit GEMM or a smaller batch")
        }
        guard let ws = workspace, ws.count >= needed else {
            throw CNNError.invalidArgument("Winograd F(4×4,3×3) needs a workspace of \(needed) floats, got "
                + "\(workspace?.count ?? 0); size it with winogradF4x3WorkspaceCount")
        }
        // Every kernel of the program is built with the GEMM's options: one program per set.
        let gemm = table.launch(p, extent: [q.paddedTiles, q.kOut, 36], tile: [p["TN"]!, p["TM"]!])
        // The transforms' work-groups: 16 tiles (PP is a multiple of 16), no local memory.
        let transformGroup = 16
        let rounded = { (n: Int) in ceilDiv(n, transformGroup) * transformGroup }
        try launch("conv_winograd_f4x3", "winograd_f4_weight_transform",
                   KernelLaunch(options: gemm.options, global: [rounded(q.kOut * q.cIn)], local: [transformGroup]),
                   [.int(q.kOut), .int(q.cIn), .int(direction == .forward ? 0 : 1), .buffer(weight), .buffer(ws)])
        // U, V and M are consecutive ranges of the one workspace, passed as offsets.
        let (vOffset, mOffset) = (q.uCount, q.uCount + q.vCount)
        try launch("conv_winograd_f4x3", "winograd_f4_input_transform",
                   KernelLaunch(options: gemm.options, global: [q.paddedTiles, q.cIn], local: [transformGroup, 1]),
                   [.int(d.batch), .int(q.cIn), .int(q.h), .int(q.w), .int(q.padTop), .int(q.padLeft),
                    .int(q.tilesH), .int(q.tilesW), .int(q.paddedTiles), .buffer(input), .buffer(ws), .int(vOffset)])
        try launch("conv_winograd_f4x3", "winograd_f4_batched_gemm", gemm,
                   [.int(q.kOut), .int(q.cIn), .int(q.paddedTiles), .buffer(ws), .buffer(ws), .int(vOffset),
                    .buffer(ws), .int(mOffset)])
        try launch("conv_winograd_f4x3", "winograd_f4_output_transform",
                   KernelLaunch(options: gemm.options, global: [q.paddedTiles, q.kOut], local: [transformGroup, 1]),
                   [.int(d.batch), .int(q.kOut), .int(q.oh), .int(q.ow), .int(q.tilesH), .int(q.tilesW),
                    .int(q.paddedTiles), .buffer(ws), .int(mOffset), .buffer(bias ?? weight),
                    .int(bias == nil ? 0 : 1), .int(activation?.kernelCode ?? -1), .float(activation?.alpha ?? 0),
                    .buffer(output)])
    }
}

extension KernelTunables {
    /// Kernels/conv_winograd_f4x3.cl's batched GEMM: TM × TN work-group tile, TK step over
    /// input channels, WPT_M × WPT_N per work-item with the columns in vectors of VW. The CPU
    /// default is the implicit GEMM's reasoning (PoCL runs a group's work-items one after
    /// another, so each carries an AVX-512-wide 8 × 32 register tile), on 64 × 64 tiles: the
    /// ResNet layers Winograd serves have 32–1568 tile columns and 64–512 rows. GPU default:
    /// 256 work-items of 4 × 4 with float4 loads, until a GPU is measured.
    static let winogradF4x3 = TunableKernel.gemmTile(
        program: "conv_winograd_f4x3",
        cpuDefault: ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
        gpuDefault: ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
        candidates: [
            // GPU shapes: many work-items, small register tiles.
            ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
            ["TM": 32, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
            ["TM": 128, "TN": 128, "TK": 16, "WPT_M": 8, "WPT_N": 8, "VW": 4],
            ["TM": 32, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 2, "VW": 2],
            // CPU shapes: few work-items, each a SIMD-wide register tile.
            ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 32, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 128, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 128, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 64, "TK": 64, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 32, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 16, "VW": 16],
        ])
}
