import COpenCL
import Foundation

/// The one table of the memory-bound kernels' tunable parameters (the `#ifndef` defaults of
/// vector_io.cl, batchnorm.cl, pooling.cl, pooling_same.cl, pooling_tiled.cl and softmax.cl),
/// from which both the `-D` build options and the launch sizes come, so a source and its launch
/// cannot disagree.
///
/// Six families, each with its own parameters:
/// - `streaming` (elementwise.cl, activation.cl, optimizer.cl): STREAM_WG work-items per group,
///   STREAM_VEC floats per vector load, STREAM_ITEMS vectors per work-item. A work-group covers
///   WG·VEC·ITEMS consecutive floats; step k of work-item l loads vector k·WG + l, so
///   consecutive work-items touch consecutive addresses at every step.
/// - `batchNorm` (batchnorm.cl): the same three as BN_WG, BN_VEC, BN_ITEMS for the element-wise
///   kernels, along one row of a channel (H·W floats), and BN_REDUCE_WG, BN_REDUCE_ITEMS,
///   BN_REDUCE_CONTIGUOUS for the split reductions (one partial per work-item) and their
///   per-channel merges; BN_FUSED_FORWARD 1 runs the training forward as one work-group of
///   BN_REDUCE_WG per channel (statistics, then normalize while the channel is in cache), 0 as
///   the split reduction + normalize (enough work-groups for a GPU); BN_STREAM_STORES 1 writes
///   that kernel's output with non-temporal stores (clang's builtin: CPU devices only).
/// - `pooling` (pooling.cl): POOL_WG work-items per group over the flattened pixels of a plane,
///   POOL_ITEMS pixels per work-item, and POOL_VEC consecutive pixels of a row per work-item of
///   the max and average kernels, outputs forward and inputs backward (1: the per-pixel form),
///   and POOL_ROWS rows per work-item in the vector forms: output rows forward (max and
///   average, separable: each input row's window-column reduction is shared by the output
///   rows holding it) and, backward, groups of stride-height input rows that share their
///   candidate output rows (max, and average where a vector holds a row's candidates);
///   POOL_MAX_GATHER_VEC is POOL_VEC for max pooling's backward gather of 3-wide stride-2
///   windows alone (built as its own program), where 16 pixels per work-item paid on PoCL.
///   Global average pooling of small planes follows POOL_VEC too: 1 stages groups of planes in
///   local memory (coalesced), above 1 a work-item takes a whole plane with vector loads and
///   stores (CPU devices, which run a group's work-items one after another).
/// - `poolingSame` (pooling_same.cl, stride-1 "same" pools as column sweeps) and `poolingTiled`
///   (pooling_tiled.cl, average backward where windows tile the input): rows per strip or per
///   work-group, and the multiple a row's work-group is rounded up to.
/// - `softmax` (softmax.cl, the work-group-per-row kernels): SOFTMAX_WG work-items per row,
///   SOFTMAX_VEC floats per vector, SOFTMAX_CONTIGUOUS, whether a work-item's vectors are
///   one contiguous run of the row (CPU devices) or every SOFTMAX_WG-th vector (coalesced), and
///   SOFTMAX_POLY_EXP, whether the forward's exponentials are the kernel's own polynomial (CPU
///   devices) or the built-in `exp` (GPUs).
///
/// The defaults were measured on PoCL 3.1 (Benchmarks/NOTES-memory-bound.md); the GPU
/// defaults are the usual 256-thread float4 shape until a GPU is measured.
struct MemoryBoundKernel: Sendable, Equatable {
    /// Parameter names in `-D` order (stable, so equal sets share one cached program).
    let names: [String]
    let allowed: [String: [Int]]
    let cpuDefault: TunableValues
    let gpuDefault: TunableValues
    /// The names joined: which family a `MemoryBoundSettings` entry belongs to.
    let key: String

    init(names: [String], allowed: [String: [Int]], cpuDefault: TunableValues, gpuDefault: TunableValues) {
        self.names = names; self.allowed = allowed; self.cpuDefault = cpuDefault; self.gpuDefault = gpuDefault
        key = names.joined(separator: ",")
    }

    /// `-DNAME=value` for each parameter.
    func options(_ p: TunableValues) -> String { names.map { "-D\($0)=\(p[$0]!)" }.joined(separator: " ") }

    /// Whether `p` sets every parameter to an allowed value.
    func isValid(_ p: TunableValues) -> Bool {
        names.allSatisfy { allowed[$0]?.contains(p[$0] ?? -1) == true } && Set(p.keys) == Set(names)
    }
}

