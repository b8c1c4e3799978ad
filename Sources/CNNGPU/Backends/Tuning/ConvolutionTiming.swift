import Foundation

/// The tensors of one convolution problem, as the solvers' entry points take them.
struct ConvolutionOperands {
    var x: any DeviceBuffer, weight: any DeviceBuffer, y: any DeviceBuffer
    var dy: any DeviceBuffer, dx: any DeviceBuffer, dw: any DeviceBuffer

    /// Random operands for `d` (tuning measures speed, so values only need to be finite).
    init(_ d: Conv2DDescriptor, on backend: any Backend) throws {
        var state: UInt32 = 12345
        func values(_ n: Int) -> [Float] {
            (0..<n).map { _ in state = state &* 1_664_525 &+ 1_013_904_223; return Float(state >> 9) / Float(1 << 23) - 0.5 }
        }
        x = try backend.makeBuffer(values(d.inputCount)); weight = try backend.makeBuffer(values(d.weightCount))
        dy = try backend.makeBuffer(values(d.outputCount))
        y = try backend.allocate(d.outputCount, dtype: .float32)
        dx = try backend.allocate(d.inputCount, dtype: .float32)
        dw = try backend.allocate(d.weightCount, dtype: .float32)
    }

    /// Runs one pass of `d` through the backend's public entry points.
    func run(_ d: Conv2DDescriptor, direction: ConvolutionDirection, solution: ConvolutionSolution,
             on backend: any ConvolutionOps, workspace: (any DeviceBuffer)?) throws {
        switch direction {
        case .forward:
            try backend.encodeConvolutionForward(d, x: x, weight: weight, bias: nil, activation: nil, y: y,
                                                 solution: solution, workspace: workspace)
        case .backwardData:
            try backend.encodeConvolutionBackwardData(d, dy: dy, weight: weight, dx: dx, solution: solution, workspace: workspace)
        case .backwardFilter:
            try backend.encodeConvolutionBackwardFilter(d, x: x, dy: dy, dw: dw, solution: solution, workspace: workspace)
        }
    }
}

/// The measuring half of tuning, shared by the backends: each backend says which solutions
/// apply to a problem and how to run one; this times them and remembers the fastest.
enum ConvolutionTiming {
    /// The choice `database` holds for `key` on `backend`, if it is still among `candidates`
    /// (a solver or parameter set that no longer applies is timed again).
    static func remembered(_ key: ConvolutionProblemKey, on backend: any ConvolutionOps, database: TuningDatabase,
                           candidates: [ConvolutionSolution]) -> TunedChoice? {
        guard let known = database.choice(device: backend.info, problem: key),
              let algorithm = ConvolutionAlgorithm(rawValue: known.solver),
              candidates.contains(ConvolutionSolution(algorithm, parameters: known.parameters)) else { return nil }
        return known
    }

    /// How many times the best time so far a run may take and its candidate still be timed again.
    static let hopelessFactor = 3.0

