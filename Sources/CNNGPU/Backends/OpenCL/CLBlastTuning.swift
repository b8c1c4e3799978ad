import CCLBlast
import COpenCL
import Foundation

/// CLBlast's SGEMM tuned for devices its own database does not know. CLBlast ships tuned
/// parameters for many GPUs and for Intel processors only; any other CPU device (PoCL on AMD or
/// ARM processors) runs its generic defaults, which moved 18.7 GFLOP/s on a 2048³ SGEMM on two
/// Zen 4 cores where the same cores' FMA peak is about 230 (Benchmarks/NOTES-opencl-solvers.md,
/// fifteenth session). CLBlast runs a GEMM one of two ways: below XGEMM_MIN_INDIRECT_SIZE³
/// multiply-adds (its "GemmRoutine" parameter, 896 by default: 896³ ≈ 719 M) one generic
/// kernel, XgemmDirect; above it, the Xgemm kernel on operands padded and transposed first. The
/// search tunes Xgemm's parameters from a table (`KernelTunables.clblastXgemm`) with Xgemm
/// forced (every set first checked against a host reference on a ragged problem, then timed),
/// then the switching size between it and XgemmDirect.
/// The fastest are remembered in the tuning database with the convolution choices, and a
/// backend opened later applies them before its first GEMM.
extension OpenCLBackend {
    /// The tuning database's name for the CLBlast choice (next to the convolution problems).
    /// (Before the switching size was tuned, "clblast Xgemm float32" held an Xgemm set chosen
    /// by timing what was in fact XgemmDirect: such entries are ignored and searched again.)
    public static let clblastGEMMProblem = "clblast GEMM float32"
    static let clblastGEMMSolver = "clblast"

    /// Whether CLBlast runs its generic defaults here (`DeviceInfo.clblastHasNoTunedGEMM`).
    public var clblastNeedsTuning: Bool { info.clblastHasNoTunedGEMM }

    /// Whether CLBlast runs its generic parameters here: a device its database does not cover,
    /// and no search of ours remembered in `database`. So run, its SGEMM took 15–19 GFLOP/s on
    /// PoCL (Zen 5) where our solvers run 150–430, and building its GEMM programs took 20 of the
    /// 70 s of a cold fast tune of ResNet-50 without one of its solvers winning: fast tuning
    /// leaves the solvers on CLBlast out then (`fastTuningLeavesOutCLBlast`).
    func clblastRunsGeneric(_ database: TuningDatabase) -> Bool {
        clblastNeedsTuning && rememberedCLBlastGEMM(database) == nil
    }

    /// Why fast tuning leaves out the solvers on CLBlast here, or nil where it times them. On a
    /// CPU device (PoCL) CLBlast's SGEMM runs at 15–19 GFLOP/s with its generic parameters and
    /// 40–112 after its search (Zen 4 and 5, by size), where this backend's own kernels run the
    /// same convolutions at 150–430: on Zen 5, where fast tuning timed them (ResNet-50 before
    /// this leave-out, VGG-16 and LeNet-5 after CLBlast's search for their dense layers), none of
    /// its solvers won a problem, while building its kernels took 10–20 s of each cold tune. On
    /// other devices (GPUs, where CLBlast is tuned) they are timed, unless CLBlast runs generic
    /// there too.
    func fastTuningLeavesOutCLBlast(_ database: TuningDatabase) -> String? {
        if info.kind == .cpu {
            return "on a CPU device CLBlast's SGEMM runs at a fraction of this backend's own kernels (tune with --mode full "
                + "to time it)"
        }
        return clblastRunsGeneric(database) ? "CLBlast runs its generic parameters on this device (tune with --mode full, "
            + "or a model with fully connected layers, to search its own)" : nil
    }

    /// Whether this backend's `algorithm` runs its GEMMs on CLBlast (the others are our kernels):
    /// im2col + GEMM, the 1×1 GEMM and Winograd F(2×2,3×3)'s 16 batched GEMMs. (The last was
    /// missing here, so cold fast tunes on PoCL built CLBlast's batched GEMM for it: 10–17 s of
    /// a 55 s ResNet-50 tune, then abandoned as too slow a first run.)
    static func runsOnCLBlast(_ algorithm: ConvolutionAlgorithm) -> Bool {
        algorithm == .im2colGEMM || algorithm == .conv1x1CLBlast || algorithm == .winogradF2x3
    }

