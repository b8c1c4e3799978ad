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
    /// Floats of workspace one pass needs: the reordered operands and the scratchpad.
    private(set) var workspaceCount = 0

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
        let src = try OneDNN.desc([d.batch, d.inChannels, d.inH, d.inW], dnnl_nchw)
        let dst = try OneDNN.desc([d.batch, d.outChannels, d.outH, d.outW], dnnl_nchw)
        let wts = try OneDNN.desc(weightDims.map(Int.init), g > 1 ? dnnl_goihw : dnnl_oihw)
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
        for i in operands.indices {
            var o = operands[i]
            guard dnnl_memory_desc_equal(&o.plain, &o.chosen) == 0 else { continue }
            operands[i].reorder = o.isOutput ? try OneDNN.reorder(&o.chosen, &o.plain, engine)
                : try OneDNN.reorder(&o.plain, &o.chosen, engine)
            operands[i].workspaceOffset = offset
            offset += Self.aligned(dnnl_memory_desc_get_size(&o.chosen))
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
    }

    /// Runs the pass. `tensors` are the NCHW operands in `operands` order (forward: x, w, y;
    /// backward data: dy, w, dx; backward filter: x, dy, dw).
    func execute(_ tensors: [UnsafeMutablePointer<Float>], bias: UnsafeMutablePointer<Float>?,
                 workspace: UnsafeMutablePointer<Float>?, workspaceCapacity: Int) throws {
        guard workspaceCapacity >= workspaceCount, workspaceCount == 0 || workspace != nil else {
            throw CNNError.invalidBuffer(op: "conv2d_\(key.direction.rawValue) (oneDNN)", detail:
                "the workspace holds \(workspaceCapacity) floats but this pass needs \(workspaceCount); "
                + "size it with convolutionWorkspaceCount for this solution")
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
        var arguments: [dnnl_exec_arg_t] = []
        var outputReorders: [(dnnl_primitive_t, dnnl_memory_t?, dnnl_memory_t?)] = []
        for (o, pointer) in zip(operands, tensors) {
            let user = try memory(o.plain, pointer)
            guard let reorder = o.reorder, let workspace else {
                arguments.append(dnnl_exec_arg_t(arg: o.argument, memory: user))
                continue
            }
            let mine = try memory(o.chosen, workspace + o.workspaceOffset)
            arguments.append(dnnl_exec_arg_t(arg: o.argument, memory: mine))
            if o.isOutput {
                outputReorders.append((reorder, mine, user))
            } else {
                try OneDNN.run(reorder, from: user, to: mine, stream)
            }
        }
        if let biasDesc, let bias { arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: try memory(biasDesc, bias))) }
        if workspaceCount > scratchpadOffset, let workspace {
            arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD,
                                             memory: try memory(scratchpad, workspace + scratchpadOffset)))
        }
        try OneDNN.check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments),
                         "dnnl_primitive_execute")
        for (reorder, from, to) in outputReorders { try OneDNN.run(reorder, from: from, to: to, stream) }
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
