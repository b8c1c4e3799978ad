/// Convolution on OpenCL (`Kernels/convolution.cl`), by one of two algorithms:
/// - im2col + CLBlast GEMM (see `Im2ColConvolution`);
/// - direct kernels, one work-item per output row (per input row, per weight for the backward
///   passes), whose inner loops run along contiguous rows so a CPU device vectorizes them.
///
/// Measured on PoCL (2 cores, CLBlast without tuning parameters for the device), forward /
/// backward-data / backward-filter in ms, direct vs im2col + GEMM:
/// | layer                                  | direct          | im2col + GEMM     |
/// |----------------------------------------|-----------------|-------------------|
/// | 3×3, 64→64, 56², batch 8               | 109 / 141 / 211 | 368 / 445 / 309   |
/// | 1×1, 64→256, 56², batch 8              | 132 / 73 / 81   | 259 / 228 / 264   |
/// | depthwise 3×3, 64 ch, 56², batch 8     | 2.8 / 2.8 / 3.2 | 226 / 172 / 327   |
/// | LeNet 5×5, 1→6, 28², batch 64          | 2.1 / 1.6 / 1.5 | 17 / 11 / 26      |
/// | LeNet 5×5, 6→16, 14², batch 64         | 3.7 / 8.0 / 6.2 | 7.8 / 9.2 / 8.9   |
/// So on a CPU device `convolutionSolutions` lists direct first for everything. On a GPU the
/// direct kernels' row-per-work-item access does not coalesce, and GEMM comes first except
/// where a group has so few output channels that GEMM tiles (32–64 rows) are mostly padding,
/// e.g. depthwise convolution.
extension OpenCLBackend: ConvolutionOps, Im2ColConvolution {
    /// Under the CPU policy (PoCL) fully connected layers run as 1×1 convolutions on 1×1
    /// images, tuned among this backend's own solvers, instead of as CLBlast GEMMs: on Zen 5, each solver
    /// tuned fast against CLBlast's SGEMM after its search, ms forward / input gradient / weight
    /// gradient: VGG-16's 25088→4096 at batch 8 56 / 99 / 266 against 602 / 168 / 377,
    /// 4096→4096 12.8 / 13.5 / 15.5 against 79 / 44 / 69, 4096→1000 3.3 / 2.6 / 3.7 against
    /// 15.3 / 9.3 / 7.8; LeNet-5's at batch 64 1.1–2.6× faster. And fast tuning then needs no
    /// CLBlast search (27 of VGG-16's 86 s cold, 32 of LeNet-5's 44 s:
    /// Benchmarks/NOTES-opencl-solvers.md, twenty-third session). GPUs, where CLBlast ships tuned
    /// GEMMs, keep them (not measured).
    public var runsDenseLayersAsConvolutions: Bool { policy == .cpu }

    /// On a GPU, the most output channels per group that still run direct: below CLBlast's
    /// 32–64-row tiles, most of a GEMM tile is padding.
    static let directMaxGroupOutChannels = 8
    /// The widest layers the tiled direct kernels come first for, on any device: LeNet's
    /// (measured, Benchmarks/NOTES-lenet.md); wider ones are left to implicit GEMM and tuning.
    static let directTiledMaxChannels = 16
    /// Backward filter with fewer taps per output channel than this stays on the per-weight
    /// direct kernel: LeNet's 1→6 5×5 (25 taps) measured 0.9 ms there, 1.1–3.7 ms tiled.
    static let directTiledMinFilterTaps = 64

