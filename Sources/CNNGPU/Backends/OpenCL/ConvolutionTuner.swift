import Foundation

/// The OpenCL convolution solvers a tuner chooses among (the algorithms beside direct and im2col).
typealias OpenCLConvolutionSolver = ConvolutionAlgorithm

extension OpenCLBackend {
    /// Every (solver, parameter set) that applies to `d` in `direction`, heuristic default first.
    func convolutionCandidates(_ d: Conv2DDescriptor, direction: ConvolutionDirection)
        -> [(solver: OpenCLConvolutionSolver, parameters: TunableParameters)] {
        var result: [(OpenCLConvolutionSolver, TunableParameters)] = [(.direct, [:]), (.im2colGEMM, [:])]
        if Self.implicitGEMMApplies(d, direction: direction) {
            result += implicitGEMMCandidates(d, direction: direction).map { (.implicitGEMM, $0) }
        }
        if Self.conv1x1CLBlastApplies(d, direction: direction) { result.append((.conv1x1CLBlast, [:])) }
        if Self.winogradF2x3Applies(d, direction: direction) { result.append((.winogradF2x3, [:])) }
        if Self.winogradF4x3Applies(d, direction: direction)
            && 4 * winogradF4x3WorkspaceCount(d, direction: direction) <= info.maxBufferBytes {
            result += winogradF4x3Candidates(d, direction: direction).map { (.winogradF4x3, $0) }
        }
        if Self.winogradFilterApplies(d, direction: direction) {
            result += winogradFilterCandidates(d).filter { 4 * winogradFilterWorkspaceCount(d, parameters: $0) <= info.maxBufferBytes }
                .map { (.winogradFilter, $0) }
        }
        if Self.directTiledApplies(d, direction: direction) {
            result += directTiledCandidates(d, direction: direction).map { (.directTiled, $0) }
        }
        if Self.fewChannelsApplies(d, direction: direction) {
            result += fewChannelsCandidates(d, direction: direction).map { (.fewChannels, $0) }
        }
        result += pointwiseCandidates(d, direction: direction).map { (.pointwise, $0) }
        result += fullyConnectedCandidates(d, direction: direction).map { (.fullyConnected, $0) }
        if Self.channelsLastApplies(d, direction: direction) {
            result += channelsLastCandidates(d, direction: direction)
                .filter { 4 * channelsLastWorkspaceCount(d, direction: direction, parameters: $0) <= info.maxBufferBytes }
                .map { (.channelsLast, $0) }
        }
        return result
    }

