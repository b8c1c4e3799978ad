/// 1×1 convolutions on 1×1 images, i.e. fully connected layers (`Dense.asConvolution`), in
/// Kernels/conv_fully_connected.cl: each pass reads or writes the K × C weight once for the whole
/// batch, the batch's images in registers. Forward with bias and activation in its epilogue;
/// forward and input gradient split their reduction into chunks when asked (partial sums, then
/// `fc_reduce` adds them in order: deterministic); the filter gradient sums the batch in
/// registers and writes each weight once. Workspace: the chunks' partial sums.
///
/// Why (Benchmarks/NOTES-opencl-solvers.md, twenty-fourth session): at the batch sizes these
/// layers train at, every pass is bound by the weight's traffic, and the other solvers treat each
/// image as a GEMM of one pixel, reading the weight once per image; VGG-16's 25088→4096 (411 MB
/// of weight) at batch 8 took 56 / 99 / 281 ms on the channels-last solver on PoCL.
extension OpenCLBackend {
    static func fullyConnectedApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        isPlainOneByOne(d) && d.groups == 1 && d.inH == 1 && d.inW == 1
            && d.inputCount <= Int(Int32.max) && d.outputCount <= Int(Int32.max) && d.weightCount <= Int(Int32.max)
    }

    static func fullyConnectedTable(_ direction: ConvolutionDirection) -> TunableKernel {
        switch direction {
        case .forward: KernelTunables.fullyConnectedForward
        case .backwardData: KernelTunables.fullyConnectedBackwardData
        case .backwardFilter: KernelTunables.fullyConnectedFilter
        }
    }

    /// Chunks the reduction is split into under `p`: forward over the inputs, backward data over
    /// the outputs; the filter gradient's reduction (the batch) is never split.
    static func fullyConnectedChunks(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                     _ p: TunableParameters) -> Int {
        switch direction {
        case .forward: ceilDiv(d.inChannels, p["FCF_CHUNK"]! * p["FC_VW"]!)
        case .backwardData: ceilDiv(d.outChannels, p["FCD_CHUNK"]!)
        case .backwardFilter: 1
        }
    }

    func fullyConnectedWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                      parameters: TunableParameters) -> Int {
        let p = Self.fullyConnectedTable(direction).completed(parameters, for: info)
        let chunks = Self.fullyConnectedChunks(d, direction: direction, p)
        guard chunks > 1 else { return 0 }
        return chunks * d.batch * (direction == .forward ? d.outChannels : d.inChannels)
    }

    /// Parameter sets worth timing for `d`: the device type's default first, then the table's,
    /// those whose partial sums fit one buffer.
    func fullyConnectedCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> [TunableParameters] {
        guard Self.fullyConnectedApplies(d, direction: direction) else { return [] }
        return Self.fullyConnectedTable(direction).sets(for: info, limits: deviceLimits) { p in
            4 * fullyConnectedWorkspaceCount(d, direction: direction, parameters: p) <= info.maxBufferBytes
        }
    }

    func fullyConnectedForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                               bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                               workspace: (any DeviceBuffer)?, parameters: TunableParameters) throws {
        let (p, chunks, partials) = try fullyConnectedSetUp(d, .forward, parameters, output: y, workspace: workspace)
        let table = KernelTunables.fullyConnectedForward
        let l = table.launch(p, extent: [d.outChannels, chunks, ceilDiv(d.batch, p["FCF_NB"]!)], tile: [p["FCF_KT"]!])
        try launch("conv_fully_connected", "fc_forward", l,
                   [.int(d.inChannels), .int(d.outChannels), .int(d.batch), .int(chunks), .buffer(x), .buffer(weight),
                    .buffer(partials)] + epilogueArguments(bias: bias, activation: activation, y: y))
        if chunks > 1 {
            try fullyConnectedReduce(l.options, count: d.outputCount, columns: d.outChannels, chunks: chunks,
                                     partials: partials, into: y, epilogue: epilogueArguments(bias: bias, activation: activation, y: y))
        }
    }

    func fullyConnectedBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                    dx: any DeviceBuffer, workspace: (any DeviceBuffer)?,
                                    parameters: TunableParameters) throws {
        let (p, chunks, partials) = try fullyConnectedSetUp(d, .backwardData, parameters, output: dx, workspace: workspace)
        let l = KernelTunables.fullyConnectedBackwardData.launch(
            p, extent: [ceilDiv(d.inChannels, p["FC_VW"]!), chunks, ceilDiv(d.batch, p["FCD_NB"]!)],
            tile: [p["FCD_WG"]! * p["FCD_CT"]!])
        try launch("conv_fully_connected", "fc_backward_data", l,
                   [.int(d.inChannels), .int(d.outChannels), .int(d.batch), .buffer(dy), .buffer(weight), .buffer(partials)])
        if chunks > 1 {
            try fullyConnectedReduce(l.options, count: d.inputCount, columns: d.inChannels, chunks: chunks,
                                     partials: partials, into: dx, epilogue: epilogueArguments(bias: nil, activation: nil, y: dx))
        }
    }

    func fullyConnectedBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                      dw: any DeviceBuffer, parameters: TunableParameters) throws {
        let (p, _, _) = try fullyConnectedSetUp(d, .backwardFilter, parameters, output: dw, workspace: nil)
        let l = KernelTunables.fullyConnectedFilter.launch(
            p, extent: [ceilDiv(d.inChannels, p["FC_VW"]!), ceilDiv(d.outChannels, p["FCW_KT"]!)],
            tile: [p["FCW_WG"]! * p["FCW_CT"]!])
        try launch("conv_fully_connected", "fc_backward_filter", l,
                   [.int(d.inChannels), .int(d.outChannels), .int(d.batch), .buffer(x), .buffer(dy), .buffer(dw)])
    }

    /// The one place that checks a pass's problem, parameters and workspace: the completed
    /// parameters, the chunks of the reduction, and where the first kernel writes (the output
    /// itself with one chunk, else the workspace).
    private func fullyConnectedSetUp(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection,
                                     _ parameters: TunableParameters, output: any DeviceBuffer,
                                     workspace: (any DeviceBuffer)?) throws
        -> (TunableParameters, Int, any DeviceBuffer) {
        guard Self.fullyConnectedApplies(d, direction: direction) else {
            throw CNNError.invalidArgument("the fully connected solver needs a 1×1 kernel on 1×1 images, stride 1, no "
                + "padding and one group; got \(d.problemText). Use the pointwise or channels-last solver")
        }
        let table = Self.fullyConnectedTable(direction)
        let p = try table.validated(table.completed(parameters, for: info), limits: deviceLimits,
                                    solver: "fully connected \(direction.rawValue)", device: info.name)
        let chunks = Self.fullyConnectedChunks(d, direction: direction, p)
        guard chunks > 1 else { return (p, 1, output) }
        let needed = fullyConnectedWorkspaceCount(d, direction: direction, parameters: p)
        guard let workspace, workspace.count >= needed else {
            throw CNNError.invalidArgument("the fully connected solver's \(direction.rawValue) pass of \(d.problemText) "
                + "in \(chunks) chunks needs a workspace of \(needed) floats for its partial sums; got \(workspace?.count ?? 0)")
        }
        return (p, chunks, workspace)
    }

    /// out[e] = epilogue(Σ_chunk partials[chunk][e]), built with the pass's own options (one
    /// program for both kernels).
    private func fullyConnectedReduce(_ options: String, count: Int, columns: Int, chunks: Int,
                                      partials: any DeviceBuffer, into out: any DeviceBuffer,
                                      epilogue: [KernelArgument]) throws {
        try launch("conv_fully_connected", "fc_reduce", KernelLaunch(options: options, global: [ceilDiv(count, 64) * 64], local: [64]),
                   [.int(count), .int(columns), .int(chunks), .buffer(partials), .buffer(out)] + epilogue)
    }
}