/// Values of a kernel family's tunables, by the names in its `.cl` header.
typealias TunableValues = [String: Int]

enum MemoryBoundTunables {
    static let streaming = MemoryBoundKernel(
        names: ["STREAM_WG", "STREAM_VEC", "STREAM_ITEMS"],
        allowed: ["STREAM_WG": [16, 32, 64, 128, 256], "STREAM_VEC": [1, 2, 4, 8], "STREAM_ITEMS": [1, 2, 4, 8]],
        // PoCL 3.1, AVX-512, 2 cores: one vector per work-item in large groups was 2–5× faster than
        // 4 vectors in groups of 64 (the per-work-item loop stops PoCL vectorizing across
        // work-items); 8 floats edged out 4.
        cpuDefault: ["STREAM_WG": 256, "STREAM_VEC": 8, "STREAM_ITEMS": 1],
        gpuDefault: ["STREAM_WG": 256, "STREAM_VEC": 4, "STREAM_ITEMS": 1])

    static let batchNorm = MemoryBoundKernel(
        names: ["BN_WG", "BN_VEC", "BN_ITEMS", "BN_REDUCE_WG", "BN_REDUCE_ITEMS", "BN_REDUCE_CONTIGUOUS",
                "BN_FUSED_FORWARD", "BN_STREAM_STORES"],
        allowed: ["BN_WG": [16, 32, 64, 128, 256], "BN_VEC": [1, 2, 4, 8], "BN_ITEMS": [1, 2, 4, 8],
                  "BN_REDUCE_WG": [16, 32, 64, 128, 256], "BN_REDUCE_ITEMS": [1, 2, 4, 8],
                  "BN_REDUCE_CONTIGUOUS": [0, 1], "BN_FUSED_FORWARD": [0, 1],
                  "BN_STREAM_STORES": [0, 1]],
        // PoCL runs a group's work-items one after another on one core, so the reductions' first
        // passes read a contiguous run per work-item (BN_REDUCE_CONTIGUOUS 1): 4–5× faster than
        // the coalesced order a GPU wants, with 8 vectors of 8 floats each in groups of 16
        // (Benchmarks/NOTES-memory-bound.md). The element-wise kernels like the streaming ones,
        // one float8 per work-item in large groups. GPUs (not measured yet): 4 vectors per
        // work-item, so that the partials, two floats per work-item, add an eighth to the
        // input read rather than half of it with one vector each. The training forward: one
        // group per channel on PoCL (0.41 → 0.63 of copy at 8×64×112², 0.39 → 0.47 at
        // 8×256×56², alone in a harness); GPUs keep the split form, whose groups are tiles of
        // rows: a group per channel would leave a GPU's compute units idle at 64 channels.
        // Its output in non-temporal stores took a further 0.55–0.75× the CPU time on PoCL.
        cpuDefault: ["BN_WG": 256, "BN_VEC": 8, "BN_ITEMS": 1, "BN_REDUCE_WG": 16, "BN_REDUCE_ITEMS": 8,
                     "BN_REDUCE_CONTIGUOUS": 1, "BN_FUSED_FORWARD": 1, "BN_STREAM_STORES": 1],
        gpuDefault: ["BN_WG": 256, "BN_VEC": 4, "BN_ITEMS": 1, "BN_REDUCE_WG": 256, "BN_REDUCE_ITEMS": 4,
                     "BN_REDUCE_CONTIGUOUS": 0, "BN_FUSED_FORWARD": 0, "BN_STREAM_STORES": 0])

    static let pooling = MemoryBoundKernel(
        names: ["POOL_WG", "POOL_ITEMS", "POOL_VEC", "POOL_ROWS", "POOL_MAX_GATHER_VEC"],
        allowed: ["POOL_WG": [16, 32, 64, 128, 256], "POOL_ITEMS": [1, 2, 4], "POOL_VEC": [1, 4, 8], "POOL_ROWS": [1, 2, 4],
                  "POOL_MAX_GATHER_VEC": [1, 4, 8, 16]],
        // PoCL: the max and average forward kernels computing 8 consecutive outputs per work-item (window
        // taps as vector loads) were 4× faster than one output per work-item, whose taps PoCL
        // vectorized across work-items as gathers; two rows per work-item (a pair of output
        // rows forward, two stride-row groups backward) took a further 0.4–0.85× the time;
        // four spilled registers in max pooling forward (Benchmarks/NOTES-memory-bound.md). GPUs keep one output per
        // work-item (POOL_VEC 1, where POOL_ROWS does not apply) until one is measured.
        // POOL_MAX_GATHER_VEC: the max-pool backward gather of 3-wide stride-2 windows (ResNet's
        // stem) took 0.73–0.85× the time on PoCL with 16 pixels per work-item, one AVX-512
        // register, where the forward kernels were slower at 16; GPUs: one pixel, as POOL_VEC.
        cpuDefault: ["POOL_WG": 64, "POOL_ITEMS": 1, "POOL_VEC": 8, "POOL_ROWS": 2, "POOL_MAX_GATHER_VEC": 16],
        gpuDefault: ["POOL_WG": 256, "POOL_ITEMS": 1, "POOL_VEC": 1, "POOL_ROWS": 1, "POOL_MAX_GATHER_VEC": 1])

