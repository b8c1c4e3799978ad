import COpenCL

/// One set of values for a kernel's tunable parameters (names as in the `.cl` file's header).
public typealias TunableParameters = [String: Int]

/// The one table of a tunable kernel: its parameters and allowed values, the defaults per
/// device type, the bounded candidate sets a tuner times, and — from the same values — the
/// `-D` options and the work-group size, so the source and the launch cannot disagree.
struct TunableKernel: Sendable {
    /// The `Kernels/<program>.cl` stem.
    let program: String
    /// Parameter names in the order they appear in the `-D` string (stable, so equal parameter
    /// sets give equal options and share one cached program).
    let names: [String]
    let allowed: [String: [Int]]
    let cpuDefault: TunableParameters
    let gpuDefault: TunableParameters
    /// Candidates a tuner times, before `isValid` filtering for the device.
    let candidates: [TunableParameters]
    /// Work-items per work-group along the launch's dimensions 0 and 1.
    let localSize: @Sendable (TunableParameters) -> [Int]
    /// Bytes of `__local` memory a work-group uses.
    let localBytes: @Sendable (TunableParameters) -> Int
    /// Extra constraints of the source beyond `allowed` (its `#error` checks).
    let consistent: @Sendable (TunableParameters) -> Bool
    /// The default of CPU devices whose native float vector holds 8 lanes or fewer (AVX2, with
    /// 16 registers), where `cpuDefault`'s register tile is sized for AVX-512's 32; nil where
    /// `cpuDefault` serves both.
    var cpuNarrowDefault: TunableParameters? = nil

    func defaults(for device: DeviceInfo) -> TunableParameters {
        if device.kind == .gpu { return gpuDefault }
        return device.hasNarrowVectors ? cpuNarrowDefault ?? cpuDefault : cpuDefault
    }

    /// The device type's default, then the table's candidates: each set once, those valid on the
    /// device and passing `keep`.
    func sets(for device: DeviceInfo, limits: DeviceLimits,
              keep: (TunableParameters) -> Bool = { _ in true }) -> [TunableParameters] {
        var result: [TunableParameters] = []
        for p in [defaults(for: device)] + candidates where !result.contains(p) && isValid(p, limits: limits) && keep(p) {
            result.append(p)
        }
        return result
    }

    /// `parameters` with any missing tunable taken from the device's default.
    func completed(_ parameters: TunableParameters, for device: DeviceInfo) -> TunableParameters {
        parameters.merging(defaults(for: device).filter { !parameters.keys.contains($0.key) }) { a, _ in a }
    }

    /// Whether `p` names every tunable with an allowed value, satisfies the source's
    /// constraints, and fits the device's work-group and local-memory limits.
    func isValid(_ p: TunableParameters, limits: DeviceLimits) -> Bool {
        for name in names {
            guard let v = p[name], allowed[name]?.contains(v) == true else { return false }
        }
        return consistent(p) && localSize(p).reduce(1, *) <= limits.maxWorkGroupSize
            && localBytes(p) <= limits.localMemoryBytes
    }

    /// `p` when `isValid`; otherwise the one error every solver gives for a bad parameter set,
    /// naming the values, the device and what it allows.
    func validated(_ p: TunableParameters, limits: DeviceLimits, solver: String, device: String) throws
        -> TunableParameters {
        guard isValid(p, limits: limits) else {
            let given = p.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let allowedText = names.map { "\($0) in \(allowed[$0] ?? [])" }.joined(separator: ", ")
            throw CNNError.invalidArgument("\(solver) parameters \(given) are not valid on \(device): allowed "
                + "\(allowedText), consistent with each other (Kernels/\(program).cl's #error checks), at most "
                + "\(limits.maxWorkGroupSize) work-items and \(limits.localMemoryBytes) bytes of local memory per "
                + "work-group")
        }
        return p
    }