    /// Applies the parameters the database remembers for this device and driver, if any. Only
    /// sets of the tables are taken (a damaged or edited file could otherwise hand CLBlast
    /// parameters that build a kernel reading out of bounds); anything else, or a set CLBlast
    /// refuses, is ignored: CLBlast keeps its own, and the next tuning replaces the entry.
    func applyRememberedCLBlastGEMM(database: TuningDatabase) {
        if let known = rememberedCLBlastGEMM(database) { _ = applyCLBlastGEMM(CLBlastGEMMChoice(known.parameters)!) }
    }

    /// The remembered choice as one line (`cnn-gpu tune`), if there is one.
    public func rememberedCLBlastGEMMDescription(_ database: TuningDatabase) -> String? {
        rememberedCLBlastGEMM(database).map { c in
            CLBlastGEMMChoice(c.parameters)!.description + String(format: "  (SGEMM %.2f ms at 512³)", c.milliseconds)
        }
    }

    private func rememberedCLBlastGEMM(_ database: TuningDatabase) -> TunedChoice? {
        guard let choice = database.choice(device: info, problem: Self.clblastGEMMProblem),
              choice.solver == Self.clblastGEMMSolver, CLBlastGEMMChoice(choice.parameters) != nil else { return nil }
        return choice
    }

    /// Searches Xgemm's table on m = n = k = `size` and 2·`size` SGEMMs, then the switching size
    /// between it and XgemmDirect (CLBlast's generic parameters) at the cube sizes of
    /// `KernelTunables.clblastSwitchSizes` up to 2·`size` (`runs` timed runs after a warm-up
    /// each); applies and remembers the result. Returns the
    /// remembered choice without timing when there is one and `retune` is false. Throws only
    /// when no set of a kernel runs correctly (then CLBlast's generic defaults are applied again).
    /// `sets` keeps the first sets of the table (tests: every set means a build of CLBlast's
    /// GEMM program, 5–20 s on PoCL). `exhaustive: false` (fast tuning) times on CPU devices
    /// only CLBlast's generic default and the sets that suit PoCL (`clblastXgemmFastCPU`).
    @discardableResult
    public func tuneCLBlastGEMM(database: TuningDatabase, retune: Bool = false, size: Int = 512,
                                runs: Int = 2, sets: Int = .max, exhaustive: Bool = true) throws -> TunedChoice {
        if !retune, let known = rememberedCLBlastGEMM(database), applyCLBlastGEMM(CLBlastGEMMChoice(known.parameters)!) {
            return known
        }
        let check = try CLBlastCheckProblem(on: self)
        let largest = 2 * size
        let operands = try (0..<3).map { _ in try makeBuffer([Float](repeating: 0.5, count: largest * largest)) }
        func time(_ n: Int) throws -> Double {
            let run = {
                try self.gemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: MatrixRef(operands[0], ld: n),
                              b: MatrixRef(operands[1], ld: n), beta: 0, c: MatrixRef(operands[2], ld: n))
                try self.synchronize()
            }
            try run()
            var fastest = Double.infinity
            for _ in 0..<max(1, runs) {
                let start = DispatchTime.now().uptimeNanoseconds
                try run()
                fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            return fastest
        }
        let (alwaysIndirect, neverIndirect) = (KernelTunables.clblastIndirectFrom.first!, KernelTunables.clblastIndirectFrom.last!)
        let sizes = KernelTunables.clblastSwitchSizes.filter { $0 <= largest }
        // The Xgemm sets with Xgemm forced (GemmRoutine's switching size set so that every GEMM
        // takes it, the check problem included).
        func searchXgemm(at sizes: [Int]) throws -> TunableParameters {
            var best: (TunableParameters, Double)?, failures: [String] = []
            let table = exhaustive || info.kind == .gpu ? KernelTunables.clblastXgemm : KernelTunables.clblastXgemmFastCPU
            for candidate in table.prefix(sets) {
                do {
                    guard overrideCLBlast(.gemmRoutine, [CLBlastKernel.indirectFrom: alwaysIndirect]),
                          overrideCLBlast(.xgemm, candidate) else {
                        throw CNNError.invalidArgument("CLBlast refused the parameters")
                    }
                    try check.verify(on: self)
                    // Ranked by the product of the times (their geometric mean): a set tuned at
                    // 512³ alone ran 102 GFLOP/s there and 42 at 2048³ on PoCL (Zen 5).
                    let score = try sizes.reduce(1.0) { try $0 * time($1) }
                    if score < best?.1 ?? .infinity { best = (candidate, score) }
                } catch {
                    failures.append("\(candidate.sorted { $0.key < $1.key }): \(error)")
                }
            }
            guard let best else {
                _ = applyCLBlastGEMM(.generic)
                throw CNNError.invalidArgument("no CLBlast Xgemm parameter set ran correctly on \(info.name): "
                    + failures.joined(separator: "; "))
            }
            return best.0
        }
        let xgemm = try searchXgemm(at: [size, largest])
        // XgemmDirect keeps CLBlast's generic parameters: searching five sets of its database's
        // Intel entries too (each a build of CLBlast's whole GEMM program, 10–20 s on PoCL) took
        // the search on a cold cache from 95 to 246 s on Zen 5, where the tuned Xgemm then took
        // over from 256³ instead of from the smallest size.
        let direct = KernelTunables.clblastXgemmDirect[0]
        // The switching size: each path's time at every size, then the threshold whose paths take
        // the least time over them (a sum of logarithms, so that every size counts alike). The
        // paths need not cross once: on PoCL (Zen 5) the tuned Xgemm ran 102 GFLOP/s at 512³
        // against a tuned XgemmDirect's 49, and 54 against 58 at 1024³.
        func times(indirectFrom: Int) throws -> [Double] {
            _ = applyCLBlastGEMM(CLBlastGEMMChoice(xgemm: xgemm, xgemmDirect: direct, indirectFrom: indirectFrom))
            return try sizes.map { log(try time($0)) }
        }
        let (indirect, directly) = (try times(indirectFrom: alwaysIndirect), try times(indirectFrom: neverIndirect))
        func cost(_ threshold: Int) -> Double {
            sizes.indices.reduce(0) { $0 + (sizes[$1] >= threshold ? indirect[$1] : directly[$1]) }
        }
        let indirectFrom = KernelTunables.clblastIndirectFrom.min { cost($0) < cost($1) }!
        let chosen = CLBlastGEMMChoice(xgemm: xgemm, xgemmDirect: direct, indirectFrom: indirectFrom)
        _ = applyCLBlastGEMM(chosen)
        let choice = TunedChoice(solver: Self.clblastGEMMSolver, parameters: chosen.parameters, milliseconds: try time(size))
        try database.record(choice, device: info, problem: Self.clblastGEMMProblem)
        return choice
    }