    /// pooling_same.cl (stride-1 "same" pools as column sweeps): POOL_SAME_ROWS rows per
    /// work-item's strip, POOL_SAME_ALIGN the multiple a row's work-group is rounded up to,
    /// POOL_SAME_VEC the columns per work-item of the max kernels (forward and backward).
    static let poolingSame = MemoryBoundKernel(
        names: ["POOL_SAME_ROWS", "POOL_SAME_ALIGN", "POOL_SAME_VEC"],
        allowed: ["POOL_SAME_ROWS": [4, 8, 16, 32], "POOL_SAME_ALIGN": [1, 8, 16, 32], "POOL_SAME_VEC": [1, 4, 8]],
        // PoCL: strips of 8 rows ran as fast as a whole 28² plane (32, capped at the height)
        // and PoCL compiled their unrolled bodies in a third of the time (GoogLeNet's 28² 3×3
        // max pool: 2.9 s against 7.7 s a shape, at first use), and groups of 32 rather than 28
        // work-items (PoCL runs the 4 past its 8-wide vectors one by one) measured fastest
        // (Benchmarks/NOTES-memory-bound.md). The max kernels with 8 columns per work-item
        // (vector loads within a work-item) took 0.4–0.5 of the time of pooling.cl's forward
        // and of the one-column backward on PoCL. GPUs: short strips for more work-items,
        // warp-sized groups and one column per work-item (coalesced), not measured yet.
        cpuDefault: ["POOL_SAME_ROWS": 8, "POOL_SAME_ALIGN": 8, "POOL_SAME_VEC": 8],
        gpuDefault: ["POOL_SAME_ROWS": 4, "POOL_SAME_ALIGN": 32, "POOL_SAME_VEC": 1])

    /// pooling_tiled.cl (average backward where windows tile the input): POOL_TILED_ROWS output
    /// rows per work-group, POOL_TILED_ALIGN the multiple a row's outputs are rounded up to.
    static let poolingTiled = MemoryBoundKernel(
        names: ["POOL_TILED_ROWS", "POOL_TILED_ALIGN"],
        allowed: ["POOL_TILED_ROWS": [1, 2, 4, 8, 14, 16, 28], "POOL_TILED_ALIGN": [1, 8, 16, 32]],
        // PoCL, DenseNet's 8×128×56² → 28²: groups of 14 or 28 rows of 32 work-items took
        // 0.53–0.62 of pooling.cl's time, one row 0.52–0.78 (Benchmarks/NOTES-memory-bound.md).
        // GPUs: 32 × 8 = 256 work-items, not measured yet.
        cpuDefault: ["POOL_TILED_ROWS": 14, "POOL_TILED_ALIGN": 8],
        gpuDefault: ["POOL_TILED_ROWS": 8, "POOL_TILED_ALIGN": 32])

    static let softmax = MemoryBoundKernel(
        names: ["SOFTMAX_WG", "SOFTMAX_VEC", "SOFTMAX_CONTIGUOUS", "SOFTMAX_POLY_EXP"],
        allowed: ["SOFTMAX_WG": [2, 4, 8, 16, 32, 64, 128, 256], "SOFTMAX_VEC": [1, 2, 4, 8, 16], "SOFTMAX_CONTIGUOUS": [0, 1],
                  "SOFTMAX_POLY_EXP": [0, 1]],
        // PoCL: a row of 1000 is 63 float16 vectors, 32 per work-item in groups of 2, so the
        // exponentials run 16 wide in one AVX-512 register (float8: 1.2× the forward's time,
        // which the exponentials bound), each work-item's vectors one contiguous run (PoCL walks
        // a group's work-items in turn on one core); groups of 8 and runs took 0.7–0.8× the time
        // of groups of 16 in the coalesced order backward, about 0.9× forward, groups of 4
        // 0.92–0.97× the time of 8, and groups of 2 0.83–0.96× the time of 4 forward (fewer
        // barrier-split work-item loops and lane sums; Zen 5, 8×1000 and 512×1000)
        // (Benchmarks/NOTES-memory-bound.md). GPUs: the usual float4 shape over 128 threads,
        // coalesced, not measured yet. SOFTMAX_POLY_EXP: PoCL's built-in exp compiles to ~25
        // instructions per 8 floats with register spills (its LLVM generates AVX2 code for this
        // processor), the kernel's own polynomial to 15: the forward at 8×1000 took 0.75× the
        // time. GPUs keep the built-in exp (a hardware approximation plus a few instructions).
        cpuDefault: ["SOFTMAX_WG": 2, "SOFTMAX_VEC": 16, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 1],
        gpuDefault: ["SOFTMAX_WG": 128, "SOFTMAX_VEC": 4, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 0])
}

