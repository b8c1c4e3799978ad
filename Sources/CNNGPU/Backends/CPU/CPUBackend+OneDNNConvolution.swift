import Foundation

/// The oneDNN convolution solver of the CPU backend (`ConvolutionAlgorithm.oneDNN`): oneDNN's
/// JIT AVX-512/AVX2 kernels, with NCHW tensors at the op boundary.
///
/// Why oneDNN and which layout (Benchmarks/NOTES-cpu-convolution.md has the figures): on the
/// ResNet-50 batch-8 shapes its blocked-layout kernels (nChw16c) run the 3×3 layers at about
/// 230 GFLOP/s per Zen 5 core in all three passes, 1.15–2.2× its own NCHW path (an im2col + JIT
/// SGEMM) and 1.1–2.4× our im2col + GEMM, even after reordering inputs and outputs around
/// every call. For most 1×1 layers the reorders cost more than the blocked kernel saves, so they
/// run on NCHW in place (the exceptions are in `preferredOneDNN`). Keeping the blocked layout
/// between ops would save the reorders too (they are the gap left to oneDNN's blocked layout
/// alone, NOTES-cpu-convolution.md §6), but every other op here reads NCHW.
///
/// Each of the backend's workers runs one primitive on its slice of the batch (see
/// `oneDNNSlices`), or, for the shapes `preferredOneDNN` names, on its slice of the channels over
/// the whole batch (`oneDNNChannelSlices`); or one primitive takes the whole batch on oneDNN's
/// own threading (`oneDNNBlockedTeam`, `oneDNNPlainTeam`: the same threads, worker_team.c).
/// Primitives are built once per problem, pass, epilogue and thread count and cached (JIT
/// compilation takes milliseconds). The reordered copies and oneDNN's scratchpad live in the
/// workspace the planner allocates, so its memory figures include them.
extension CPUBackend {
    static let oneDNNBlocked = ConvolutionSolution(.oneDNN, parameters: ["blocked": 1])
    static let oneDNNPlain = ConvolutionSolution(.oneDNN, parameters: ["blocked": 0])
    /// The blocked layout with the workers splitting the channels instead of the batch (see
    /// `oneDNNChannelSlices`).
    static let oneDNNChannelSplit = ConvolutionSolution(.oneDNN, parameters: ["blocked": 1, "channelSplit": 1])
    /// The whole batch in one primitive on oneDNN's own threading (its OpenMP team, which is
    /// the backend's worker team: worker_team.c), blocked or NCHW: oneDNN splits the work its
    /// own way, as it does when it runs alone. Before it was offered, the 1×1 layers at 7² and
    /// 14² and some 3×3 forwards trailed oneDNN's own run by 1–13% on our splits; tuned with it,
    /// ResNet-50 at batch 8 took it for 21 of its 69 passes (NOTES-cpu-convolution.md §11–12).
    static let oneDNNBlockedTeam = ConvolutionSolution(.oneDNN, parameters: ["blocked": 1, "team": 1])
    static let oneDNNPlainTeam = ConvolutionSolution(.oneDNN, parameters: ["blocked": 0, "team": 1])
    /// Narrower layers (LeNet's 6 and 16 channels) stay on the register-blocked loops, which
    /// were measured faster there (CPUBackend+Convolution.swift).
    static let oneDNNMinOutChannels = 32
    /// oneDNN's blocked backward-data kernel for few input channels (the 3-channel stem) runs at
    /// a fifth of its NCHW path's speed.
    static let oneDNNBlockedMinAdjointChannels = 16
    /// 1×1 layers run on NCHW from 14² output pixels; below, our packed or per-image GEMMs tie
    /// or win (Benchmarks/NOTES-cpu-convolution.md).
    static let oneDNNMinOutPixels = 14 * 14
    /// The blocked layout pays for reordering the weights once per call and worker, so what
    /// counts is the output pixels of one worker's slice of the batch, not of one image: the
    /// weight reorder costs 1/slice-pixels of the convolution's arithmetic. Measured on ResNet-50:
    /// at batch 8 the 7² stage (4 images × 49 = 196 per worker) ran 7–22% faster on im2col +
    /// GEMM; at batch 32, 64² input, the 3×3 layers at 8² (1024 per worker) took 1.6–1.9× less
    /// CPU blocked and those at 4² (256) up to 2× less, those at 2² (64) 1.2–2.5× more.
    static let oneDNNBlockedMinSlicePixels = 256
    /// Backward-data of a stride-1 layer reads the weights' shared copy once per pass and writes
    /// only its reordered dx, so it pays from smaller slices: at batch 8 the 3×3 512→512 layers at
    /// 7² (196 pixels per worker) took 9.6–9.8 CPU ms blocked against 11.3–11.4 on im2col + GEMM
    /// in three runs; at stride 2 (14²→7²) im2col stayed ahead (12.4–12.8 against 13.3–13.6).
    static let oneDNNBlockedMinSliceAdjointPixels = 196
    /// 1×1 backward-data on planes of these sizes with more input than output channels runs
    /// blocked: at 14² the per-image GEMM of NCHW is 196 columns wide, and the blocked kernel took
    /// 4.1 against 4.6–4.8 CPU ms (1024→256) and 7.9 against 9.7 (1024→512), where the narrower
    /// 256→1024 stayed faster on NCHW (3.8–3.9 against 4.2–4.6); at 7² 2048→512 took 3.9–4.6
    /// blocked against 4.3–4.6 as packed GEMMs (faster in four of five runs, mean −3%;
    /// NOTES-cpu-convolution.md §7). The sizes between (8² at batch 32) were not measured.
    static let oneDNNBlockedPointwiseAdjointPixels: Set = [7 * 7, 14 * 14]
    /// Filter gradients of stride-1 3×3 (and larger) layers on planes of these sizes (ResNet-50's
    /// last two stages at 224²) run on the channel split: each worker's primitive then covers the
    /// whole batch and no worker sums another's gradient. Batch 8, five runs, CPU ms: 256→256 at
    /// 14² 7.9–8.7 against 8.3–9.1 on the batch split (four wins, one loss by 3%; mean −4%);
    /// 512→512 at 7² 10.0–10.3 against 10.2–10.5 on im2col + GEMM (12.1–13.0 batch-split
    /// blocked); batch 32, 512→512 at 7² 36.4 against 39.4–44.3. On larger planes (128→128 at
    /// 28², 64→64 at 56² and 16²) the batch split stayed ahead by 2–4%; at 8² (batch 32) it tied,
    /// at 4² the split won once (3.2 against 3.6), at 2² im2col + GEMM was 1.6× faster: only the
    /// measured sizes are on the rule.
    static let oneDNNChannelSplitFilterPixels: Set = [7 * 7, 14 * 14]
    /// Filter gradients of strided 3×3 layers with this many output pixels run on the channel
    /// split too: ResNet-50's 3×3/2 256→256 28²→14² at batch 8 took 9.47 CPU ms (mean of 14
    /// runs, 8.75–10.03) against 9.67 (8.72–10.28) on the batch split, faster in ten. Timed in
    /// pieces (Benchmarks/onednn/conv_pieces.c), its batch split pays for summing the halves'
    /// 2.4 MB blocked gradients (0.17 ms) and for oneDNN's kernel over 4 images per slice
    /// (8.4–8.8 against 8.0–8.3 ms over 8). The strided layers at 28² output (128→128 from 56²)
    /// stayed faster on the batch split (9.6–9.8 against 9.9–10.3); 7² (512→512 from 14²) was
    /// not measured and stays on im2col + GEMM (NOTES-cpu-convolution.md, branch cconv8). What
    /// the split saves grows with the weight gradient, so only layers with at least the measured
    /// one's (`oneDNNChannelSplitStridedFilterMinWeights`) take it: 128→128 at 112² input (also
    /// 28²→14²) was not measured.
    static let oneDNNChannelSplitStridedFilterPixels: Set = [14 * 14]
    static let oneDNNChannelSplitStridedFilterMinWeights = 256 * 256 * 9
    /// Forward and backward data of stride-1 3×3 layers run on the channel split where the whole
    /// batch has this many output pixels: ResNet-50's 512→512 at 7² and batch 8 (392) took
    /// 8.6–8.9 CPU ms forward against 8.8–9.8 on im2col + GEMM and 8.6–9.3 backward data against
    /// 8.8–9.5 on the batch split, faster in each of five runs. At 14² (1568) the batch split
    /// was 1–3% ahead, and at batch 32 the 2² and 4² layers (128 and 512 pixels) tied or lost.
    static let oneDNNChannelSplitDataBatchPixels = 392...392
    /// Without AVX-512, filter gradients of 3×3 (and larger) layers on planes of these sizes
    /// (ResNet-50's last two stages at 224²) skip the blocked layout, whose AVX2 backward-weights kernel (oneDNN 2.6) runs at
    /// 44–66% of its forward's rate where AVX-512's runs within 10%. Zen 3, batch 8, best of 9
    /// interleaved rounds in two runs, ms, blocked batch split / channel split / NCHW / im2col +
    /// GEMM: 256→256 at 14² 19.7–20.4 / 18.2–20.3 / 14.5–15.0 / 16.1–16.6; 512→512 at 7²
    /// 21.1–28.7 / 17.3–27.5 / 15.7–19.2 / 13.5–16.2; strided 256→256 28²→14² 15.9 / 15.6 /
    /// 12.9 / 13.5. At 28² (128→128) and 56² (64→64) blocked stayed within 6% of the best; the
    /// smaller planes of batch-32 64² runs were not measured on AVX2 and keep the rules above
    /// (NOTES-cpu-convolution.md, fourteenth session).
    static let avx2PlainFilterPixels: Set = [7 * 7, 14 * 14]