extension KernelTunables {
    /// Kernels/conv_fully_connected.cl's forward. CPU default measured on PoCL (Zen 5, AVX-512;
    /// NOTES-opencl-solvers.md, twenty-fourth session): 16-float vectors, 3 rows × 8 images (24
    /// of the 32 registers), the whole row one chunk (chunks of 512 inputs, x's 16 KB in L1,
    /// ran 0.6–0.8× as fast: more work-groups, each with its partial sums). AVX2: 2 × 4 of
    /// 8-float vectors. GPUs, until one is measured: 64 work-items taking consecutive 4-float
    /// vectors of a row (coalesced), chunks of 4096 inputs.
    static let fullyConnectedForward = TunableKernel(
        program: "conv_fully_connected",
        names: ["FC_VW", "FCF_KT", "FCF_NB", "FCF_CHUNK", "FCF_WG"],
        allowed: ["FC_VW": [4, 8, 16], "FCF_KT": [1, 2, 3, 4], "FCF_NB": [1, 2, 4, 8],
                  "FCF_CHUNK": [8, 16, 32, 64, 128, 256, 1024, 4096], "FCF_WG": [1, 16, 32, 64, 128]],
        cpuDefault: ["FC_VW": 16, "FCF_KT": 3, "FCF_NB": 8, "FCF_CHUNK": 4096, "FCF_WG": 1],
        gpuDefault: ["FC_VW": 4, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 1024, "FCF_WG": 64],
        candidates: [
            ["FC_VW": 16, "FCF_KT": 3, "FCF_NB": 8, "FCF_CHUNK": 4096, "FCF_WG": 1],
            ["FC_VW": 16, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 4096, "FCF_WG": 1],
            ["FC_VW": 16, "FCF_KT": 4, "FCF_NB": 4, "FCF_CHUNK": 4096, "FCF_WG": 1],
            ["FC_VW": 16, "FCF_KT": 3, "FCF_NB": 8, "FCF_CHUNK": 64, "FCF_WG": 1],
            ["FC_VW": 16, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 256, "FCF_WG": 1],
            ["FC_VW": 8, "FCF_KT": 2, "FCF_NB": 4, "FCF_CHUNK": 4096, "FCF_WG": 1],
            ["FC_VW": 4, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 1024, "FCF_WG": 64],
            ["FC_VW": 4, "FCF_KT": 1, "FCF_NB": 8, "FCF_CHUNK": 4096, "FCF_WG": 128],
        ],
        localSize: { p in [p["FCF_WG"]!] },
        localBytes: { p in p["FCF_WG"]! > 1 ? 4 * p["FCF_KT"]! * p["FCF_NB"]! * p["FCF_WG"]! : 0 },
        consistent: { _ in true },
        cpuNarrowDefault: ["FC_VW": 8, "FCF_KT": 2, "FCF_NB": 4, "FCF_CHUNK": 4096, "FCF_WG": 1])