    /// Sets all three for this device (CLBlast caches its programs by parameter values, so the
    /// next GEMM builds or reuses the matching one).
    private func applyCLBlastGEMM(_ c: CLBlastGEMMChoice) -> Bool {
        overrideCLBlast(.xgemm, c.xgemm) && overrideCLBlast(.xgemmDirect, c.xgemmDirect)
            && overrideCLBlast(.gemmRoutine, [CLBlastKernel.indirectFrom: c.indirectFrom])
    }

    /// Sets one kernel's single-precision parameters for this device.
    private func overrideCLBlast(_ kernel: CLBlastKernel, _ parameters: TunableParameters) -> Bool {
        guard kernel.names.allSatisfy({ parameters[$0] != nil }) else { return false }
        let cNames = kernel.names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = cNames.map { $0.map { UnsafePointer($0) } }
        var values = kernel.names.map { parameters[$0]! }
        return pointers.withUnsafeMutableBufferPointer { p in
            values.withUnsafeMutableBufferPointer { v in
                CLBlastOverrideParameters(device.deviceID, kernel.name, CLBlastPrecisionSingle, kernel.names.count,
                                          p.baseAddress, v.baseAddress) == CLBlastSuccess
            }
        }
    }
}

/// One of CLBlast's kernels (its database's name) and the parameter names an override must give.
struct CLBlastKernel {
    let name: String, names: [String]
    static let indirectFrom = "XGEMM_MIN_INDIRECT_SIZE"
    static let xgemm = CLBlastKernel(name: "Xgemm", names: KernelTunables.clblastXgemmNames)
    static let xgemmDirect = CLBlastKernel(name: "XgemmDirect", names: KernelTunables.clblastXgemmDirectNames)
    static let gemmRoutine = CLBlastKernel(name: "GemmRoutine", names: [indirectFrom])
}

