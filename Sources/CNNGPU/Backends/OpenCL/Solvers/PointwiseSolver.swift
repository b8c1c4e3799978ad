/// 1×1 convolution (stride 1, no padding, one group) as a GEMM straight on the NCHW tensors,
/// in our own kernel (Kernels/conv_pointwise.cl): y[n] = W · x[n] forward, with bias and
/// activation in its epilogue, and dx[n] = Wᵀ · dy[n] for the input gradient (the same kernel,
/// the weights read transposed). Each work-item keeps PW_KT output channels × PW_NP vectors of
/// PW_VW pixels in registers, the pixels being the vector lanes: per input channel it loads a
/// run of the channel's plane and PW_KT weights. No workspace and no copy of either tensor.
/// A plane whose pixels are not a multiple of the vector (ResNet's 14² and 7² with 16-pixel
/// vectors) ends in a partial vector, read and written lane by lane in the plane's last block
/// only. The filter gradient: PointwiseFilterSolver.swift.
///
/// Why (Benchmarks/NOTES-opencl-solvers.md, twentieth session): the channels-last solver's
/// in-place 1×1 pass has output channels as its lanes and reads each input value as a scalar a
/// plane away; on PoCL (Zen 5) it ran ResNet-50's 1×1 layers at 56² at 100–200 GFLOP/s.
extension OpenCLBackend {
    /// Every plain 1×1 layer: forward and input gradient end a plane of any size in a partial
    /// vector; the filter gradient's 1-pixel vectors divide any plane.
    static func pointwiseApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        isPlainOneByOne(d) && d.groups == 1
            && d.inputCount <= Int(Int32.max) && d.outputCount <= Int(Int32.max)
            && d.weightCount <= Int(Int32.max)
    }

    /// The CPU devices' heuristic default for `d`: on devices with 16-float vectors (AVX-512)
    /// where the default's vector divides the plane. Measured there (Zen 5, interleaved, ResNet-50
    /// batch 8): 1.2–1.9× the channels-last solver forward and 1.0–1.7× for the input gradient
    /// on the 1×1 layers at 56² and 28²; at 14² with 4-pixel vectors 0.4×, and with 16-pixel ones
    /// and a partial last vector 0.9–1.1× forward and input gradient (1024→256; 7²: 0.6–0.9×),
    /// within the machine's noise, so the tuner decides there. The filter gradient only of
    /// layers that widen at least 2× (64→256 56² and 128→512 28²: 1.3–1.5×; 256→64 and 64→64 56²
    /// 0.9×, 512→128 28² 1.0–1.1×: NOTES-opencl-solvers.md, twenty-first session). AVX2 devices
    /// and GPUs: not measured, so the tuner's candidates only.
    func pointwiseIsCPUDefault(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        let vw = direction == .backwardFilter ? KernelTunables.pointwiseFilter.defaults(for: info)["PWF_VW"]!
            : KernelTunables.pointwise.defaults(for: info)["PW_VW"]!
        return info.kind != .gpu && info.nativeFloatVectorWidth >= 16 && vw == 16
            && (direction != .backwardFilter || d.outChannels >= 2 * d.inChannels)
            && Self.pointwiseApplies(d, direction: direction) && (d.inH * d.inW) % vw == 0
    }

    /// Parameter sets worth timing for `d`: the device type's default first, then the table's.
    func pointwiseCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        guard Self.pointwiseApplies(d, direction: direction) else { return [] }
        if direction == .backwardFilter { return pointwiseFilterCandidates(d) }
        return KernelTunables.pointwise.sets(for: info, limits: deviceLimits)
    }

    func pointwiseForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                          bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                          parameters: TunableParameters) throws {
        try pointwise(d, .forward, input: x, weight: weight, output: y,
                      epilogue: epilogueArguments(bias: bias, activation: activation, y: y), parameters: parameters)
    }

    func pointwiseBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                               dx: any DeviceBuffer, parameters: TunableParameters) throws {
        try pointwise(d, .backwardData, input: dy, weight: weight, output: dx,
                      epilogue: epilogueArguments(bias: nil, activation: nil, y: dx), parameters: parameters)
    }

    private func pointwise(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, input: any DeviceBuffer,
                           weight: any DeviceBuffer, output: any DeviceBuffer, epilogue: [KernelArgument],
                           parameters: TunableParameters) throws {
        let pixels = d.inH * d.inW
        guard direction != .backwardFilter, Self.pointwiseApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("the pointwise solver (\(direction.rawValue)) needs a 1×1 kernel, stride 1, "
                + "no padding and one group, forward or backward data; got "
                + "\(d.problemText). Use the channels-last solver or implicit GEMM")
        }
        let table = KernelTunables.pointwise
        let p = try table.validated(table.completed(parameters, for: info), limits: deviceLimits,
                                    solver: "pointwise convolution", device: info.name)
        // Forward: K outputs from C inputs, w(o, i) = w[o·C + i]; backward data: C from K, w[i·C + o].
        let forward = direction == .forward
        let (ins, outs) = forward ? (d.inChannels, d.outChannels) : (d.outChannels, d.inChannels)
        let (outStep, inStep) = forward ? (d.inChannels, 1) : (1, d.inChannels)
        // Dimension 0 is rounded up to whole work-groups (`TunableKernel.launch`); the others
        // count blocks. Work-items past the tensors return at once.
        let (pixelTile, kt) = (p["PW_NP"]! * p["PW_VW"]!, p["PW_KT"]!)
        let launch = p["PW_KFIRST"]! == 1
            ? table.launch(p, extent: [outs, ceilDiv(pixels, pixelTile), d.batch], tile: [kt])
            : table.launch(p, extent: [pixels, ceilDiv(outs, kt), d.batch], tile: [pixelTile])
        try self.launch("conv_pointwise", "conv_pointwise", launch,
                        [.int(ins), .int(outs), .int(pixels), .int(outStep), .int(inStep), .buffer(input), .buffer(weight),
                         .buffer(output)] + epilogue)
    }
}

