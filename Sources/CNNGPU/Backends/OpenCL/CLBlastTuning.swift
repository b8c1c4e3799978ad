import CCLBlast
import COpenCL
import Foundation

/// CLBlast's SGEMM kernel (Xgemm) tuned for devices its own database does not know. CLBlast
/// ships tuned parameters for many GPUs and for Intel processors only; any other CPU device
/// (PoCL on AMD or ARM processors) runs its generic default, which moved 18.7 GFLOP/s on a
/// 2048³ SGEMM on two Zen 4 cores where the same cores' FMA peak is about 230
/// (Benchmarks/NOTES-opencl-solvers.md, fifteenth session). The search times a bounded table
/// of parameter sets with `CLBlastOverrideParameters`, checks each one's result against a host
/// reference, keeps the fastest and remembers it in the tuning database with the convolution
/// choices; a backend opened later applies the remembered set before its first GEMM.
extension OpenCLBackend {
    /// The tuning database's name for the Xgemm choice (next to the convolution problems).
    public static let clblastGEMMProblem = "clblast Xgemm float32"

    /// Whether CLBlast runs its generic default here (`DeviceInfo.clblastHasNoTunedGEMM`).
    public var clblastNeedsTuning: Bool { info.clblastHasNoTunedGEMM }

    /// Applies the Xgemm parameters the database remembers for this device and driver, if any.
    /// Only a set of the table is taken (a damaged or edited file could otherwise hand CLBlast
    /// parameters that build a kernel reading out of bounds); anything else, or a set CLBlast
    /// refuses, is ignored: CLBlast keeps its own, and the next tuning replaces the entry.
    func applyRememberedCLBlastGEMM(database: TuningDatabase) {
        if let known = rememberedCLBlastGEMM(database) { _ = overrideCLBlastGEMM(known.parameters) }
    }

    private func rememberedCLBlastGEMM(_ database: TuningDatabase) -> TunedChoice? {
        guard let choice = database.choice(device: info, problem: Self.clblastGEMMProblem),
              choice.solver == Self.clblastGEMMSolver, KernelTunables.clblastXgemm.contains(choice.parameters)
        else { return nil }
        return choice
    }

    /// Times the Xgemm table (`KernelTunables.clblastXgemm`) on an m = n = k = `size` SGEMM,
    /// `runs` timed runs after a warm-up each, every set first checked against a host reference
    /// on a ragged problem; applies and remembers the fastest. Returns the remembered choice
    /// without timing when there is one and `retune` is false. Throws only when no set runs
    /// correctly (then CLBlast's generic default is applied again).
    @discardableResult
    public func tuneCLBlastGEMM(database: TuningDatabase, retune: Bool = false, size: Int = 512,
                                runs: Int = 2) throws -> TunedChoice {
        if !retune, let known = rememberedCLBlastGEMM(database), overrideCLBlastGEMM(known.parameters) { return known }
        let check = try CLBlastCheckProblem(on: self)
        let timed = try (0..<3).map { _ in try makeBuffer([Float](repeating: 0.5, count: size * size)) }
        var best: (parameters: TunableParameters, milliseconds: Double)?
        var failures: [String] = []
        for candidate in KernelTunables.clblastXgemm {
            do {
                guard overrideCLBlastGEMM(candidate) else { throw CNNError.invalidArgument("CLBlast refused the parameters") }
                try check.verify(on: self)
                let run = {
                    try self.gemm(transA: false, transB: false, m: size, n: size, k: size, alpha: 1,
                                  a: MatrixRef(timed[0], ld: size), b: MatrixRef(timed[1], ld: size), beta: 0,
                                  c: MatrixRef(timed[2], ld: size))
                    try self.synchronize()
                }
                try run()
                var fastest = Double.infinity
                for _ in 0..<max(1, runs) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    try run()
                    fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                if fastest < best?.milliseconds ?? .infinity { best = (candidate, fastest) }
            } catch {
                failures.append("\(candidate.sorted { $0.key < $1.key }): \(error)")
            }
        }
        guard let best else {
            _ = overrideCLBlastGEMM(KernelTunables.clblastXgemm[0])
            throw CNNError.invalidArgument("no CLBlast SGEMM parameter set ran correctly on \(info.name): "
                + failures.joined(separator: "; "))
        }
        _ = overrideCLBlastGEMM(best.parameters)
        let choice = TunedChoice(solver: Self.clblastGEMMSolver, parameters: best.parameters, milliseconds: best.milliseconds)
        try database.record(choice, device: info, problem: Self.clblastGEMMProblem)
        return choice
    }

    static let clblastGEMMSolver = "clblastXgemm"

    /// Sets CLBlast's single-precision Xgemm parameters for this device (its programs are cached
    /// by parameter values, so the next GEMM builds or reuses the matching one).
    private func overrideCLBlastGEMM(_ parameters: TunableParameters) -> Bool {
        let names = KernelTunables.clblastXgemmNames
        guard names.allSatisfy({ parameters[$0] != nil }) else { return false }
        let cNames = names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = cNames.map { $0.map { UnsafePointer($0) } }
        var values = names.map { parameters[$0]! }
        return pointers.withUnsafeMutableBufferPointer { p in
            values.withUnsafeMutableBufferPointer { v in
                CLBlastOverrideParameters(device.deviceID, "Xgemm", CLBlastPrecisionSingle, names.count, p.baseAddress,
                                          v.baseAddress) == CLBlastSuccess
            }
        }
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

    /// The sets `tuneCLBlastGEMM` times, in `clblastXgemmNames` order: first CLBlast's generic
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
}
