import Foundation

/// The tensors of one convolution problem, as the solvers' entry points take them.
struct ConvolutionOperands {
    var x: any DeviceBuffer, weight: any DeviceBuffer, y: any DeviceBuffer
    var dy: any DeviceBuffer, dx: any DeviceBuffer, dw: any DeviceBuffer

    /// Random operands for `d` (tuning measures speed, so values only need to be finite).
    init(_ d: Conv2DDescriptor, on backend: OpenCLBackend) throws {
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
}

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
        return result
    }

    func convolutionWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                   solver: OpenCLConvolutionSolver, parameters: TunableParameters) -> Int {
        switch solver {
        case .implicitGEMM: return implicitGEMMWorkspaceCount(d, direction: direction, parameters: parameters)
        case .directTiled: return directTiledWorkspaceCount(d, direction: direction, parameters: parameters)
        case .fewChannels: return fewChannelsWorkspaceCount(d, direction: direction, parameters: parameters)
        case .conv1x1CLBlast, .direct, .oneDNN: return 0
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
        case (.direct, _), (.im2colGEMM, _), (.directTiled, _), (.fewChannels, _):
            let solution = ConvolutionSolution(solver, parameters: parameters)
            switch direction {
            case .forward:
                try encodeConvolutionForward(d, x: o.x, weight: o.weight, bias: nil, activation: nil, y: o.y,
                                             solution: solution, workspace: workspace)
            case .backwardData:
                try encodeConvolutionBackwardData(d, dy: o.dy, weight: o.weight, dx: o.dx, solution: solution, workspace: workspace)
            case .backwardFilter:
                try encodeConvolutionBackwardFilter(d, x: o.x, dy: o.dy, dw: o.dw, solution: solution, workspace: workspace)
            }
        }
    }

    /// The fastest solver and parameters for `d` in `direction` on this device: from `database`
    /// when this device and driver have seen the problem, else by timing every candidate
    /// (wall clock around a synchronized run, best of `runs` after a warm-up that also builds
    /// the program) and storing the winner. A candidate that fails to build or run is skipped.
    /// `exhaustive: false` times each solver at its default parameters only (`--tune fast`).
    public func tuneConvolution(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                database: TuningDatabase = .shared, retune: Bool = false,
                                runs: Int = 2, exhaustive: Bool = true) throws -> TunedChoice {
        let key = ConvolutionProblemKey(d, direction: direction)
        if !retune, let known = database.choice(device: info, problem: key),
           let solver = OpenCLConvolutionSolver(rawValue: known.solver),
           convolutionCandidates(d, direction: direction).contains(where: { $0.solver == solver && $0.parameters == known.parameters }) {
            return known
        }
        let operands = try ConvolutionOperands(d, on: self)
        var best: TunedChoice?
        var failures: [String] = []
        var seen = Set<OpenCLConvolutionSolver>()
        for (solver, parameters) in convolutionCandidates(d, direction: direction)
            where exhaustive || seen.insert(solver).inserted {
            do {
                let count = convolutionWorkspaceCount(d, direction: direction, solver: solver, parameters: parameters)
                let workspace = count > 0 ? try allocate(count, dtype: .float32) : nil
                let run = { try self.runConvolution(d, direction: direction, solver: solver, parameters: parameters,
                                                    operands, workspace: workspace) }
                let warmStart = DispatchTime.now().uptimeNanoseconds
                try run(); try synchronize()
                // The warm-up also builds the program (seconds at most on a CPU device), so only
                // a warm-up far beyond that and the best so far marks a hopeless candidate.
                let warm = Double(DispatchTime.now().uptimeNanoseconds - warmStart) / 1e6
                if let best, warm > max(10 * best.milliseconds, best.milliseconds + 5000) { continue }
                var seconds = Double.infinity
                for _ in 0..<max(1, runs) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    try run(); try synchronize()
                    seconds = min(seconds, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    // Far behind the best so far: more runs cannot make it win.
                    if seconds * 1e3 > 3 * (best?.milliseconds ?? .infinity) { break }
                }
                if seconds * 1e3 < best?.milliseconds ?? .infinity {
                    best = TunedChoice(solver: solver.rawValue, parameters: parameters, milliseconds: seconds * 1e3)
                }
            } catch {
                failures.append("\(solver.rawValue) \(parameters): \(error)")
            }
        }
        guard let best else {
            throw CNNError.invalidArgument("no convolution solver ran for \(key) on \(info.name): "
                + (failures.isEmpty ? "none applies" : failures.joined(separator: "; ")))
        }
        try database.record(best, device: info, problem: key)
        return best
    }
}
