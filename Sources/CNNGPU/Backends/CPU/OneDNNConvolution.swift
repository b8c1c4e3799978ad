import CDNNL
import Foundation

/// One oneDNN convolution primitive for one problem, direction, layout, epilogue and thread
/// count, with the reorders between the model's NCHW tensors and the layout the primitive
/// chose. Creating a primitive JIT-compiles its kernels (milliseconds), so each is built once
/// and kept in `OneDNNConvolution.cache`.
///
/// `blocked` lets oneDNN pick its own layouts (nChw16c and blocked weights on AVX-512); the
/// operands are reordered into the workspace before the pass and the result back after it, so
/// tensors stay NCHW at the op boundary and every byte this uses is in the planner's figures.
/// The weights' copy lives apart from the per-call workspace (`weightCopyCount`), so that the
/// workers running one primitive each on their slice of the batch share one reordered copy of
/// the weights (reordering 512→512 3×3 weights costs as much as 10% of that layer's pass).
/// Without `blocked` the primitive works on NCHW in place (oneDNN's `gemm:jit`, an im2col +
/// JIT SGEMM). The scratchpad is the caller's too (user scratchpad mode), which also makes a
/// primitive safe to run from several threads at once.
final class OneDNNConvolution: @unchecked Sendable {
    struct Key: Hashable {
        var d: Conv2DDescriptor
        var direction: ConvolutionDirection
        var blocked: Bool
        var bias: Bool
        /// The activation oneDNN applies as a post-op (ReLU and leaky ReLU; see `postOp`).
        var postOp: Activation?
        var threads: Int
        /// Set when `d` is a channel slice of this problem (`CPUBackend.oneDNNChannelSlices`):
        /// the slice's NCHW operands are then views into the whole problem's tensors, and its
        /// first operand (x forward and backward filter, dy backward data) is the whole batch of
        /// that tensor, which the slices share in one reordered copy (`inputCopyCount`).
        var whole: Conv2DDescriptor? = nil
    }

    /// A tensor the primitive reads or writes, in NCHW (`plain`) and as the primitive wants it.
    struct Operand {
        var argument: Int32
        var plain: dnnl_memory_desc_t
        var chosen: dnnl_memory_desc_t
        /// NCHW to chosen for inputs, chosen to NCHW for outputs; nil when the two are equal.
        var reorder: dnnl_primitive_t? = nil
        var isOutput: Bool
        /// Where its chosen-layout copy lives in the workspace (floats), when reordered.
        var workspaceOffset = 0
    }

    let key: Key
    private let primitive: dnnl_primitive_t
    private(set) var operands: [Operand] = []
    private var biasDesc: dnnl_memory_desc_t?
    private var scratchpad: dnnl_memory_desc_t
    private var scratchpadOffset = 0
    /// Floats of workspace one pass needs: the reordered activations and the scratchpad.
    private(set) var workspaceCount = 0
    /// Floats of the first operand's reordered copy when the slices of a channel split share it
    /// (see `Key.whole`), which the caller places; 0 otherwise.
    private(set) var inputCopyCount = 0
    /// Floats of the weights' (or weight gradient's) reordered copy, which the caller places
    /// (see `weightCopy` in `execute`); 0 when the primitive takes NCHW weights as they are.
    private(set) var weightCopyCount = 0
    /// Where the weights (forward, backward data) or their gradient (backward filter) are in
    /// `operands` and in the tensors `execute` takes.
    var weightIndex: Int { Self.weightIndex(key.direction) }
    private static func weightIndex(_ direction: ConvolutionDirection) -> Int { direction == .backwardFilter ? 2 : 1 }

    /// Whether `other` wants the weights in the same layout, so one copy serves both (oneDNN may
    /// choose differently for two slice sizes of one problem).
    func sharesWeightLayout(with other: OneDNNConvolution) -> Bool { sharesLayout(of: weightIndex, with: other) }