/// What the search remembers, as one parameter dictionary ("Xgemm.MWG", "XgemmDirect.WGD",
/// "GemmRoutine.XGEMM_MIN_INDIRECT_SIZE", …). `init?` takes only sets of the tables and a
/// switching size of `KernelTunables.clblastIndirectFrom`.
struct CLBlastGEMMChoice {
    let xgemm: TunableParameters, xgemmDirect: TunableParameters, indirectFrom: Int

    /// CLBlast's generic defaults (the first set of each table, 896 for the switch: not one the
    /// search chooses, so only applied, never remembered).
    static let generic = CLBlastGEMMChoice(xgemm: KernelTunables.clblastXgemm[0], xgemmDirect: KernelTunables.clblastXgemmDirect[0],
                                           indirectFrom: 896)

    init(xgemm: TunableParameters, xgemmDirect: TunableParameters, indirectFrom: Int) {
        self.xgemm = xgemm; self.xgemmDirect = xgemmDirect; self.indirectFrom = indirectFrom
    }

    init?(_ p: TunableParameters) {
        func part(_ kernel: CLBlastKernel) -> TunableParameters {
            Dictionary(uniqueKeysWithValues: p.compactMap { key, value in
                key.hasPrefix(kernel.name + ".") ? (String(key.dropFirst(kernel.name.count + 1)), value) : nil
            })
        }
        let (xgemm, direct) = (part(.xgemm), part(.xgemmDirect))
        guard KernelTunables.clblastXgemm.contains(xgemm), KernelTunables.clblastXgemmDirect.contains(direct),
              let from = part(.gemmRoutine)[CLBlastKernel.indirectFrom], KernelTunables.clblastIndirectFrom.contains(from),
              p.count == xgemm.count + direct.count + 1 else { return nil }
        self.init(xgemm: xgemm, xgemmDirect: direct, indirectFrom: from)
    }

    var parameters: TunableParameters {
        var p: TunableParameters = ["GemmRoutine." + CLBlastKernel.indirectFrom: indirectFrom]
        for (k, v) in xgemm { p["Xgemm." + k] = v }
        for (k, v) in xgemmDirect { p["XgemmDirect." + k] = v }
        return p
    }

    /// One line for `cnn-gpu tune`.
    var description: String {
        func list(_ p: TunableParameters) -> String { p.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        let from = KernelTunables.clblastIndirectFrom
        let path = indirectFrom == from.first! ? "Xgemm at every size"
            : indirectFrom == from.last! ? "XgemmDirect up to \(indirectFrom)³" : "Xgemm from \(indirectFrom)³"
        return "Xgemm \(list(xgemm)); XgemmDirect \(list(xgemmDirect)); \(path)"
    }
}

extension DeviceInfo {
    /// A CPU device not made by Intel: CLBlast's database has CPU entries for Intel processors
    /// only, so such a device runs its generic default. GPUs keep CLBlast's own choice (its
    /// database covers most AMD, Intel and NVIDIA GPUs, and its per-vendor defaults the rest).
    var clblastHasNoTunedGEMM: Bool {
        kind == .cpu && !vendor.localizedCaseInsensitiveContains("intel") && !name.localizedCaseInsensitiveContains("intel")
    }
}

/// A ragged SGEMM (sizes no tile divides) and its result computed on the host, to check a
/// parameter set before it is timed: a set that builds but computes wrong is never chosen.
private struct CLBlastCheckProblem {
    static let (m, n, k) = (100, 76, 130)
    let a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer
    let expected: [Double]

    init(on backend: OpenCLBackend) throws {
        var rng = SplitMix64(seed: 11)
        let a = (0..<Self.m * Self.k).map { _ in Float(rng.uniform(-1, 1)) }
        let b = (0..<Self.k * Self.n).map { _ in Float(rng.uniform(-1, 1)) }
        var expected = [Double](repeating: 0, count: Self.m * Self.n)
        for i in 0..<Self.m {
            for p in 0..<Self.k {
                let x = Double(a[i * Self.k + p])
                for j in 0..<Self.n { expected[i * Self.n + j] += x * Double(b[p * Self.n + j]) }
            }
        }
        self.a = try backend.makeBuffer(a)
        self.b = try backend.makeBuffer(b)
        c = try backend.makeBuffer([Float](repeating: .nan, count: Self.m * Self.n))
        self.expected = expected
    }