/// The parameter sets a backend uses: the device type's defaults unless a test or a tuner
/// has set others. Thread-safe; one per `OpenCLBackend`.
final class MemoryBoundSettings: @unchecked Sendable {
    private let lock = NSLock()
    private let kind: DeviceInfo.Kind
    /// Each family's values in use and their `-D` options, by `MemoryBoundKernel.key`: formed
    /// once, not at every launch (in a profile of small launches on PoCL, forming the options
    /// took a fifth of the host's time).
    private var chosen: [String: (values: TunableValues, options: String)] = [:]

    init(kind: DeviceInfo.Kind) { self.kind = kind }

    /// Uses `values` for `family` from now on (nil: back to the defaults). Throws when a value
    /// is not one the `.cl` source supports.
    func set(_ family: MemoryBoundKernel, _ values: TunableValues?) throws {
        if let values, !family.isValid(values) {
            throw CNNError.invalidArgument("memory-bound tunables \(values.sorted { $0.key < $1.key }) are not "
                                           + "valid for \(family.names): allowed \(family.allowed)")
        }
        lock.lock(); defer { lock.unlock() }
        chosen[family.key] = values.map { ($0, family.options($0)) }
    }

    func values(_ family: MemoryBoundKernel) -> TunableValues { resolved(family).values }

    /// The values in use for `family` and their `-D` options.
    func resolved(_ family: MemoryBoundKernel) -> (values: TunableValues, options: String) {
        lock.lock(); defer { lock.unlock() }
        if let entry = chosen[family.key] { return entry }
        let values = kind == .gpu ? family.gpuDefault : family.cpuDefault
        let entry = (values, family.options(values))
        chosen[family.key] = entry
        return entry
    }
}

extension OpenCLBackend {
    /// Enqueues a memory-bound kernel built with `family`'s current `-D` values. `groups` is the
    /// number of work-groups along each dimension; dimension 0 has the family's work-group
    /// size (`sizeName`), the others 1. `specialization` holds further `-D` options that fix a
    /// problem's sizes at build time (pooling's geometry); they are part of the program's key.
    func launchMemoryBound(_ program: String, _ kernel: String, _ family: MemoryBoundKernel, sizeName: String,
                           groups: [Int], specialization: String = "", _ args: [KernelArgument]) throws {
        guard groups.allSatisfy({ $0 > 0 }) else { return }
        let (values, familyOptions) = memoryBound.resolved(family)
        let options = specialization.isEmpty ? familyOptions : familyOptions + " " + specialization
        let wg = values[sizeName]!
        var local = [wg] + [Int](repeating: 1, count: groups.count - 1)
        var global = [groups[0] * wg] + groups.dropFirst()
        try programs.withKernel(program, kernel, options: options) { k in
            for (i, arg) in args.enumerated() {
                try clCheck(arg.set(on: k, index: cl_uint(i)), "clSetKernelArg(\(kernel), \(i))")
            }
            try clCheck(clEnqueueNDRangeKernel(queue, k, cl_uint(global.count), nil, &global, &local, 0, nil, nil),
                        "clEnqueueNDRangeKernel(\(kernel) \(options))")
        }
    }

    /// Enqueues a streaming-family kernel over `count` floats: one work-group per tile of
    /// STREAM_WG·STREAM_VEC·STREAM_ITEMS of them.
    func launchStreaming(_ program: String, _ kernel: String, count: Int, _ args: [KernelArgument]) throws {
        let p = memoryBound.values(MemoryBoundTunables.streaming)
        let tile = p["STREAM_WG"]! * p["STREAM_VEC"]! * p["STREAM_ITEMS"]!
        try launchMemoryBound(program, kernel, MemoryBoundTunables.streaming, sizeName: "STREAM_WG",
                              groups: [(count + tile - 1) / tile], args)
    }
}
