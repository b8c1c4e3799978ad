/// How much a plan times convolution solvers before choosing (`--tune`).
public enum TuningMode: String, Sendable, CaseIterable {
    /// Remembered choices and heuristics only; nothing is timed.
    case off
    /// Problems this device and driver have not seen are timed per solver at its default
    /// parameters (OpenCL: three interleaved rounds; the CPU backend: three rounds of its
    /// variants), and the winner is remembered.
    case fast
    /// Every solver and every parameter set in the tunables table, timed again even if remembered.
    case full
}

/// The one place that chooses how a convolution runs, when a plan is compiled: a test's forced
/// algorithm, else the choice remembered in the tuning database for this device, driver and
/// problem, else the backend's heuristic best (the first of `convolutionSolutions`).
enum ConvolutionChoice {
    /// The database choices are read from and written to (tests swap in a temporary one).
    nonisolated(unsafe) static var database = TuningDatabase.shared

    /// Times the solvers for `d` in `direction` on `backend` as `mode` says and remembers the
    /// winner (OpenCL devices and the CPU backend; other backends keep their heuristics).
    static func tune(_ d: Conv2DDescriptor, direction: ConvolutionDirection, backend: any Backend, mode: TuningMode,
                     database: TuningDatabase = database, trace: ((String) -> Void)? = nil) throws -> TunedChoice? {
        switch (mode, backend) {
        case (.off, _): return nil
        case (_, let cl as OpenCLBackend):
            return try cl.tuneConvolution(d, direction: direction, database: database, retune: mode == .full,
                                          runs: mode == .full ? 2 : 3, exhaustive: mode == .full, trace: trace)
        case (_, let cpu as CPUBackend):
            return try cpu.tuneConvolution(d, direction: direction, database: database, retune: mode == .full,
                                           runs: mode == .full ? 6 : 3, trace: trace)
        default: return nil
        }
    }

    /// The remembered choice for `d`, if it is one the backend offers.
    static func remembered(_ d: Conv2DDescriptor, direction: ConvolutionDirection, backend: any ConvolutionOps,
                           offered: [ConvolutionSolution], database: TuningDatabase = database) -> ConvolutionSolution? {
        ConvolutionTiming.remembered(ConvolutionProblemKey(d, direction: direction), on: backend, database: database,
                                     candidates: offered)
            .flatMap { c in ConvolutionAlgorithm(rawValue: c.solver).map { ConvolutionSolution($0, parameters: c.parameters) } }
    }

    static func solution(for d: Conv2DDescriptor, direction: ConvolutionDirection,
                         backend: any ConvolutionOps) throws -> ConvolutionSolution {
        let offered = backend.convolutionSolutions(for: d, direction: direction)
        if let forced = ConvolutionAlgorithm.forced {
            guard let match = offered.first(where: { $0.algorithm == forced }) else {
                throw CNNError.invalidArgument("conv2d_\(direction.rawValue): the forced algorithm \(forced) "
                    + "does not apply here; this backend offers \(offered.map(\.description))")
            }
            return match
        }
        return remembered(d, direction: direction, backend: backend, offered: offered) ?? offered.first ?? ConvolutionSolution(.direct)
    }

    /// Whether `solution` came from the tuning database (for reports).
    static func isTuned(_ solution: ConvolutionSolution, _ d: Conv2DDescriptor, direction: ConvolutionDirection,
                        backend: any ConvolutionOps) -> Bool {
        remembered(d, direction: direction, backend: backend, offered: [solution]) == solution
    }

    /// The chosen solution, checked against the workspace the planner gave it.
    static func checked(_ d: Conv2DDescriptor, direction: ConvolutionDirection, backend: any Backend,
                        workspace: (any DeviceBuffer)?) throws -> ConvolutionSolution {
        let s = try solution(for: d, direction: direction, backend: backend)
        try backend.checks.convolutionSolution(d, direction: direction, solution: s,
                                               offered: backend.convolutionSolutions(for: d, direction: direction),
                                               workspace: workspace,
                                               needed: backend.convolutionWorkspaceCount(d, direction: direction, solution: s))
        return s
    }
}

extension Conv2DDescriptor {
    /// "8×64×56×56 ∗ 64×64×3×3 /1 p1 → 8×64×56×56" for profiles and summaries.
    var problemText: String {
        shapeText([batch, inChannels, inH, inW]) + " * " + shapeText([outChannels, inChannels / groups, kernelH, kernelW])
            + (strideH > 1 ? " /\(strideH)" : "") + (groups > 1 ? " g\(groups)" : "")
    }

    /// Bytes one pass must move at least: input, weights and output once each.
    var trafficBytes: Double { Double(inputCount + weightCount + outputCount) * 4 }
}