    /// Whether `other` wants operand `i` in the same layout.
    func sharesLayout(of i: Int, with other: OneDNNConvolution) -> Bool {
        var a = operands[i].chosen, b = other.operands[i].chosen
        return dnnl_memory_desc_equal(&a, &b) != 0
    }

    /// Operand and workspace regions start on a 64-byte line, as oneDNN's kernels prefer.
    private static func aligned(_ bytes: Int) -> Int { (bytes / 4 + 15) / 16 * 16 }

    /// The activations oneDNN applies exactly as `Activation.apply` does; the others (its
    /// tanh, logistic and elu use their own approximations) run as our epilogue after it.
    static func postOp(_ activation: Activation?) -> Activation? {
        switch activation {
        case .relu?, .leakyReLU?: return activation
        default: return nil
        }
    }

    init(_ key: Key) throws {
        self.key = key
        let d = key.d
        omp_set_num_threads(Int32(key.threads))
        let engine = try OneDNN.engine()
        let g = d.groups
        let weightDims: [Int64] = g > 1
            ? [g, d.outChannels / g, d.inChannels / g, d.kernelH, d.kernelW].map(Int64.init)
            : [d.outChannels, d.inChannels, d.kernelH, d.kernelW].map(Int64.init)
        // A channel slice reads and writes views with the whole problem's strides.
        let whole = key.whole ?? d
        let src = try OneDNN.view([d.batch, d.inChannels, d.inH, d.inW],
                                  of: [whole.batch, whole.inChannels, whole.inH, whole.inW])
        let dst = try OneDNN.view([d.batch, d.outChannels, d.outH, d.outW],
                                  of: [whole.batch, whole.outChannels, whole.outH, whole.outW])
        let wts = g > 1 ? try OneDNN.desc(weightDims.map(Int.init), dnnl_goihw)
            : try OneDNN.view(weightDims.map(Int.init), of: [whole.outChannels, whole.inChannels, d.kernelH, d.kernelW])
        let free: (dnnl_memory_desc_t) throws -> dnnl_memory_desc_t = { md in
            key.blocked ? try OneDNN.desc(md, dnnl_format_tag_any) : md
        }
        var (s, w, y) = (try free(src), try free(wts), try free(dst))
        var b = key.bias && key.direction == .forward ? try OneDNN.desc([d.outChannels], dnnl_a) : nil
        var strides = OneDNN.dims([d.strideH, d.strideW])
        var dilation = OneDNN.dims([d.dilationH - 1, d.dilationW - 1])   // oneDNN counts the gaps
        var padL = OneDNN.dims([d.padding.top, d.padding.left])
        var padR = OneDNN.dims([d.padding.bottom, d.padding.right])

        var attr: dnnl_primitive_attr_t?
        try OneDNN.check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        try OneDNN.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
        if key.direction == .forward, let act = key.postOp {
            var ops: dnnl_post_ops_t?
            try OneDNN.check(dnnl_post_ops_create(&ops), "dnnl_post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            let alpha: Float = if case let .leakyReLU(a) = act { a } else { 0 }
            try OneDNN.check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, alpha, 0), "append_eltwise")
            try OneDNN.check(dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
        }

        // Backward descriptors need the forward one as a hint (it fixes the layouts).
        var forward = dnnl_convolution_desc_t()
        try OneDNN.check(withOptionalPointer(&b) { bp in
            dnnl_dilated_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct,
                                                       &s, &w, bp, &y, &strides, &dilation, &padL, &padR)
        }, "dnnl_dilated_convolution_forward_desc_init")
        var forwardPD: dnnl_primitive_desc_t?
        try OneDNN.check(dnnl_primitive_desc_create(&forwardPD, &forward, key.direction == .forward ? attr : nil,
                                                    engine, nil), "dnnl_primitive_desc_create (forward)")
        defer { if key.direction != .forward { dnnl_primitive_desc_destroy(forwardPD) } }
        var pd = forwardPD
        switch key.direction {
        case .forward: break
        case .backwardData:
            var desc = dnnl_convolution_desc_t()
            try OneDNN.check(dnnl_dilated_convolution_backward_data_desc_init(
                &desc, dnnl_convolution_direct, &s, &w, &y, &strides, &dilation, &padL, &padR), "backward_data_desc_init")
            try OneDNN.check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, forwardPD),
                             "dnnl_primitive_desc_create (backward data)")
        case .backwardFilter:
            var desc = dnnl_convolution_desc_t()
            try OneDNN.check(dnnl_dilated_convolution_backward_weights_desc_init(
                &desc, dnnl_convolution_direct, &s, &w, nil, &y, &strides, &dilation, &padL, &padR),
                             "backward_weights_desc_init")
            try OneDNN.check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, forwardPD),
                             "dnnl_primitive_desc_create (backward filter)")
        }
        defer { dnnl_primitive_desc_destroy(pd) }

        func chosen(_ query: dnnl_query_t) -> dnnl_memory_desc_t { dnnl_primitive_desc_query_md(pd, query, 0)!.pointee }
        scratchpad = chosen(dnnl_query_scratchpad_md)
        switch key.direction {
        case .forward:
            operands = [
                Operand(argument: DNNL_ARG_SRC, plain: src, chosen: chosen(dnnl_query_src_md), isOutput: false),
                Operand(argument: DNNL_ARG_WEIGHTS, plain: wts, chosen: chosen(dnnl_query_weights_md), isOutput: false),
                Operand(argument: DNNL_ARG_DST, plain: dst, chosen: chosen(dnnl_query_dst_md), isOutput: true),
            ]
            biasDesc = b
        case .backwardData:
            operands = [
                Operand(argument: DNNL_ARG_DIFF_DST, plain: dst, chosen: chosen(dnnl_query_diff_dst_md), isOutput: false),
                Operand(argument: DNNL_ARG_WEIGHTS, plain: wts, chosen: chosen(dnnl_query_weights_md), isOutput: false),
                Operand(argument: DNNL_ARG_DIFF_SRC, plain: src, chosen: chosen(dnnl_query_diff_src_md), isOutput: true),
            ]
        case .backwardFilter:
            operands = [
                Operand(argument: DNNL_ARG_SRC, plain: src, chosen: chosen(dnnl_query_src_md), isOutput: false),
                Operand(argument: DNNL_ARG_DIFF_DST, plain: dst, chosen: chosen(dnnl_query_diff_dst_md), isOutput: false),
                Operand(argument: DNNL_ARG_DIFF_WEIGHTS, plain: wts, chosen: chosen(dnnl_query_diff_weights_md),
                        isOutput: true),
            ]
        }
        var offset = 0
        let weightIndex = Self.weightIndex(key.direction)  // `self` is not whole yet
        for i in operands.indices {
            var o = operands[i]
            guard dnnl_memory_desc_equal(&o.plain, &o.chosen) == 0 else { continue }
            operands[i].reorder = o.isOutput ? try OneDNN.reorder(&o.chosen, &o.plain, engine)
                : try OneDNN.reorder(&o.plain, &o.chosen, engine)
            let bytes = dnnl_memory_desc_get_size(&o.chosen)
            if i == weightIndex {
                weightCopyCount = Self.aligned(bytes)
            } else if i == 0, key.whole != nil {
                inputCopyCount = Self.aligned(bytes)
            } else {
                operands[i].workspaceOffset = offset
                offset += Self.aligned(bytes)
            }
        }
        scratchpadOffset = offset
        workspaceCount = offset + Self.aligned(dnnl_memory_desc_get_size(&scratchpad))
        var p: dnnl_primitive_t?
        try OneDNN.check(dnnl_primitive_create(&p, pd), "dnnl_primitive_create")
        primitive = p!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for o in operands { if let r = o.reorder { dnnl_primitive_destroy(r) } }
        for r in imageReorders.values { dnnl_primitive_destroy(r.primitive) }
    }

    /// Reorders of some images of the first operand (a channel split's slices each convert their
    /// share of the batch into the copy they all read), by image range, built on first use.
    private var imageReorders: [Range<Int>: (primitive: dnnl_primitive_t, plain: dnnl_memory_desc_t,
                                             chosen: dnnl_memory_desc_t)] = [:]
    private let imageReordersLock = NSLock()

    private func imageReorder(_ images: Range<Int>) throws -> (primitive: dnnl_primitive_t, plain: dnnl_memory_desc_t,
                                                               chosen: dnnl_memory_desc_t) {
        try imageReordersLock.withLock {
            if let r = imageReorders[images] { return r }
            let o = operands[0]
            func part(_ md: dnnl_memory_desc_t) throws -> dnnl_memory_desc_t {
                var md = md, sub = dnnl_memory_desc_t()
                var dims = withUnsafeBytes(of: md.dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(md.ndims))) }
                dims[0] = Int64(images.count)
                try OneDNN.check(dnnl_memory_desc_init_submemory(&sub, &md, OneDNN.dims(dims.map(Int.init)),
                                                                 OneDNN.dims([images.lowerBound])),
                                 "dnnl_memory_desc_init_submemory")
                return sub
            }
            var plain = try part(o.plain), chosen = try part(o.chosen)
            let r = (try OneDNN.reorder(&plain, &chosen, try OneDNN.engine()), plain, chosen)
            imageReorders[images] = r
            return r
        }
    }

    /// What one call of `execute` does. A pass is `weightsIn` (once, by one worker), then
    /// `activationsIn` and `compute` on every worker's slice, then `weightsOut` (once, after the
    /// slices' weight-gradient copies were summed into the first): `all` on a lone slice.
    struct Stages: OptionSet {
        let rawValue: Int
        /// Reorders NCHW weights into `weightCopy` (forward, backward data).
        static let weightsIn = Stages(rawValue: 1)
        /// Reorders the slice's NCHW activation inputs into the workspace.
        static let activationsIn = Stages(rawValue: 2)
        /// Runs the convolution, then reorders its activation output back to NCHW.
        static let compute = Stages(rawValue: 4)
        /// Reorders the weight gradient from `weightCopy` to NCHW (backward filter).
        static let weightsOut = Stages(rawValue: 8)
        static let all: Stages = [.weightsIn, .activationsIn, .compute, .weightsOut]
    }

    /// Runs `stages` of the pass. `tensors` are the NCHW operands in `operands` order (forward: x,
    /// w, y; backward data: dy, w, dx; backward filter: x, dy, dw); `workspace` holds
    /// `workspaceCount` floats for this slice, `weightCopy` `weightCopyCount` (ignored when 0).
    /// A channel slice (`Key.whole`) reads the first operand from `inputCopy`
    /// (`inputCopyCount` floats), and `activationsIn` reorders only `images` of it there.
    func execute(_ tensors: [UnsafeMutablePointer<Float>], bias: UnsafeMutablePointer<Float>?,
                 workspace: UnsafeMutablePointer<Float>?, workspaceCapacity: Int,
                 weightCopy: UnsafeMutablePointer<Float>?, inputCopy: UnsafeMutablePointer<Float>? = nil,
                 images: Range<Int> = 0..<0, stages: Stages = .all) throws {
        guard workspaceCapacity >= workspaceCount, workspaceCount == 0 || workspace != nil,
              weightCopyCount == 0 || weightCopy != nil, inputCopyCount == 0 || inputCopy != nil else {
            throw CNNError.invalidBuffer(op: "conv2d_\(key.direction.rawValue) (oneDNN)", detail:
                "the workspace holds \(workspaceCapacity) floats but this pass needs \(workspaceCount) "
                + "and \(weightCopyCount) for the weights; size it with convolutionWorkspaceCount for this solution")
        }
        omp_set_num_threads(Int32(key.threads))
        let engine = try OneDNN.engine()
        var stream: dnnl_stream_t?
        try OneDNN.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        defer { dnnl_stream_destroy(stream) }
        var memories: [dnnl_memory_t?] = []
        defer { for m in memories { dnnl_memory_destroy(m) } }
        func memory(_ md: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer) throws -> dnnl_memory_t? {
            var md = md, m: dnnl_memory_t?
            try OneDNN.check(dnnl_memory_create(&m, &md, engine, pointer), "dnnl_memory_create")
            memories.append(m)
            return m
        }
        /// The operand's NCHW memory and, when it is reordered, its copy's.
        func operandMemories(_ i: Int) throws -> (user: dnnl_memory_t?, mine: dnnl_memory_t?) {
            let o = operands[i], user = try memory(o.plain, tensors[i])
            guard o.reorder != nil else { return (user, nil) }
            let copy = i == weightIndex ? weightCopy : i == 0 && inputCopyCount > 0 ? inputCopy
                : workspace.map { $0 + o.workspaceOffset }
            return (user, try memory(o.chosen, copy!))
        }
        let weights = operands[weightIndex]
        if stages.contains(.weightsIn), !weights.isOutput, let reorder = weights.reorder {
            let (user, mine) = try operandMemories(weightIndex)
            try OneDNN.run(reorder, from: user, to: mine, stream)
        }
        if stages.contains(.activationsIn) {
            for i in operands.indices where i != weightIndex && !operands[i].isOutput {
                if i == 0, inputCopyCount > 0 {
                    guard !images.isEmpty else { continue }
                    let r = try imageReorder(images)
                    try OneDNN.run(r.primitive, from: try memory(r.plain, tensors[0]), to: try memory(r.chosen, inputCopy!),
                                   stream)
                    continue
                }
                let (user, mine) = try operandMemories(i)
                if let reorder = operands[i].reorder { try OneDNN.run(reorder, from: user, to: mine, stream) }
            }
        }
        if stages.contains(.compute) {
            var arguments: [dnnl_exec_arg_t] = []
            var outputReorder: (dnnl_primitive_t, dnnl_memory_t?, dnnl_memory_t?)?
            for i in operands.indices {
                let (user, mine) = try operandMemories(i)
                arguments.append(dnnl_exec_arg_t(arg: operands[i].argument, memory: mine ?? user))
                if let reorder = operands[i].reorder, operands[i].isOutput, i != weightIndex {
                    outputReorder = (reorder, mine, user)
                }
            }
            if let biasDesc, let bias {
                arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: try memory(biasDesc, bias)))
            }
            if workspaceCount > scratchpadOffset, let workspace {
                arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD,
                                                 memory: try memory(scratchpad, workspace + scratchpadOffset)))
            }
            try OneDNN.check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments),
                             "dnnl_primitive_execute")
            if let (reorder, from, to) = outputReorder { try OneDNN.run(reorder, from: from, to: to, stream) }
        }
        if stages.contains(.weightsOut), weights.isOutput, let reorder = weights.reorder {
            let (user, mine) = try operandMemories(weightIndex)
            try OneDNN.run(reorder, from: mine, to: user, stream)
        }
        try OneDNN.check(dnnl_stream_wait(stream), "dnnl_stream_wait")
    }

    // MARK: The cache

    private static let lock = NSLock()
    nonisolated(unsafe) private static var primitives: [Key: OneDNNConvolution] = [:]

    /// The primitive for `key`, built on first use.
    static func cached(_ key: Key) throws -> OneDNNConvolution {
        try lock.withLock {
            if let p = primitives[key] { return p }
            let p = try OneDNNConvolution(key)
            primitives[key] = p
            return p
        }
    }
}

private func withOptionalPointer<T, R>(_ value: inout T?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard var v = value else { return body(nil) }
    defer { value = v }
    return body(&v)
}