    /// The build options: `-DNAME=value` for each tunable, plus `extra` flags (specializations).
    func options(_ p: TunableParameters, extra: [String] = []) -> String {
        (names.map { "-D\($0)=\(p[$0]!)" } + extra.map { "-D\($0)" }).joined(separator: " ")
    }

    /// The launch of a tiled kernel whose work-groups each cover `tile` elements along
    /// dimensions 0 and 1: global sizes are whole work-groups.
    func launch(_ p: TunableParameters, extent: [Int], tile: [Int], extra: [String] = []) -> KernelLaunch {
        let local = localSize(p)
        var global = zip(zip(extent, tile), local).map { et, l in (et.0 + et.1 - 1) / et.1 * l }
        var fullLocal = local
        if extent.count > local.count {
            global += extent[local.count...]
            fullLocal += [Int](repeating: 1, count: extent.count - local.count)
        }
        return KernelLaunch(options: options(p, extra: extra), global: global, local: fullLocal)
    }
}

extension DeviceInfo {
    /// A CPU device with at most 8-float vectors (AVX2, NEON; 16 vector registers): register
    /// tiles sized for AVX-512's 32 spill there.
    var hasNarrowVectors: Bool { kind != .gpu && nativeFloatVectorWidth > 0 && nativeFloatVectorWidth <= 8 }
}

/// What one enqueue needs from the tunables table.
struct KernelLaunch: Equatable {
    let options: String
    let global: [Int]
    let local: [Int]
}

/// The device limits a parameter set must respect.
struct DeviceLimits: Sendable {
    var maxWorkGroupSize: Int
    var localMemoryBytes: Int
}

extension TunableKernel {
    /// A kernel built on Kernels/gemm_tile.cl's register-tiled GEMM (the implicit GEMM, the
    /// Winograd solvers' batched GEMMs): its parameter names, allowed values, work-group shape
    /// and consistency rules are that file's, so only the defaults, the candidates and any
    /// extra `__local` tables differ. `localBytes` defaults to the two staged tiles. `more`
    /// adds a program's own tunables (name: allowed values), set with `-D` after the GEMM's.
    static func gemmTile(program: String, cpuDefault: TunableParameters, gpuDefault: TunableParameters,
                         cpuNarrowDefault: TunableParameters? = nil,
                         candidates: [TunableParameters], more: KeyValuePairs<String, [Int]> = [:],
                         localBytes: @escaping @Sendable (TunableParameters) -> Int = { p in
                             4 * p["TK"]! * (p["TM"]! + p["TN"]!)
                         }) -> TunableKernel {
        TunableKernel(
            program: program,
            names: ["TM", "TN", "TK", "WPT_M", "WPT_N", "VW"] + more.map(\.key),
            allowed: ["TM": [16, 32, 64, 128], "TN": [16, 32, 64, 128], "TK": [4, 8, 16, 32, 64],
                      "WPT_M": [1, 2, 4, 8], "WPT_N": [1, 2, 4, 8, 16, 32, 64], "VW": [1, 2, 4, 8, 16]]
                .merging(more.map { ($0.key, $0.value) }) { a, _ in a },
            cpuDefault: cpuDefault, gpuDefault: gpuDefault, candidates: candidates,
            localSize: { p in [p["TN"]! / p["WPT_N"]!, p["TM"]! / p["WPT_M"]!] },
            localBytes: localBytes,
            consistent: { p in
                let (tm, tn, wm, wn, vw) = (p["TM"]!, p["TN"]!, p["WPT_M"]!, p["WPT_N"]!, p["VW"]!)
                return tm % wm == 0 && tn % wn == 0 && wn % vw == 0
            },
            cpuNarrowDefault: cpuNarrowDefault)
    }
}