    /// Every solution that applies, the heuristic's best first, then every tunable parameter set
    /// the tuner may choose. The heuristic, per device type (measured on PoCL, batch 8, ResNet-50
    /// layers; see Benchmarks/NOTES-opencl-solvers.md):
    /// - CPU devices: implicit GEMM in every direction (with SIMD-wide register tiles it ran
    ///   2–20× the direct kernels and 2–5× Winograd + untuned CLBlast on every ResNet layer),
    ///   except backward data into at most 16 channels per group (the stem's input gradient:
    ///   a GEMM of 3 rows), where the direct kernel stays first. Strided layers' input
    ///   gradients run one dense GEMM per stride phase, 3.8–8× im2col + col2im (ResNet's
    ///   3×3/2 128→128 56²: 33 vs 268 ms; 1×1/2 256→512 56²: 20 vs 75 ms) where the
    ///   channels-last solver's phases (below) do not run. Forward and filter
    ///   gradient of layers with at most 4 input channels (image stems) run the few-channel
    ///   solver: 4–8× implicit GEMM forward, 3–7× for the filter gradient (VGG's 3×3 3→64
    ///   and ResNet's 7×7/2 stem at 224², Benchmarks/NOTES-opencl-solvers.md, sixth session),
    ///   and so does their input gradient (eighth session: against the direct kernel).
    ///   Filter gradients of 3×3 stride-1 layers with ≥ 64 channels on planes from 14² run
    ///   Winograd F(3×3,4×4) (`winogradFilterIsCPUDefault`; 1.4–1.8× the channels-last solver on
    ///   VGG's 56² and 14² layers, within 10% on ResNet's). Forward and input gradient of 3×3
    ///   stride-1 layers with ≥ 128 channels on images from 14² to 56² run Winograd F(4×4,3×3)
    ///   (`winogradF4x3IsCPUDefault`) on devices with 16-float vectors (AVX-512: 1.3–2.3× the
    ///   channels-last solver, Zen 4), and on narrower ones only where the channels-last copies
    ///   would be too large (AVX2: channels-last 1.0–1.4× faster, Zen 3). Every other pass of a
    ///   one-group layer runs on channels-last copies (`channelsLastIsCPUDefault`: forward and
    ///   stride-1 input gradients 1.1–3.4× the implicit GEMM, strided ones 1.04–1.8×, filter
    ///   gradients mostly 1.0–2.3×; fifteenth session), but the forward and input gradient of 1×1
    ///   stride-1 layers on planes of a multiple of 16 pixels on devices with 16-float vectors,
    ///   which run the pointwise solver (`pointwiseIsCPUDefault`: 1.2–1.9× the channels-last
    ///   solver on ResNet-50's 56² and 28² layers, Zen 5; twentieth session), as do the filter
    ///   gradients of those layers that widen at least 2× (1.3–1.5×; twenty-first session).
    /// - GPUs: direct only for depthwise-like layers (a GEMM tile would be mostly padding);
    ///   Winograd for 3×3 stride-1 layers with at least 32 channels; implicit GEMM otherwise.
    public func convolutionSolutions(for d: Conv2DDescriptor, direction: ConvolutionDirection) -> [ConvolutionSolution] {
        let winograd = Self.winogradF2x3Applies(d, direction: direction)
        let implicit = Self.implicitGEMMApplies(d, direction: direction)
        let preferred: [ConvolutionAlgorithm]
        if Self.directTiledApplies(d, direction: direction) && max(d.inChannels, d.outChannels) <= Self.directTiledMaxChannels
            && (direction != .backwardFilter || d.groupInChannels * d.kernelH * d.kernelW >= Self.directTiledMinFilterTaps) {
            preferred = [.directTiled]
        } else if d.groupOutChannels <= Self.directMaxGroupOutChannels {
            preferred = [.direct]
        } else if policy == .cpu && Self.fullyConnectedApplies(d, direction: direction) {
            preferred = [.fullyConnected, .channelsLast, .implicitGEMM]
        } else if policy == .cpu && Self.fewChannelsApplies(d, direction: direction) {
            preferred = [.fewChannels]
        } else if policy == .cpu && winogradFilterIsCPUDefault(d, direction: direction) {
            preferred = [.winogradFilter, .channelsLast, .implicitGEMM]
        } else if policy == .cpu && winogradF4x3IsCPUDefault(d, direction: direction)
                    && (!info.hasNarrowVectors || !channelsLastIsCPUDefault(d, direction: direction)) {
            preferred = [.winogradF4x3, .channelsLast, .implicitGEMM]
        } else if policy == .cpu && pointwiseIsCPUDefault(d, direction: direction) {
            preferred = [.pointwise, .channelsLast, .implicitGEMM]
        } else if policy == .cpu && channelsLastIsCPUDefault(d, direction: direction) {
            preferred = [.channelsLast, .implicitGEMM]
        } else if policy == .cpu {
            let fewRows = direction == .backwardData && d.groupInChannels <= 16
            preferred = implicit && !fewRows ? [.implicitGEMM, .direct] : [.direct]
        } else {
            preferred = (winograd && d.groupInChannels >= 32 ? [.winogradF2x3] : []) + (implicit ? [.implicitGEMM] : [])
                + [.im2colGEMM]
        }
        var solutions: [ConvolutionSolution] = []
        for a in preferred + [.direct, .im2colGEMM] where !solutions.contains(where: { $0.algorithm == a }) {
            solutions.append(defaultSolution(a, d, direction))
        }
        for (solver, parameters) in convolutionCandidates(d, direction: direction) {
            let s = ConvolutionSolution(solver, parameters: parameters)
            if !solutions.contains(s) { solutions.append(s) }
        }
        return solutions
    }