extension KernelTunables {
    /// Kernels/conv_pointwise.cl. CPU default measured on PoCL (Zen 5, AVX-512), ResNet-50's
    /// 1×1 layers at 56² and 28² (NOTES-opencl-solvers.md, twentieth session): 16-pixel vectors,
    /// 8 output channels × 2 vectors (16 of the 32 registers), output-channel blocks along
    /// dimension 0, so consecutive work-items on a core read the same pixels from L1. Narrow
    /// CPU devices (AVX2, 16 registers): 8-pixel vectors, 4 × 2. GPUs, until one is measured:
    /// 4-pixel vectors, 8 × 1, pixel blocks along dimension 0 (consecutive work-items read
    /// consecutive 16-byte runs), 64 work-items a group.
    static let pointwise = TunableKernel(
        program: "conv_pointwise",
        names: ["PW_VW", "PW_KT", "PW_NP", "PW_KFIRST", "PW_WG"],
        allowed: ["PW_VW": [4, 8, 16], "PW_KT": [1, 2, 4, 6, 8, 12, 16], "PW_NP": [1, 2, 3, 4],
                  "PW_KFIRST": [0, 1], "PW_WG": [1, 8, 16, 32, 64, 128]],
        cpuDefault: ["PW_VW": 16, "PW_KT": 8, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1],
        gpuDefault: ["PW_VW": 4, "PW_KT": 8, "PW_NP": 1, "PW_KFIRST": 0, "PW_WG": 64],
        candidates: [
            ["PW_VW": 16, "PW_KT": 8, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 16, "PW_KT": 4, "PW_NP": 4, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 16, "PW_KT": 6, "PW_NP": 4, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 16, "PW_KT": 12, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 16, "PW_KT": 8, "PW_NP": 2, "PW_KFIRST": 0, "PW_WG": 1],
            ["PW_VW": 8, "PW_KT": 4, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 8, "PW_KT": 6, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 4, "PW_KT": 8, "PW_NP": 4, "PW_KFIRST": 1, "PW_WG": 1],
            ["PW_VW": 4, "PW_KT": 8, "PW_NP": 1, "PW_KFIRST": 0, "PW_WG": 64],
            ["PW_VW": 4, "PW_KT": 4, "PW_NP": 2, "PW_KFIRST": 0, "PW_WG": 128],
        ],
        localSize: { p in [p["PW_WG"]!] },
        localBytes: { _ in 0 },
        consistent: { _ in true },
        cpuNarrowDefault: ["PW_VW": 8, "PW_KT": 4, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1])
}