enum KernelTunables {
    /// Kernels/conv_implicit_gemm.cl: TM × TN work-group tile, TK k step, WPT_M × WPT_N per
    /// work-item with the columns in vectors of VW. CPU default: PoCL runs a work-group's
    /// work-items one after another, so the register tile must carry the SIMD width itself:
    /// 8 rows × two float16 vectors is AVX-512's 16 accumulators (the 8×32 outer product of
    /// OpenBLAS-style micro-kernels), and a k step of 32, which halves the barrier regions
    /// PoCL loops over per FMA (1.2–2.2× TK=16 on ResNet's layers; 64 is as fast forward, and
    /// the filter gradient's 128-wide CPU tiles step by 64: see implicitGEMMCandidates). On PoCL 3.1 (Zen 5, 2 cores) this ran ResNet's layers at
    /// 2–6× tinygrad 0.14 (medians of interleaved runs); the former 8×8 scalar tile was
    /// 2.5–6.7× slower than its first version (Benchmarks/NOTES-opencl-solvers.md). GPU default: 256 work-items of 4×4 with float4
    /// loads on a 64×64 tile, CLBlast's common SGEMM shape, until tuning finds better.
    /// CPU devices with 8-float vectors (AVX2): 4 × 16 per work-item in float8, 8 of AVX2's 16
    /// registers; the 8 × 32 tile is 32 of them and spilled. On PoCL (Zen 3, batch 8, one
    /// process per tile, Benchmarks/NOTES-opencl-solvers.md, thirteenth session) every pass of
    /// ResNet's 3×3 64→64 56², 1×1 256→64 56² and 3×3 256→256 14² took 0.66–0.87× the time
    /// (forward 46 → 68, 44 → 71, 39 → 58 GFLOP/s); 2 × 32 in float8 0.73–1.1×, 8 × 16 as the
    /// 8 × 32 (both 16 registers of accumulators).
    static let implicitGEMM = TunableKernel.gemmTile(
        program: "conv_implicit_gemm",
        cpuDefault: ["TM": 64, "TN": 128, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
        gpuDefault: ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
        cpuNarrowDefault: ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 4, "WPT_N": 16, "VW": 8],
        candidates: [
            // GPU shapes: many work-items, small register tiles.
            ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
            ["TM": 32, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
            ["TM": 64, "TN": 32, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 2],
            ["TM": 32, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 2, "VW": 2],
            ["TM": 128, "TN": 128, "TK": 16, "WPT_M": 8, "WPT_N": 8, "VW": 4],
            ["TM": 16, "TN": 64, "TK": 16, "WPT_M": 2, "WPT_N": 4, "VW": 4],
            // CPU shapes: few work-items, each a SIMD-wide register tile.
            ["TM": 64, "TN": 128, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 128, "TK": 64, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 128, "TK": 16, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 32, "TN": 128, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 16, "TN": 128, "TK": 32, "WPT_M": 4, "WPT_N": 64, "VW": 16],
            ["TM": 128, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 4, "WPT_N": 16, "VW": 8],
            // CPU shapes for 8-float vectors (AVX2): at most 8 accumulator registers.
            ["TM": 32, "TN": 128, "TK": 32, "WPT_M": 2, "WPT_N": 32, "VW": 8],
            ["TM": 64, "TN": 64, "TK": 64, "WPT_M": 4, "WPT_N": 16, "VW": 8],
            ["TM": 32, "TN": 64, "TK": 32, "WPT_M": 4, "WPT_N": 16, "VW": 8],
        ],
        // As and Bs tiles plus at most four int tables of TK entries and five of TN (the strided
        // backward data's four column tables and its chunk flags).
        localBytes: { p in 4 * (p["TK"]! * (p["TM"]! + p["TN"]!) + 4 * p["TK"]! + 5 * p["TN"]!) })
}

extension DeviceLimits {
    /// The limits `TunableKernel.isValid` checks, queried from the device once (the backend keeps
    /// them: each tunable solver checks its parameters against them at every launch).
    init(device: cl_device_id) {
        let wg: Int = (try? deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE) as Int) ?? 64
        let local: cl_ulong = (try? deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE)) ?? 16_384
        self.init(maxWorkGroupSize: wg, localMemoryBytes: Int(local))
    }
}