    /// The oneDNN layout the measurements favour for `d`, or nil where our own kernels are the
    /// better first choice. A batch smaller than the worker count would run on oneDNN's OpenMP
    /// threads (see `oneDNNSlices`): ResNet-50 inference at batch 1 took 13× the time per image
    /// of batch 8 that way on the shared machine, so such batches keep our kernels.
    func preferredOneDNN(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> ConvolutionSolution? {
        guard d.groups == 1, d.outChannels >= Self.oneDNNMinOutChannels, d.batch >= threads else { return nil }
        let strided = d.strideH > 1 || d.strideW > 1
        if d.kernelH * d.kernelW == 1 {
            if direction == .backwardData, d.inChannels > d.outChannels,
               Self.oneDNNBlockedPointwiseAdjointPixels.contains(d.outPixels) {
                return Self.oneDNNBlocked
            }
            guard d.outPixels >= Self.oneDNNMinOutPixels else { return nil }
            // A strided 1×1 forward is a subsampling copy and one GEMM per image in our im2col
            // path; oneDNN's NCHW path took 1.3× its CPU time (10.8 against 8.4 ms at 28²→14²,
            // 13.1 against 9.9 at 56²→28²) and its blocked one pays for reordering the whole input.
            if direction == .forward, strided { return nil }
            // The filter gradient at 14² is faster as packed GEMMs (`packedPointwiseFilterPixels`).
            if direction == .backwardFilter, Self.packedPointwiseFilterPixels.contains(d.outPixels), !strided {
                return nil
            }
            return Self.oneDNNPlain
        }
        let slicePixels = d.outPixels * (d.batch / threads)
        if direction == .backwardFilter, CPUKernelISA.supported < .avx512,
           Self.avx2PlainFilterPixels.contains(d.outPixels) {
            return slicePixels >= Self.oneDNNBlockedMinSlicePixels ? Self.oneDNNPlain : nil
        }
        if d.dilationH == 1, d.dilationW == 1, d.inChannels >= Self.oneDNNBlockedMinAdjointChannels {
            let split = switch (direction, strided) {
            case (.backwardFilter, false): Self.oneDNNChannelSplitFilterPixels.contains(d.outPixels)
            case (.backwardFilter, true): Self.oneDNNChannelSplitStridedFilterPixels.contains(d.outPixels)
                && d.weightCount >= Self.oneDNNChannelSplitStridedFilterMinWeights
            case (_, false): Self.oneDNNChannelSplitDataBatchPixels.contains(d.outPixels * d.batch)
            case (_, true): false
            }
            if split { return Self.oneDNNChannelSplit }
        }
        let minimum = direction == .backwardData && !strided
            ? Self.oneDNNBlockedMinSliceAdjointPixels : Self.oneDNNBlockedMinSlicePixels
        guard slicePixels >= minimum else { return nil }
        if direction == .backwardData, d.inChannels < Self.oneDNNBlockedMinAdjointChannels { return Self.oneDNNPlain }
        return Self.oneDNNBlocked
    }

    /// The batch split the backend's workers take, one slice each: oneDNN then runs on one
    /// thread per slice, with no barrier between the workers until the pass ends (oneDNN's own
    /// threading synchronizes inside the pass, where a descheduled partner on a shared 2-core
    /// machine tripled a pass's CPU time: Benchmarks/NOTES-cpu-convolution.md §3). A batch
    /// smaller than the worker count, or a `team` solution, runs whole on oneDNN's threading.
    func oneDNNSlices(_ d: Conv2DDescriptor, _ solution: ConvolutionSolution) -> (slices: [Range<Int>], ompThreads: Int) {
        let k = d.batch >= threads && solution.parameters["team"] != 1 ? threads : 1
        return (Self.evenSplit(d.batch, into: k), k == 1 ? threads : 1)
    }

    /// The channel split of a pass (`oneDNNChannelSplit`): each worker runs one primitive over
    /// the whole batch for a range of the output channels (forward, backward filter) or of the
    /// input channels (backward data), in whole 16-channel blocks (oneDNN's block on AVX-512),
    /// so that a slice's weights are whole blocks of the blocked copy and no worker sums another's
    /// weight gradient. The first operand (x, or dy for backward data) is the whole batch for
    /// every slice: the workers convert their share of its images into one shared copy first.
    /// Nil where there are fewer blocks than two or groups: those run the batch split.
    func oneDNNChannelSlices(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection) -> [Range<Int>]? {
        guard d.groups == 1 else { return nil }
        let channels = direction == .backwardData ? d.inChannels : d.outChannels
        let blocks = (channels + 15) / 16, k = min(threads, blocks)
        guard k > 1 else { return nil }
        var lo = 0
        return (0..<k).map { i in
            let n = min(channels - lo, (blocks / k + (i < blocks % k ? 1 : 0)) * 16)
            defer { lo += n }
            return lo..<(lo + n)
        }
    }

    /// `d` cut to `channels` of the dimension `oneDNNChannelSlices` splits.
    static func channelSlice(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ channels: Range<Int>) -> Conv2DDescriptor {
        var slice = d
        if direction == .backwardData { slice.inChannels = channels.count } else { slice.outChannels = channels.count }
        return slice
    }

    func oneDNNKey(_ d: Conv2DDescriptor, batch: Int, ompThreads: Int, _ direction: ConvolutionDirection,
                   _ solution: ConvolutionSolution, bias: Bool, activation: Activation?,
                   whole: Conv2DDescriptor? = nil) -> OneDNNConvolution.Key {
        var slice = d
        slice.batch = batch
        return OneDNNConvolution.Key(d: slice, direction: direction, blocked: solution.parameters["blocked"] == 1,
                                     bias: bias && direction == .forward,
                                     postOp: direction == .forward ? OneDNNConvolution.postOp(activation) : nil,
                                     threads: ompThreads, whole: whole)
    }

    /// How one pass uses its workspace (offsets in floats).
    struct OneDNNLayout {
        var primitives: [OneDNNConvolution]
        /// Each slice's reordered activations and scratchpad.
        var offsets: [Int]
        /// Each slice's weight copy (the same offset for all when they share one).
        var weightCopies: [Int]
        /// One blocked copy of the weights serves every slice: reordered once for the data passes;
        /// for backward filter, the slices' gradient copies are summed in that layout and
        /// reordered once.
        var sharedLayout: Bool
        /// Backward filter without a shared layout: NCHW partial gradients of the slices after
        /// the first (summed into dw at the end).
        var partials: Int
        var total: Int
        /// A channel split's slices (`oneDNNChannelSlices`); nil for the batch split.
        var channels: [Range<Int>]? = nil
        /// The batch split's slices (`oneDNNSlices`); the whole batch for a channel split.
        var slices: [Range<Int>]
    }

    /// The workspace of one pass: the weight copies, then every slice's region, then any
    /// partial weight gradients.
    func oneDNNLayout(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ solution: ConvolutionSolution,
                              bias: Bool, activation: Activation?) throws -> OneDNNLayout {
        func aligned(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        if solution.parameters["channelSplit"] == 1, let channels = oneDNNChannelSlices(d, direction) {
            // The shared copy of the first operand, then each slice's weight copy and region.
            let primitives = try channels.map { r in
                try OneDNNConvolution.cached(oneDNNKey(Self.channelSlice(d, direction, r), batch: d.batch, ompThreads: 1,
                                                       direction, solution, bias: bias, activation: activation, whole: d))
            }
            // oneDNN could choose another layout for a narrower last slice; then the batch split.
            if primitives.allSatisfy({ $0.inputCopyCount == primitives[0].inputCopyCount
                                       && $0.sharesLayout(of: 0, with: primitives[0]) }) {
                var total = aligned(primitives[0].inputCopyCount)
                let weightCopies = primitives.map { p in defer { total += aligned(p.weightCopyCount) }; return total }
                let offsets = primitives.map { p in defer { total += aligned(p.workspaceCount) }; return total }
                return OneDNNLayout(primitives: primitives, offsets: offsets, weightCopies: weightCopies,
                                    sharedLayout: false, partials: total, total: total, channels: channels,
                                    slices: [0..<d.batch])
            }
        }
        let (slices, omp) = oneDNNSlices(d, solution)
        let primitives = try slices.map { r in
            try OneDNNConvolution.cached(oneDNNKey(d, batch: r.count, ompThreads: omp, direction, solution,
                                                   bias: bias, activation: activation))
        }
        let copies = primitives[0].weightCopyCount > 0
        let shared = copies && primitives.allSatisfy { $0.sharesWeightLayout(with: primitives[0]) }
        var total = 0, weightCopies: [Int] = []
        for p in primitives {
            // The data passes read one shared copy; backward filter writes one per slice.
            if shared, direction != .backwardFilter, let first = weightCopies.first {
                weightCopies.append(first)
            } else {
                weightCopies.append(total)
                total += aligned(p.weightCopyCount)
            }
        }
        let offsets = primitives.map { p in defer { total += aligned(p.workspaceCount) }; return total }
        let partials = total
        if direction == .backwardFilter, !shared { total += (slices.count - 1) * aligned(d.weightCount) }
        return OneDNNLayout(primitives: primitives, offsets: offsets, weightCopies: weightCopies, sharedLayout: shared,
                            partials: partials, total: total, slices: slices)
    }

    /// Floats of workspace a oneDNN pass needs. A forward pass may run with or without a fused
    /// bias and ReLU; both are asked, and the larger is the answer.
    func oneDNNWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection, solution: ConvolutionSolution) -> Int {
        let variants: [(Bool, Activation?)] = direction == .forward ? [(false, nil), (true, .relu)] : [(false, nil)]
        // A problem oneDNN cannot build fails again, with its message, when it is run.
        return variants.map { (bias, activation) in
            (try? oneDNNLayout(d, direction, solution, bias: bias, activation: activation).total) ?? 0
        }.max() ?? 0
    }

    /// Runs one pass; `tensors` as `OneDNNConvolution.execute` takes them (forward: x, w, y;
    /// backward data: dy, w, dx; backward filter: x, dy, dw), each worker on its batch slice,
    /// the weights reordered once for all slices where their layouts agree.
    func oneDNNConvolution(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ solution: ConvolutionSolution,
                           tensors: [any DeviceBuffer], bias: (any DeviceBuffer)? = nil, activation: Activation? = nil,
                           workspace: (any DeviceBuffer)?) throws {
        let layout = try oneDNNLayout(d, direction, solution, bias: bias != nil, activation: activation)
        let capacity = workspace?.count ?? 0
        guard capacity >= layout.total else {
            throw CNNError.invalidBuffer(op: "conv2d_\(direction.rawValue) (oneDNN)", detail:
                "the workspace holds \(capacity) floats but this pass needs \(layout.total); "
                + "size it with convolutionWorkspaceCount for this solution")
        }
        let ws = workspace.map(ptr), biasPointer = bias.map(ptr)
        let pointers = tensors.map(ptr)
        if let channels = layout.channels {
            try oneDNNChannelSplit(d, direction, layout, channels, pointers: pointers, bias: biasPointer, workspace: ws)
        } else {
            try oneDNNBatchSplit(d, direction, layout, pointers: pointers, bias: biasPointer, workspace: ws)
        }
        // Activations oneDNN would approximate differently run as our own epilogue.
        if let activation, OneDNNConvolution.postOp(activation) == nil {
            try convolutionEpilogue(d, bias: nil, activation: activation, y: tensors[2], firstImage: 0, images: d.batch)
        }
    }

    /// A pass on `oneDNNChannelSlices`: every worker converts its share of the first operand's
    /// images into the shared copy and its slice's weights into its own copy, then (once all are
    /// in) runs its primitive and converts its slice of the output back.
    private func oneDNNChannelSplit(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ layout: OneDNNLayout,
                                    _ channels: [Range<Int>], pointers: [UnsafeMutablePointer<Float>],
                                    bias: UnsafeMutablePointer<Float>?, workspace ws: UnsafeMutablePointer<Float>?) throws {
        let taps = d.kernelH * d.kernelW
        let images = Self.evenSplit(d.batch, into: channels.count)
        /// The slice's operands: views into the whole tensors at its first channel.
        func sliceTensors(_ i: Int) -> [UnsafeMutablePointer<Float>] {
            let c = channels[i].lowerBound
            return switch direction {
            case .forward: [pointers[0], pointers[1] + c * d.inChannels * taps, pointers[2] + c * d.outH * d.outW]
            case .backwardData: [pointers[0], pointers[1] + c * taps, pointers[2] + c * d.inH * d.inW]
            case .backwardFilter: [pointers[0], pointers[1] + c * d.outH * d.outW, pointers[2] + c * d.inChannels * taps]
            }
        }
        func eachSlice(_ stages: OneDNNConvolution.Stages) throws {
            let failure = FirstError()
            parallelFor(channels.count, grain: 1) { range in
                for i in range {
                    let p = layout.primitives[i]
                    failure.record {
                        try p.execute(sliceTensors(i), bias: bias.map { $0 + channels[i].lowerBound },
                                      workspace: ws.map { $0 + layout.offsets[i] }, workspaceCapacity: p.workspaceCount,
                                      weightCopy: ws.map { $0 + layout.weightCopies[i] }, inputCopy: ws,
                                      images: images[i], stages: stages)
                    }
                }
            }
            try failure.rethrow()
        }
        try eachSlice([.weightsIn, .activationsIn])
        try eachSlice([.compute, .weightsOut])
    }

    /// `count` split into `parts` consecutive ranges, the first ones a unit larger when uneven.
    static func evenSplit(_ count: Int, into parts: Int) -> [Range<Int>] {
        let base = count / parts, extra = count % parts
        var lo = 0
        return (0..<parts).map { i in
            let n = base + (i < extra ? 1 : 0)
            defer { lo += n }
            return lo..<(lo + n)
        }
    }

    /// A pass on `oneDNNSlices`: every worker its share of the batch.
    private func oneDNNBatchSplit(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, _ layout: OneDNNLayout,
                                  pointers: [UnsafeMutablePointer<Float>], bias biasPointer: UnsafeMutablePointer<Float>?,
                                  workspace ws: UnsafeMutablePointer<Float>?) throws {
        let slices = layout.slices
        // Per-image element counts of each operand; the weights (and dw of slice 0) are shared.
        let (input, output) = (d.inChannels * d.inH * d.inW, d.outChannels * d.outH * d.outW)
        let perImage: [Int] = switch direction {
        case .forward: [input, 0, output]
        case .backwardData: [output, 0, input]
        case .backwardFilter: [input, output, 0]
        }
        let partialStride = (d.weightCount + 15) / 16 * 16
        let gradientCopies = direction == .backwardFilter && layout.sharedLayout
        func sliceTensors(_ i: Int) -> [UnsafeMutablePointer<Float>] {
            var t = zip(pointers, perImage).map { $0 + slices[i].lowerBound * $1 }
            if direction == .backwardFilter, i > 0, !layout.sharedLayout, let ws {
                t[2] = ws + layout.partials + (i - 1) * partialStride
            }
            return t
        }
        /// Runs `stages` of every slice on the workers, one slice each.
        func eachSlice(_ stages: (Int) -> OneDNNConvolution.Stages) throws {
            let failure = FirstError()
            parallelFor(slices.count, grain: 1) { range in
                for i in range {
                    let p = layout.primitives[i]
                    failure.record {
                        try p.execute(sliceTensors(i), bias: biasPointer, workspace: ws.map { $0 + layout.offsets[i] },
                                      workspaceCapacity: p.workspaceCount, weightCopy: ws.map { $0 + layout.weightCopies[i] },
                                      stages: stages(i))
                    }
                }
            }
            try failure.rethrow()
        }
        if layout.sharedLayout, direction != .backwardFilter, slices.count > 1 {
            // One worker reorders the shared weights while the others reorder their inputs.
            try eachSlice { $0 == 0 ? [.weightsIn, .activationsIn] : .activationsIn }
            try eachSlice { _ in .compute }
        } else if gradientCopies, slices.count > 1 {
            // Each slice's gradient in the blocked layout, summed there, then one reorder to dw.
            try eachSlice { _ in [.activationsIn, .compute] }
            let p = layout.primitives[0], count = p.weightCopyCount
            if let ws {
                let first = ws + layout.weightCopies[0]
                parallelFor(count, grain: 16_384) { range in
                    for s in 1..<slices.count {
                        let part = ws + layout.weightCopies[s]
                        for j in range { first[j] += part[j] }
                    }
                }
            }
            try p.execute(sliceTensors(0), bias: nil, workspace: ws.map { $0 + layout.offsets[0] },
                          workspaceCapacity: p.workspaceCount, weightCopy: ws.map { $0 + layout.weightCopies[0] },
                          stages: .weightsOut)
        } else {
            try eachSlice { _ in .all }
            if direction == .backwardFilter, slices.count > 1, let ws {
                let dw = pointers[2], partials = ws + layout.partials
                parallelFor(d.weightCount, grain: 16_384) { range in
                    for s in 0..<(slices.count - 1) {
                        let part = partials + s * partialStride
                        for j in range { dw[j] += part[j] }
                    }
                }
            }
        }
    }
}

/// The first error thrown by any of the workers of one pass.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?

    func record(_ body: () throws -> Void) {
        do { try body() } catch { lock.withLock { if self.error == nil { self.error = error } } }
    }

    func rethrow() throws { if let error { throw error } }
}
