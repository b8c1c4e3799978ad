/// The oneDNN convolution solver of the CPU backend (`ConvolutionAlgorithm.oneDNN`): oneDNN's
/// JIT AVX-512/AVX2 kernels, with NCHW tensors at the op boundary.
///
/// Why oneDNN and which layout (Benchmarks/NOTES-cpu-convolution.md has the figures): on the
/// ResNet-50 batch-8 shapes its blocked-layout kernels (nChw16c) run the 3×3 layers at
/// 230–260 GFLOP/s per Zen 5 core in all three passes, 1.3–2.5× its own NCHW path (an im2col +
/// JIT SGEMM) even after reordering inputs and outputs around every call, and ahead of our
/// register-blocked AVX2 loops. For 1×1 layers the reorders cost more than the blocked kernel
/// saves, so they run on NCHW in place. Keeping the blocked layout between ops would save the
/// reorders too, but every other op here reads NCHW; that is left for later.
///
/// Primitives are built once per problem, pass, epilogue and thread count and cached (JIT
/// compilation takes milliseconds). The reordered copies and oneDNN's scratchpad live in the
/// workspace the planner allocates, so its memory figures include them.
extension CPUBackend {
    static let oneDNNBlocked = ConvolutionSolution(.oneDNN, parameters: ["blocked": 1])
    static let oneDNNPlain = ConvolutionSolution(.oneDNN, parameters: ["blocked": 0])
    /// Narrower layers (LeNet's 6 and 16 channels) stay on the register-blocked loops, which
    /// were measured faster there (CPUBackend+Convolution.swift).
    static let oneDNNMinOutChannels = 32
    /// oneDNN's blocked backward-data kernel for few input channels (the 3-channel stem) runs at
    /// a fifth of its NCHW path's speed.
    static let oneDNNBlockedMinAdjointChannels = 16

    /// The oneDNN layout the measurements favour for `d`, or nil where our own kernels are the
    /// better first choice.
    static func preferredOneDNN(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> ConvolutionSolution? {
        guard d.groups == 1, d.outChannels >= oneDNNMinOutChannels else { return nil }
        if d.kernelH * d.kernelW == 1 { return oneDNNPlain }
        if direction == .backwardData, d.inChannels < oneDNNBlockedMinAdjointChannels { return oneDNNPlain }
        return oneDNNBlocked
    }

    func oneDNNKey(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ solution: ConvolutionSolution,
                   bias: Bool, activation: Activation?) -> OneDNNConvolution.Key {
        OneDNNConvolution.Key(d: d, direction: direction, blocked: solution.parameters["blocked"] == 1,
                              bias: bias && direction == .forward,
                              postOp: direction == .forward ? OneDNNConvolution.postOp(activation) : nil, threads: threads)
    }

    /// Floats of workspace a oneDNN pass needs. A forward pass may run with or without a fused
    /// bias and ReLU; both are asked, and the larger is the answer.
    func oneDNNWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection, solution: ConvolutionSolution) -> Int {
        let variants: [(Bool, Activation?)] = direction == .forward ? [(false, nil), (true, .relu)] : [(false, nil)]
        // A problem oneDNN cannot build fails again, with its message, when it is run.
        return variants.map { (bias, activation) in
            (try? OneDNNConvolution.cached(oneDNNKey(d, direction, solution, bias: bias, activation: activation))
                .workspaceCount) ?? 0
        }.max() ?? 0
    }

    /// Runs one pass; `tensors` as `OneDNNConvolution.execute` takes them.
    func oneDNNConvolution(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ solution: ConvolutionSolution,
                           tensors: [any DeviceBuffer], bias: (any DeviceBuffer)? = nil, activation: Activation? = nil,
                           workspace: (any DeviceBuffer)?) throws {
        let primitive = try OneDNNConvolution.cached(oneDNNKey(d, direction, solution, bias: bias != nil,
                                                              activation: activation))
        try primitive.execute(tensors.map(ptr), bias: bias.map(ptr), workspace: workspace.map(ptr),
                              workspaceCapacity: workspace?.count ?? 0)
        // Activations oneDNN would approximate differently run as our own epilogue.
        if let activation, primitive.key.postOp == nil {
            try convolutionEpilogue(d, bias: nil, activation: activation, y: tensors[2], firstImage: 0, images: d.batch)
        }
    }
}