    /// An algorithm at its default parameters (the first of its tuning candidates).
    private func defaultSolution(_ a: ConvolutionAlgorithm, _ d: Conv2DDescriptor,
                                 _ direction: ConvolutionDirection) -> ConvolutionSolution {
        switch a {
        case .implicitGEMM: ConvolutionSolution(a, parameters: implicitGEMMCandidates(d, direction: direction).first ?? [:])
        case .directTiled: ConvolutionSolution(a, parameters: directTiledCandidates(d, direction: direction).first ?? [:])
        case .fewChannels: ConvolutionSolution(a, parameters: fewChannelsCandidates(d, direction: direction).first ?? [:])
        case .channelsLast: ConvolutionSolution(a, parameters: channelsLastCandidates(d, direction: direction).first ?? [:])
        case .pointwise: ConvolutionSolution(a, parameters: pointwiseCandidates(d, direction: direction).first ?? [:])
        case .fullyConnected:
            ConvolutionSolution(a, parameters: fullyConnectedCandidates(d, direction: direction).first ?? [:])
        case .winogradF4x3: ConvolutionSolution(a, parameters: winogradF4x3Candidates(d, direction: direction).first ?? [:])
        case .winogradFilter: ConvolutionSolution(a, parameters: winogradFilterCandidates(d).first ?? [:])
        default: ConvolutionSolution(a)
        }
    }