    /// Kernels/conv_fully_connected.cl's input gradient. CPU default measured as the forward's:
    /// 3 vectors × 8 images of 16 floats, the reduction unsplit (chunks of 128 rows 0.7–0.8× as
    /// fast; 1 vector 0.6–0.8×). GPUs: 64 work-items a group, one 4-float vector each.
    static let fullyConnectedBackwardData = TunableKernel(
        program: "conv_fully_connected",
        names: ["FC_VW", "FCD_CT", "FCD_NB", "FCD_CHUNK", "FCD_WG"],
        allowed: ["FC_VW": [4, 8, 16], "FCD_CT": [1, 2, 3, 4], "FCD_NB": [1, 2, 4, 8],
                  "FCD_CHUNK": [64, 128, 256, 512, 1024, 4096, 16384], "FCD_WG": [1, 16, 32, 64, 128]],
        cpuDefault: ["FC_VW": 16, "FCD_CT": 3, "FCD_NB": 8, "FCD_CHUNK": 16384, "FCD_WG": 1],
        gpuDefault: ["FC_VW": 4, "FCD_CT": 1, "FCD_NB": 8, "FCD_CHUNK": 256, "FCD_WG": 64],
        candidates: [
            ["FC_VW": 16, "FCD_CT": 3, "FCD_NB": 8, "FCD_CHUNK": 16384, "FCD_WG": 1],
            ["FC_VW": 16, "FCD_CT": 2, "FCD_NB": 8, "FCD_CHUNK": 16384, "FCD_WG": 1],
            ["FC_VW": 16, "FCD_CT": 3, "FCD_NB": 8, "FCD_CHUNK": 512, "FCD_WG": 1],
            ["FC_VW": 16, "FCD_CT": 4, "FCD_NB": 4, "FCD_CHUNK": 16384, "FCD_WG": 1],
            ["FC_VW": 16, "FCD_CT": 2, "FCD_NB": 8, "FCD_CHUNK": 128, "FCD_WG": 1],
            ["FC_VW": 8, "FCD_CT": 2, "FCD_NB": 4, "FCD_CHUNK": 16384, "FCD_WG": 1],
            ["FC_VW": 4, "FCD_CT": 1, "FCD_NB": 8, "FCD_CHUNK": 256, "FCD_WG": 64],
            ["FC_VW": 4, "FCD_CT": 2, "FCD_NB": 4, "FCD_CHUNK": 1024, "FCD_WG": 128],
        ],
        localSize: { p in [p["FCD_WG"]!] },
        localBytes: { _ in 0 },
        consistent: { _ in true },
        cpuNarrowDefault: ["FC_VW": 8, "FCD_CT": 2, "FCD_NB": 4, "FCD_CHUNK": 16384, "FCD_WG": 1])