    func convolutionWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                   solver: OpenCLConvolutionSolver, parameters: TunableParameters) -> Int {
        switch solver {
        case .implicitGEMM: return implicitGEMMWorkspaceCount(d, direction: direction, parameters: parameters)
        case .directTiled: return directTiledWorkspaceCount(d, direction: direction, parameters: parameters)
        case .fewChannels: return fewChannelsWorkspaceCount(d, direction: direction, parameters: parameters)
        case .channelsLast: return channelsLastWorkspaceCount(d, direction: direction, parameters: parameters)
        case .conv1x1CLBlast, .direct, .oneDNN: return 0
        case .pointwise:
            return direction == .backwardFilter ? pointwiseFilterWorkspaceCount(d, parameters: parameters) : 0
        case .fullyConnected: return fullyConnectedWorkspaceCount(d, direction: direction, parameters: parameters)
        case .winogradF2x3: return winogradF2x3WorkspaceCount(d, direction: direction)
        case .winogradF4x3: return winogradF4x3WorkspaceCount(d, direction: direction)
        case .winogradFilter:
            return direction == .backwardFilter ? winogradFilterWorkspaceCount(d, parameters: parameters) : 0
        case .im2colGEMM:
            return ConvolutionWorkspace.count(d, limitBytes: ConvolutionWorkspace.limitBytes, maxBufferBytes: info.maxBufferBytes)
        }
    }

    /// Queues one direction of `d` through `solver`.
    func runConvolution(_ d: Conv2DDescriptor, direction: ConvolutionDirection, solver: OpenCLConvolutionSolver,
                        parameters: TunableParameters, _ o: ConvolutionOperands, workspace: (any DeviceBuffer)?) throws {
        switch (solver, direction) {
        case (.implicitGEMM, .forward):
            try implicitGEMMForward(d, x: o.x, weight: o.weight, bias: nil, activation: nil, y: o.y, parameters: parameters)
        case (.implicitGEMM, .backwardData):
            try implicitGEMMBackwardData(d, dy: o.dy, weight: o.weight, dx: o.dx, workspace: workspace, parameters: parameters)
        case (.implicitGEMM, .backwardFilter):
            try implicitGEMMBackwardFilter(d, x: o.x, dy: o.dy, dw: o.dw, workspace: workspace, parameters: parameters)
        case (.conv1x1CLBlast, .forward):
            try conv1x1CLBlastForward(d, x: o.x, weight: o.weight, bias: nil, activation: nil, y: o.y)
        case (.conv1x1CLBlast, .backwardData):
            try conv1x1CLBlastBackwardData(d, dy: o.dy, weight: o.weight, dx: o.dx)
        case (.conv1x1CLBlast, .backwardFilter):
            try conv1x1CLBlastBackwardFilter(d, x: o.x, dy: o.dy, dw: o.dw)
        case (.winogradF2x3, .forward):
            try winogradF2x3Forward(d, x: o.x, weight: o.weight, bias: nil, activation: nil, y: o.y, workspace: workspace)
        case (.winogradF2x3, .backwardData):
            try winogradF2x3BackwardData(d, dy: o.dy, weight: o.weight, dx: o.dx, workspace: workspace)
        case (.winogradF2x3, .backwardFilter):
            throw CNNError.invalidArgument("Winograd F(2×2,3×3) has no backward-filter pass; use implicit GEMM")
        case (.winogradF4x3, .forward):
            try winogradF4x3Forward(d, x: o.x, weight: o.weight, bias: nil, activation: nil, y: o.y, workspace: workspace,
                                    parameters: parameters)
        case (.winogradF4x3, .backwardData):
            try winogradF4x3BackwardData(d, dy: o.dy, weight: o.weight, dx: o.dx, workspace: workspace, parameters: parameters)
        case (.winogradF4x3, .backwardFilter):
            throw CNNError.invalidArgument("Winograd F(4×4,3×3) has no backward-filter pass; use implicit GEMM")
        case (.winogradFilter, .backwardFilter):
            try winogradFilterBackwardFilter(d, x: o.x, dy: o.dy, dw: o.dw, workspace: workspace, parameters: parameters)
        case (.winogradFilter, _):
            throw CNNError.invalidArgument("the Winograd filter-gradient solver computes only the backward-filter pass")
        case (.oneDNN, _):
            throw CNNError.invalidArgument("OpenCL devices have no oneDNN convolution; it runs on the CPU backend")
        case (.direct, _), (.im2colGEMM, _), (.directTiled, _), (.fewChannels, _), (.channelsLast, _), (.pointwise, _),
             (.fullyConnected, _):
            try o.run(d, direction: direction, solution: ConvolutionSolution(solver, parameters: parameters), on: self,
                      workspace: workspace)
        }
    }

    /// `candidates` in the order fast tuning tries them: the untuned choice's pick for `d` first,
    /// then the others as listed, the generic direct and im2col + CLBlast solvers last, so that
    /// the best time is known early and `SolverRates` can skip what cannot come near it.
    func fastTuningOrder(_ candidates: [ConvolutionSolution], _ d: Conv2DDescriptor,
                         direction: ConvolutionDirection) -> [ConvolutionSolution] {
        let ranked = convolutionSolutions(for: d, direction: direction).map(\.algorithm)
        func rank(_ a: OpenCLConvolutionSolver) -> Int {
            if a == ranked.first { return 0 }
            if a == .direct || a == .im2colGEMM { return 2 }
            return 1
        }
        return candidates.enumerated().sorted { x, y in
            (rank(x.element.algorithm), x.offset) < (rank(y.element.algorithm), y.offset)
        }.map(\.element)
    }

    /// The fastest solver and parameters for `d` in `direction` on this device: from `database`
    /// when this device and driver have seen the problem, else by timing every candidate
    /// (`ConvolutionTiming.fastest`) and storing the winner. `exhaustive: false` times each
    /// solver at its default parameters only (`--tune fast`), in interleaved rounds: timed one
    /// after another, once each, a slow minute of a shared machine picked the implicit GEMM for
    /// ResNet-50's 3×3 512→512 7² forward at 13.2 ms where it runs 17–23 ms and Winograd
    /// F(4×4,3×3) 9–11 (PoCL, Zen 5). Fast tuning tries the solvers in `fastTuningOrder`, skips
    /// those `tuningRates` shows cannot come near the best, and those on CLBlast where they
    /// cannot win (`fastTuningLeavesOutCLBlast`). Full tuning's dozens of
    /// parameter sets, each with its workspace, are all timed and freed in turn.
    public func tuneConvolution(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                database: TuningDatabase = .shared, retune: Bool = false,
                                runs: Int = 2, exhaustive: Bool = true,
                                trace: ((String) -> Void)? = nil) throws -> TunedChoice {
        let key = ConvolutionProblemKey(d, direction: direction)
        let all = convolutionCandidates(d, direction: direction).map { ConvolutionSolution($0.solver, parameters: $0.parameters) }
        if !retune, let known = ConvolutionTiming.remembered(key, on: self, database: database, candidates: all) { return known }
        var candidates = all
        if !exhaustive {
            // Each solver at its default (its first set), less those on CLBlast where they cannot win.
            var seen = Set<OpenCLConvolutionSolver>()
            let defaults = all.filter { seen.insert($0.algorithm).inserted }
            var leaveOut: [ConvolutionSolution] = []
            if let reason = fastTuningLeavesOutCLBlast(database) {
                leaveOut = defaults.filter { Self.runsOnCLBlast($0.algorithm) }
                for s in leaveOut { trace?("\(s)  skipped: \(reason)") }
            }
            candidates = fastTuningOrder(defaults.filter { !leaveOut.contains($0) }, d, direction: direction)
        }
        // Building a program takes seconds at most on a CPU device.
        return try ConvolutionTiming.fastest(key, candidates: candidates, on: self, database: database, runs: runs,
                                             buildMilliseconds: 5000, interleaved: !exhaustive,
                                             rates: exhaustive ? nil : tuningRates,
                                             builtKernels: { Self.runsOnCLBlast($0.algorithm) ? nil : self.programs.kernelCount },
                                             trace: trace,
            workspaceCount: { self.convolutionWorkspaceCount(d, direction: direction, solver: $0.algorithm, parameters: $0.parameters) },
            run: { s, operands, workspace in
                try self.runConvolution(d, direction: direction, solver: s.algorithm, parameters: s.parameters, operands,
                                        workspace: workspace)
            })
    }
}