    public func convolutionWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                          solution: ConvolutionSolution) -> Int {
        convolutionWorkspaceCount(d, direction: direction, solver: solution.algorithm, parameters: solution.parameters)
    }

    public func encodeConvolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                         bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                                         solution: ConvolutionSolution, workspace: (any DeviceBuffer)?) throws {
        switch solution.algorithm {
        case .im2colGEMM:
            try im2colForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y, workspace: workspace)
        case .direct:
            try launch("convolution", "conv_direct_forward", global: [d.outH, d.outChannels, d.batch],
                       directArguments(d) + [.buffer(x), .buffer(weight), .buffer(y)]
                           + epilogueArguments(bias: bias, activation: activation, y: y))
        case .implicitGEMM:
            try implicitGEMMForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                    parameters: solution.parameters)
        case .winogradF2x3:
            try winogradF2x3Forward(d, x: x, weight: weight, bias: bias, activation: activation, y: y, workspace: workspace)
        case .winogradF4x3:
            try winogradF4x3Forward(d, x: x, weight: weight, bias: bias, activation: activation, y: y, workspace: workspace,
                                    parameters: solution.parameters)
        case .conv1x1CLBlast:
            try conv1x1CLBlastForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y)
        case .directTiled:
            try directTiledForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                   parameters: solution.parameters)
        case .fewChannels:
            try fewChannelsForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                   parameters: solution.parameters)
        case .channelsLast:
            try channelsLastForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                    workspace: workspace, parameters: solution.parameters)
        case .pointwise:
            try pointwiseForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                 parameters: solution.parameters)
        case .fullyConnected:
            try fullyConnectedForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y,
                                      workspace: workspace, parameters: solution.parameters)
        case .winogradFilter:
            throw CNNError.invalidArgument("the Winograd filter-gradient solver computes only the backward-filter pass")
        case .oneDNN:
            throw CNNError.invalidArgument("OpenCL devices have no oneDNN convolution; it runs on the CPU backend")
        }
    }

    public func encodeConvolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                              dx: any DeviceBuffer, solution: ConvolutionSolution,
                                              workspace: (any DeviceBuffer)?) throws {
        switch solution.algorithm {
        case .im2colGEMM:
            try im2colBackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace)
        case .direct:
            try launch("convolution", "conv_direct_backward_data", global: [d.inH, d.inChannels, d.batch],
                       directArguments(d) + [.buffer(dy), .buffer(weight), .buffer(dx)])
        case .implicitGEMM:
            try implicitGEMMBackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace, parameters: solution.parameters)
        case .winogradF2x3:
            try winogradF2x3BackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace)
        case .winogradF4x3:
            try winogradF4x3BackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace,
                                         parameters: solution.parameters)
        case .conv1x1CLBlast:
            try conv1x1CLBlastBackwardData(d, dy: dy, weight: weight, dx: dx)
        case .directTiled:
            try directTiledBackwardData(d, dy: dy, weight: weight, dx: dx, parameters: solution.parameters)
        case .fewChannels:
            try fewChannelsBackwardData(d, dy: dy, weight: weight, dx: dx, parameters: solution.parameters)
        case .channelsLast:
            try channelsLastBackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace,
                                         parameters: solution.parameters)
        case .pointwise:
            try pointwiseBackwardData(d, dy: dy, weight: weight, dx: dx, parameters: solution.parameters)
        case .fullyConnected:
            try fullyConnectedBackwardData(d, dy: dy, weight: weight, dx: dx, workspace: workspace,
                                           parameters: solution.parameters)
        case .winogradFilter:
            throw CNNError.invalidArgument("the Winograd filter-gradient solver computes only the backward-filter pass")
        case .oneDNN:
            throw CNNError.invalidArgument("OpenCL devices have no oneDNN convolution; it runs on the CPU backend")
        }
    }

    public func encodeConvolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                                dw: any DeviceBuffer, solution: ConvolutionSolution,
                                                workspace: (any DeviceBuffer)?) throws {
        switch solution.algorithm {
        case .im2colGEMM:
            try im2colBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace)
        case .direct:
            try launch("convolution", "conv_direct_backward_filter",
                       global: [d.kernelW, d.kernelH, d.outChannels * d.groupInChannels],
                       directArguments(d) + [.buffer(x), .buffer(dy), .buffer(dw)])
        case .implicitGEMM:
            try implicitGEMMBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: solution.parameters)
        case .conv1x1CLBlast:
            try conv1x1CLBlastBackwardFilter(d, x: x, dy: dy, dw: dw)
        case .directTiled:
            try directTiledBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: solution.parameters)
        case .fewChannels:
            try fewChannelsBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: solution.parameters)
        case .winogradF2x3:
            throw CNNError.invalidArgument("Winograd F(2×2,3×3) has no backward-filter pass")
        case .winogradF4x3:
            throw CNNError.invalidArgument("Winograd F(4×4,3×3) has no backward-filter pass; use implicit GEMM")
        case .channelsLast:
            try channelsLastBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: solution.parameters)
        case .pointwise:
            try pointwiseBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: solution.parameters)
        case .fullyConnected:
            try fullyConnectedBackwardFilter(d, x: x, dy: dy, dw: dw, parameters: solution.parameters)
        case .winogradFilter:
            try winogradFilterBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: solution.parameters)
        case .oneDNN:
            throw CNNError.invalidArgument("OpenCL devices have no oneDNN convolution; it runs on the CPU backend")
        }
    }

    /// y = activation(y + bias) on images `firstImage ..< firstImage + images`, one kernel.
    func convolutionEpilogue(_ d: Conv2DDescriptor, bias: (any DeviceBuffer)?, activation: Activation?,
                             y: any DeviceBuffer, firstImage: Int, images: Int) throws {
        try launch("convolution", "bias_activation", global: [d.outPixels, d.outChannels, images],
                   [.int(d.outChannels), .int(d.outPixels), .int(images), .int(firstImage)]
                       + epilogueArguments(bias: bias, activation: activation, y: y) + [.buffer(y)])
    }

    /// has_bias, bias, code, alpha: without a bias, `y` stands in for the unread bias buffer.
    func epilogueArguments(bias: (any DeviceBuffer)?, activation: Activation?,
                                   y: any DeviceBuffer) -> [KernelArgument] {
        [.int(bias == nil ? 0 : 1), .buffer(bias ?? y), .int(activation.kernelCode), .float(activation?.alpha ?? 0)]
    }

    // MARK: im2col kernels (also called directly by the kernel checks)

    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws {
        try launch("convolution", "im2col", global: [d.outW, d.outH, d.inChannels * images],
                   geometryArguments(d, images: images) + [.int(firstImage), .buffer(x), .buffer(col)])
    }

    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws {
        try launch("convolution", "col2im_gather", global: [d.inW, d.inH, images * d.inChannels],
                   geometryArguments(d, images: images) + [.int(firstImage), .buffer(col), .buffer(dx)])
    }

    func packImages(rows: Int, length: Int, src: any DeviceBuffer, firstImage: Int, images: Int,
                    dst: any DeviceBuffer, dstOffset: Int) throws {
        try launch("convolution", "pack_images", global: [length, rows, images],
                   [.int(rows), .int(length), .int(images), .int(firstImage), .buffer(src), .buffer(dst), .int(dstOffset)])
    }

    func unpackImages(rows: Int, length: Int, src: any DeviceBuffer, srcOffset: Int, images: Int,
                      dst: any DeviceBuffer, firstImage: Int, bias: (any DeviceBuffer)?,
                      activation: Activation?) throws {
        try launch("convolution", "unpack_images", global: [length, rows, images],
                   [.int(rows), .int(length), .int(images), .int(firstImage), .buffer(src), .int(srcOffset), .buffer(dst)]
                       + epilogueArguments(bias: bias, activation: activation, y: dst))
    }

    /// The leading geometry arguments every kernel of convolution.cl but the packing ones takes.
    private func geometryArguments(_ d: Conv2DDescriptor, images: Int) -> [KernelArgument] {
        [images, d.inChannels, d.inH, d.inW, d.kernelH, d.kernelW, d.strideH, d.strideW,
         d.padding.top, d.padding.left, d.dilationH, d.dilationW, d.outH, d.outW].map { .int($0) }
    }

    private func directArguments(_ d: Conv2DDescriptor) -> [KernelArgument] {
        geometryArguments(d, images: d.batch) + [.int(d.outChannels), .int(d.groups)]
    }
}