    /// Times every candidate for `key` on `backend` (wall clock around a synchronized run, best
    /// of `runs` after a warm-up that also builds programs and primitives), stores the fastest
    /// in `database` and returns it. A candidate that fails to build or run is skipped; if none
    /// runs, the error names every failure. `buildMilliseconds`: what a warm-up may spend on
    /// building beyond the run itself before the candidate counts as hopeless.
    ///
    /// `interleaved`: each candidate is timed once right after its warm-up, then all of them in
    /// turn, `runs` − 1 more rounds, so that a shared machine's slow minute slows every candidate
    /// alike instead of the one it fell on (the CPU backend: its passes take milliseconds, and
    /// timed one candidate after another on a 2-core VM the same oneDNN pass read 19.7 ms in one
    /// run and 10.1 in the next). It holds every candidate's workspace at once; otherwise each
    /// candidate is timed and freed in turn (OpenCL, where full tuning tries dozens of parameter
    /// sets with large workspaces).
    ///
    /// `rates`: fast tuning's prior (`SolverRates`); a candidate it calls hopeless against the
    /// best time so far is not run, and every candidate timed adds its rate to it. Candidates
    /// are tried in the order given, so the likely winner first lets the prior skip the rest.
    ///
    /// `builtKernels`: for a candidate whose builds the backend can see, how many kernels it has
    /// built so far (nil for one it cannot, e.g. CLBlast's). A warm-up that built nothing is a run
    /// like the timed ones, so one over `hopelessFactor` times the best time so far ends the
    /// candidate there (on PoCL the direct solver's 0.6–1.8 s warm-ups on VGG-16's layers, each
    /// then timed again for nothing, were a fifth of a cold fast tune: NOTES-opencl-solvers.md,
    /// twenty-fourth session).
    ///
    /// `trace` receives a line per candidate: its best time, or why it was skipped, abandoned
    /// or failed (`cnn-gpu tune --verbose`).
    static func fastest(_ key: ConvolutionProblemKey, candidates: [ConvolutionSolution], on backend: any Backend,
                        database: TuningDatabase, runs: Int, buildMilliseconds: Double, interleaved: Bool = false,
                        rates: SolverRates? = nil, builtKernels: ((ConvolutionSolution) -> Int?)? = nil,
                        trace: ((String) -> Void)? = nil,
                        workspaceCount: (ConvolutionSolution) -> Int,
                        run: @escaping (ConvolutionSolution, ConvolutionOperands, (any DeviceBuffer)?) throws -> Void)
        throws -> TunedChoice {
        let operands = try ConvolutionOperands(key.descriptor, on: backend)
        if let rates { rates.absorb(database.solverRates(device: backend.info, stamp: rates.stamp)) }
        func milliseconds(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        var failures: [String] = []
        // Each candidate that ran its warm-up: its run (holding its workspace), the warm-up's time
        // and its best timed run so far (nil once a run failed).
        var timed: [(solution: ConvolutionSolution, once: () throws -> Void, warm: Double, best: Double?)] = []
        func bestSoFar() -> Double { timed.compactMap(\.best).min() ?? .infinity }
        func time(_ i: Int) {
            // Failed, or timed once and far behind the best so far: more runs cannot make it win.
            guard let best = timed[i].best, !best.isFinite || best <= hopelessFactor * bestSoFar() else { return }
            do {
                timed[i].best = min(best, try milliseconds(timed[i].once))
            } catch {
                failures.append("\(timed[i].solution): \(error)")
                timed[i].best = nil
            }
        }
        for candidate in candidates {
            if let rates, rates.isHopeless(candidate.algorithm, key.descriptor, direction: key.direction,
                                           bestMilliseconds: bestSoFar()) {
                let predicted = rates.predictedMilliseconds(candidate.algorithm, key.descriptor, direction: key.direction)!
                trace?(String(format: "%@  skipped: %.2f ms at the best rate its solver has shown (%.0f GFLOP/s), "
                              + "over %.0f× the best so far (%.2f ms)", candidate.description, predicted,
                              key.descriptor.flops / predicted / 1e6, SolverRates.pruneFactor, bestSoFar()))
                continue
            }
            do {
                let count = workspaceCount(candidate)
                let workspace = count > 0 ? try backend.allocate(count, dtype: .float32) : nil
                let once = { try run(candidate, operands, workspace); try backend.synchronize() }
                // The warm-up may also build, so only a warm-up far beyond that and the best so far
                // (interleaved: the quickest warm-up) marks a hopeless candidate; one that built
                // nothing is judged as a timed run is.
                let kernelsBefore = builtKernels?(candidate)
                let warm = try milliseconds(once)
                let reference = interleaved ? timed.map(\.warm).min() ?? .infinity : bestSoFar()
                if reference.isFinite, warm > max(10 * reference, reference + buildMilliseconds) {
                    trace?(String(format: "%@  abandoned: its first run took %.2f ms", candidate.description, warm))
                    continue
                }
                if let kernelsBefore, kernelsBefore == builtKernels?(candidate), warm > hopelessFactor * bestSoFar() {
                    trace?(String(format: "%@  abandoned: its first run, building nothing, took %.2f ms, over %.0f× the "
                                  + "best so far (%.2f ms)", candidate.description, warm, hopelessFactor, bestSoFar()))
                    continue
                }
                timed.append((candidate, once, warm, .infinity))
            } catch {
                failures.append("\(candidate): \(error)")
                trace?("\(candidate)  failed: \(error)")
                continue
            }
            if interleaved {
                time(timed.count - 1)
            } else {
                for _ in 0..<max(1, runs) { time(timed.count - 1) }
                timed[timed.count - 1].once = {}   // frees the workspace
            }
        }
        if interleaved {
            for _ in 1..<max(1, runs) { timed.indices.forEach(time) }
        }
        for t in timed {
            if let best = t.best { rates?.record(t.solution.algorithm, key.descriptor, direction: key.direction, milliseconds: best) }
        }
        let ran = timed.compactMap { t in t.best.flatMap { $0.isFinite ? (t.solution, $0, t.warm) : nil } }
        guard let winner = ran.min(by: { $0.1 < $1.1 }) else {
            throw CNNError.invalidArgument("no convolution solver ran for \(key) on \(backend.info.name): "
                + (failures.isEmpty ? "none applies" : failures.joined(separator: "; ")))
        }
        // The first run's time shows what a cold tune pays: on PoCL it includes compiling the
        // kernel for its work-group size (0.5–1.3 s a solver on Zen 5, where runs take milliseconds).
        for (solution, ms, warm) in ran {
            trace?(String(format: "%@  %.2f ms (first run %.0f ms)%@", solution.description, ms, warm,
                          solution == winner.0 ? "  (chosen)" : ""))
        }
        let best = TunedChoice(solver: winner.0.algorithm.rawValue, parameters: winner.0.parameters, milliseconds: winner.1)
        try database.record(best, device: backend.info, problem: key.description, rates: rates)
        return best
    }
}