    /// Kernels/conv_fully_connected.cl's filter gradient. CPU default measured as the forward's:
    /// 8 rows × 2 vectors of 16 floats (4 × 4 as fast; 1 row 0.6×). GPUs: 64 work-items a group,
    /// one 4-float vector of 4 rows each.
    static let fullyConnectedFilter = TunableKernel(
        program: "conv_fully_connected",
        names: ["FC_VW", "FCW_KT", "FCW_CT", "FCW_WG"],
        allowed: ["FC_VW": [4, 8, 16], "FCW_KT": [1, 2, 4, 8], "FCW_CT": [1, 2, 4], "FCW_WG": [1, 16, 32, 64, 128]],
        cpuDefault: ["FC_VW": 16, "FCW_KT": 8, "FCW_CT": 2, "FCW_WG": 1],
        gpuDefault: ["FC_VW": 4, "FCW_KT": 4, "FCW_CT": 1, "FCW_WG": 64],
        candidates: [
            ["FC_VW": 16, "FCW_KT": 8, "FCW_CT": 2, "FCW_WG": 1],
            ["FC_VW": 16, "FCW_KT": 4, "FCW_CT": 4, "FCW_WG": 1],
            ["FC_VW": 16, "FCW_KT": 4, "FCW_CT": 2, "FCW_WG": 1],
            ["FC_VW": 16, "FCW_KT": 8, "FCW_CT": 1, "FCW_WG": 1],
            ["FC_VW": 8, "FCW_KT": 4, "FCW_CT": 2, "FCW_WG": 1],
            ["FC_VW": 4, "FCW_KT": 4, "FCW_CT": 1, "FCW_WG": 64],
            ["FC_VW": 4, "FCW_KT": 2, "FCW_CT": 2, "FCW_WG": 128],
        ],
        localSize: { p in [p["FCW_WG"]!] },
        localBytes: { _ in 0 },
        consistent: { _ in true },
        cpuNarrowDefault: ["FC_VW": 8, "FCW_KT": 4, "FCW_CT": 2, "FCW_WG": 1])
}
