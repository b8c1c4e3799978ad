/// The pointwise solver's filter gradient (Kernels/conv_pointwise_filter.cl): for a 1×1,
/// stride-1, unpadded, single-group layer, dw[k][c] = Σ_n Σ_p dy[n][k][p]·x[n][c][p], a GEMM
/// whose reduction runs along the pixel rows both NCHW tensors already have. Work-groups take a
/// tile of PWF_KT × PWF_CT weights over one chunk of PWF_CHUNK vectors of one image's pixels
/// and write partial sums; a second kernel adds the chunks in a fixed order (deterministic).
/// Workspace: the partial sums, chunks × K × C floats (none when the whole batch is one chunk).
extension OpenCLBackend {
    /// Chunks of `d`'s pixels under `p`: per image, and in all.
    static func pointwiseFilterChunks(_ d: Conv2DDescriptor, _ p: TunableParameters) -> (perImage: Int, total: Int) {
        let perImage = ceilDiv(d.inH * d.inW / p["PWF_VW"]!, p["PWF_CHUNK"]!)
        return (perImage, perImage * d.batch)
    }

    func pointwiseFilterWorkspaceCount(_ d: Conv2DDescriptor, parameters: TunableParameters) -> Int {
        let p = KernelTunables.pointwiseFilter.completed(parameters, for: info)
        let chunks = Self.pointwiseFilterChunks(d, p).total
        return chunks > 1 ? chunks * d.outChannels * d.inChannels : 0
    }

    /// Parameter sets worth timing for `d`'s filter gradient: the device type's default first,
    /// then the table's, those whose vector divides the plane and whose partial sums fit one
    /// buffer; on CPU devices only the sets of one work-item a group (PoCL ran the GPU form, 64
    /// work-items of 1-pixel vectors adding up in local memory, 60× slower than the channels-last
    /// solver on ResNet-50's 1×1 7² filter gradients).
    func pointwiseFilterCandidates(_ d: Conv2DDescriptor) -> [TunableParameters] {
        KernelTunables.pointwiseFilter.sets(for: info, limits: deviceLimits) { p in
            (d.inH * d.inW) % p["PWF_VW"]! == 0 && (info.kind == .gpu || p["PWF_WG"]! == 1)
                && 4 * pointwiseFilterWorkspaceCount(d, parameters: p) <= info.maxBufferBytes
        }
    }

    func pointwiseBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer, dw: any DeviceBuffer,
                                 workspace: (any DeviceBuffer)?, parameters: TunableParameters) throws {
        guard Self.pointwiseApplies(d, direction: .backwardFilter) else {
            throw CNNError.invalidArgument("the pointwise solver needs a 1×1 kernel, stride 1, no padding and one group; "
                + "got \(d.problemText). Use the channels-last solver or implicit GEMM")
        }
        let table = KernelTunables.pointwiseFilter, pixels = d.inH * d.inW
        let p = try table.validated(table.completed(parameters, for: info), limits: deviceLimits,
                                    solver: "pointwise filter gradient", device: info.name)
        guard pixels % p["PWF_VW"]! == 0 else {
            throw CNNError.invalidArgument("the pointwise filter gradient with PWF_VW=\(p["PWF_VW"]!) needs planes of a "
                + "multiple of \(p["PWF_VW"]!) pixels; \(d.problemText) has \(pixels). Use a set of pointwiseFilterCandidates")
        }
        let chunks = Self.pointwiseFilterChunks(d, p)
        let count = d.outChannels * d.inChannels
        let partials: any DeviceBuffer
        if chunks.total == 1 {
            partials = dw
        } else {
            let needed = chunks.total * count
            guard let workspace, workspace.count >= needed else {
                throw CNNError.invalidArgument("the pointwise filter gradient of \(d.problemText) needs a workspace of "
                    + "\(needed) floats for its partial sums; got \(workspace?.count ?? 0)")
            }
            partials = workspace
        }
        try launch("conv_pointwise_filter", "conv_pointwise_filter",
                   table.launch(p, extent: [ceilDiv(d.inChannels, p["PWF_CT"]!), ceilDiv(d.outChannels, p["PWF_KT"]!),
                                            chunks.total], tile: [1]),
                   [.int(d.inChannels), .int(d.outChannels), .int(pixels), .int(chunks.perImage), .buffer(x), .buffer(dy),
                    .buffer(partials)])
        if chunks.total > 1 {
            try launch("conv_pointwise_filter", "conv_pointwise_filter_reduce", global: [count], local: [64],
                       [.int(count), .int(chunks.total), .buffer(partials), .buffer(dw)])
        }
    }
}

extension KernelTunables {
    /// Kernels/conv_pointwise_filter.cl. CPU default measured on PoCL (Zen 5, AVX-512),
    /// ResNet-50's 1×1 filter gradients at 56² and 28², interleaved against the channels-last
    /// solver (NOTES-opencl-solvers.md, twenty-first session): 6 × 4 weights a work-item (24 of
    /// the 32 registers; 4 × 4 ran 0.8–0.95× as fast), chunks of 256 vectors, i.e. a whole 56² or
    /// 28² plane (chunks of 16 and 32 vectors ran 0.5–0.8× as fast: the lanes' sums and the
    /// partial sums of each chunk). GPUs, until one is measured: 4-pixel vectors, 64 work-items a
    /// tile taking consecutive vectors (coalesced), 4 × 4 weights each.
    static let pointwiseFilter = TunableKernel(
        program: "conv_pointwise_filter",
        names: ["PWF_VW", "PWF_KT", "PWF_CT", "PWF_CHUNK", "PWF_WG"],
        allowed: ["PWF_VW": [1, 4, 8, 16], "PWF_KT": [1, 2, 4, 6, 8], "PWF_CT": [1, 2, 4, 6, 8],
                  "PWF_CHUNK": [8, 16, 32, 64, 128, 256, 1024], "PWF_WG": [1, 8, 16, 32, 64, 128]],
        cpuDefault: ["PWF_VW": 16, "PWF_KT": 6, "PWF_CT": 4, "PWF_CHUNK": 256, "PWF_WG": 1],
        gpuDefault: ["PWF_VW": 4, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 256, "PWF_WG": 64],
        candidates: [
            ["PWF_VW": 16, "PWF_KT": 6, "PWF_CT": 4, "PWF_CHUNK": 256, "PWF_WG": 1],
            ["PWF_VW": 16, "PWF_KT": 6, "PWF_CT": 4, "PWF_CHUNK": 128, "PWF_WG": 1],
            ["PWF_VW": 16, "PWF_KT": 4, "PWF_CT": 6, "PWF_CHUNK": 256, "PWF_WG": 1],
            ["PWF_VW": 16, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 64, "PWF_WG": 1],
            ["PWF_VW": 8, "PWF_KT": 4, "PWF_CT": 2, "PWF_CHUNK": 64, "PWF_WG": 1],
            ["PWF_VW": 4, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 64, "PWF_WG": 1],
            ["PWF_VW": 4, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 256, "PWF_WG": 64],
            ["PWF_VW": 1, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 1024, "PWF_WG": 64],
        ],
        localSize: { p in [p["PWF_WG"]!] },
        localBytes: { p in p["PWF_WG"]! > 1 ? 4 * p["PWF_KT"]! * p["PWF_CT"]! * p["PWF_WG"]! : 0 },
        consistent: { _ in true },
        cpuNarrowDefault: ["PWF_VW": 8, "PWF_KT": 4, "PWF_CT": 2, "PWF_CHUNK": 64, "PWF_WG": 1])
}
