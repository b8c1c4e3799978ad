import CDNNL
import Foundation

/// The oneDNN calls the CPU backend shares: its engine, memory descriptors, reorders, status
/// checks and SGEMM.
///
/// Why oneDNN: it JIT-compiles its kernels for the instruction set it finds at run time
/// (AVX-512 on Zen 4/5, AVX2 on Zen 2), so a program linking this library gets the fast path
/// with no environment variable. OpenBLAS 0.3.21 (Debian 12) picks its AVX2 kernels on AMD
/// AVX-512 processors unless OPENBLAS_CORETYPE is set before it loads, and has no call to
/// change that later. Benchmarks/NOTES-cpu-convolution.md has the measurements.
enum OneDNN {
    nonisolated(unsafe) private static var sharedEngine: dnnl_engine_t?
    private static let lock = NSLock()

    /// The CPU engine, created once (it holds no per-thread state).
    static func engine() throws -> dnnl_engine_t {
        try lock.withLock {
            if let e = sharedEngine { return e }
            var e: dnnl_engine_t?
            try check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create")
            sharedEngine = e
            return e!
        }
    }

    static func check(_ status: dnnl_status_t, _ call: String) throws {
        guard status != dnnl_success else { return }
        let meaning: String = switch status {
        case dnnl_out_of_memory: "out of memory"
        case dnnl_invalid_arguments: "invalid arguments (a bug in the CPU backend's oneDNN solver: please report it)"
        case dnnl_unimplemented: "no implementation for this problem in this oneDNN build; choose another "
            + "convolution algorithm (im2colGEMM or direct)"
        default: "status \(status.rawValue)"
        }
        throw CNNError.invalidArgument("oneDNN \(call) failed: \(meaning)")
    }

    /// `values` padded to oneDNN's fixed-size dimension array.
    static func dims(_ values: [Int]) -> [Int64] {
        values.map(Int64.init) + [Int64](repeating: 0, count: Int(DNNL_MAX_NDIMS) - values.count)
    }

    /// A float32 descriptor of `shape` in layout `tag`.
    static func desc(_ shape: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(shape.count), dims(shape), dnnl_f32, tag),
                  "dnnl_memory_desc_init_by_tag")
        return md
    }

    /// A float32 NCHW (or OIHW: the same order) view of the 4-D `shape` inside a dense tensor of
    /// `whole`'s shape: a channel slice of it when the two differ, the dense tensor when equal.
    static func view(_ shape: [Int], of whole: [Int]) throws -> dnnl_memory_desc_t {
        guard shape != whole else { return try desc(shape, dnnl_abcd) }
        var strides = [Int](repeating: 1, count: whole.count)
        for i in stride(from: whole.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * whole[i + 1] }
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_strides(&md, Int32(shape.count), dims(shape), dnnl_f32, dims(strides)),
                  "dnnl_memory_desc_init_by_strides")
        return md
    }

    /// `md`'s shape in layout `tag` (`dnnl_format_tag_any`: the primitive chooses).
    static func desc(_ md: dnnl_memory_desc_t, _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        let shape = withUnsafeBytes(of: md.dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(md.ndims))) }
        return try desc(shape.map(Int.init), tag)
    }

    static func reorder(_ from: inout dnnl_memory_desc_t, _ to: inout dnnl_memory_desc_t,
                        _ engine: dnnl_engine_t) throws -> dnnl_primitive_t {
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&pd, &from, engine, &to, engine, nil), "reorder_primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(pd) }
        var p: dnnl_primitive_t?
        try check(dnnl_primitive_create(&p, pd), "dnnl_primitive_create (reorder)")
        return p!
    }

    static func run(_ reorder: dnnl_primitive_t, from: dnnl_memory_t?, to: dnnl_memory_t?, _ stream: dnnl_stream_t?) throws {
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
        try check(dnnl_primitive_execute(reorder, stream, 2, args), "dnnl_primitive_execute (reorder)")
    }
}

/// Row-major SGEMM on raw pointers, on the calling thread only: callers split the work across
/// the backend's workers (CPUBackend+GEMM.swift). oneDNN's SGEMM would otherwise open an
/// OpenMP region of its own where it is called outside one (a loop too small to split runs on
/// the caller); the thread count is per calling thread in libgomp, so setting it here leaves
/// the convolution primitives' teams alone.
func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
           _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
           _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    omp_set_num_threads(1)
    let status = dnnl_sgemm(CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
                            Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
    // The arguments were validated by the GEMM checks before they got here.
    precondition(status == dnnl_success, "dnnl_sgemm failed with status \(status.rawValue) for \(m)×\(n)×\(k)")
}

extension OneDNN {
    /// The instruction set oneDNN's JIT targets on this processor (for `cnn-gpu devices`).
    static var isa: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx512_core_amx: "AVX-512 + AMX"
        case dnnl_cpu_isa_avx512_core_bf16, dnnl_cpu_isa_avx512_core_vnni, dnnl_cpu_isa_avx512_core: "AVX-512"
        case dnnl_cpu_isa_avx2_vnni, dnnl_cpu_isa_avx2: "AVX2"
        case dnnl_cpu_isa_avx: "AVX"
        default: "SSE4.1"
        }
    }
}