    func verify(on backend: OpenCLBackend) throws {
        try backend.gemm(transA: false, transB: false, m: Self.m, n: Self.n, k: Self.k, alpha: 1,
                         a: MatrixRef(a, ld: Self.k), b: MatrixRef(b, ld: Self.n), beta: 0, c: MatrixRef(c, ld: Self.n))
        let got = try backend.download(c)
        let worst = zip(got, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? .infinity
        guard worst.isFinite, worst <= 1e-4 else {
            throw CNNError.invalidArgument("the result differs from the host's by \(worst) (relative)")
        }
    }
}

extension KernelTunables {
    /// CLBlast 1.5's Xgemm parameter names, all of which an override must give.
    static let clblastXgemmNames = ["GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA",
                                    "SB", "STRM", "STRN", "VWM", "VWN"]

    /// The Xgemm sets `tuneCLBlastGEMM` times, in `clblastXgemmNames` order: first CLBlast's generic
    /// default (what such a device runs untuned) and its Intel-CPU default, then sets its
    /// database holds for Intel desktop and server processors (its tuner's results there), then
    /// wider vectors with small work-groups and no local memory, which suit PoCL: it runs a
    /// group's work-items one after another and vectorizes each one's own arithmetic.
    static let clblastXgemm: [TunableParameters] = [
        [0, 1, 32, 2, 8, 8, 32, 16, 16, 32, 1, 1, 0, 0, 4, 2],
        [0, 1, 32, 2, 16, 16, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4],
        [0, 1, 16, 2, 8, 8, 128, 8, 8, 128, 1, 1, 1, 0, 1, 8],
        [0, 1, 32, 2, 32, 8, 128, 8, 8, 128, 1, 1, 1, 1, 2, 8],
        [0, 1, 32, 8, 32, 32, 64, 32, 16, 64, 1, 1, 1, 0, 2, 2],
        [0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 8, 8],
        [0, 1, 16, 2, 4, 4, 64, 4, 4, 64, 0, 0, 0, 0, 16, 16],
        [0, 1, 32, 2, 8, 8, 128, 8, 8, 64, 0, 0, 0, 0, 16, 8],
    ].map { Dictionary(uniqueKeysWithValues: zip(clblastXgemmNames, $0)) }

    /// The sets fast tuning times on CPU devices: CLBlast's generic default (what runs untuned)
    /// and the three wide-vector sets without local memory; every search on PoCL so far chose
    /// one of those three (Zen 5: VWM = VWN = 8, MWG = NWG = 64; an earlier search, which timed
    /// XgemmDirect by mistake, VWM = VWN = 16). Four builds of CLBlast's GEMM program instead of
    /// eight: LeNet-5's cold fast tune on PoCL (Zen 5) 77 → 45 s (NOTES-opencl-solvers.md,
    /// twenty-first session).
    static let clblastXgemmFastCPU = [clblastXgemm[0]] + clblastXgemm[5...]

    /// CLBlast 1.5's XgemmDirect parameter names, all of which an override must give.
    static let clblastXgemmDirectNames = ["KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"]

    /// The XgemmDirect sets a remembered choice may hold, in `clblastXgemmDirectNames` order:
    /// CLBlast's generic default, the one `tuneCLBlastGEMM` sets (see there why it does not
    /// search more).
    static let clblastXgemmDirect: [TunableParameters] = [
        [2, 8, 8, 8, 8, 1, 1, 1, 1, 16],
    ].map { Dictionary(uniqueKeysWithValues: zip(clblastXgemmDirectNames, $0)) }

    /// The switching sizes the search may choose (XGEMM_MIN_INDIRECT_SIZE: GEMMs of at least
    /// its cube of multiply-adds take Xgemm): 1, Xgemm always; 4096, XgemmDirect up to 4096³.
    /// The first and last also force one kernel during the search, so that choosing either
    /// reuses a program already built.
    static let clblastIndirectFrom = [1] + clblastSwitchSizes + [4096]

    /// The cube sizes the switching size is timed at (up to twice the Xgemm search's size).
    static let clblastSwitchSizes = [64, 128, 256, 384, 512, 768, 1024]
}
