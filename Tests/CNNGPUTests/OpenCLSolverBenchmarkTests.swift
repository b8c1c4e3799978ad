@testable import CNNGPU
import Foundation
import XCTest

/// Times ResNet-50's characteristic convolutions at batch 8 on the OpenCL device, old direct
/// kernels vs the implicit-GEMM solver (default and tuned parameters), and prints GFLOP/s.
/// Skipped unless CNNGPU_BENCH=1: speed is measured, never asserted.
final class OpenCLSolverBenchmarkTests: XCTestCase {
    static func layers() throws -> [(String, Conv2DDescriptor)] {
        [
            ("3x3 64->64 56^2", try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 64,
                                                     kernelH: 3, kernelW: 3, padding: Padding2D(1))),
            ("1x1 256->64 56^2", try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 56, inW: 56, outChannels: 64,
                                                      kernelH: 1, kernelW: 1)),
            ("3x3 256->256 14^2", try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 14, inW: 14, outChannels: 256,
                                                       kernelH: 3, kernelW: 3, padding: Padding2D(1))),
            // Stage 3 and 4 bottleneck 1×1 layers: rows shorter than a float16 chunk.
            ("1x1 1024->256 14^2", try Conv2DDescriptor(batch: 8, inChannels: 1024, inH: 14, inW: 14, outChannels: 256,
                                                        kernelH: 1, kernelW: 1)),
            ("1x1 64->256 56^2", try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 256,
                                                      kernelH: 1, kernelW: 1)),
            ("3x3 512->512 7^2", try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 512,
                                                      kernelH: 3, kernelW: 3, padding: Padding2D(1))),
            // The other bottleneck 1×1 shapes at the ends of the GEMM sizes: K = 64 (the k loop is
            // two steps, the stores dominate) and N = 392 pixels at 7² (few column tiles).
            ("1x1 64->64 56^2", try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 64,
                                                     kernelH: 1, kernelW: 1)),
            ("1x1 512->2048 7^2", try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 2048,
                                                       kernelH: 1, kernelW: 1)),
            // Stage 2's 1×1 layers: 28² planes, between the in-place filter gradient's (56²) and the copies' (14²).
            ("1x1 128->512 28^2", try Conv2DDescriptor(batch: 8, inChannels: 128, inH: 28, inW: 28, outChannels: 512,
                                                       kernelH: 1, kernelW: 1)),
            ("1x1 512->128 28^2", try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 28, inW: 28, outChannels: 128,
                                                       kernelH: 1, kernelW: 1)),
            // The strided layers of ResNet-50's first blocks of stages 2–4 (3×3 conv2 and the
            // 1×1 downsample): their input gradients scatter into every other pixel.
            ("3x3/2 128->128 56^2", try Conv2DDescriptor(batch: 8, inChannels: 128, inH: 56, inW: 56, outChannels: 128,
                                                         kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                                         padding: Padding2D(1))),
            ("1x1/2 256->512 56^2", try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 56, inW: 56, outChannels: 512,
                                                         kernelH: 1, kernelW: 1, strideH: 2, strideW: 2)),
            ("3x3/2 256->256 28^2", try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 28, inW: 28, outChannels: 256,
                                                         kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                                         padding: Padding2D(1))),
            ("1x1/2 512->1024 28^2", try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 28, inW: 28, outChannels: 1024,
                                                          kernelH: 1, kernelW: 1, strideH: 2, strideW: 2)),
            ("3x3/2 512->512 14^2", try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 14, inW: 14, outChannels: 512,
                                                         kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                                         padding: Padding2D(1))),
            ("1x1/2 1024->2048 14^2", try Conv2DDescriptor(batch: 8, inChannels: 1024, inH: 14, inW: 14, outChannels: 2048,
                                                           kernelH: 1, kernelW: 1, strideH: 2, strideW: 2)),
            ("7x7/2 3->64 224^2", try Conv2DDescriptor(batch: 8, inChannels: 3, inH: 224, inW: 224, outChannels: 64,
                                                       kernelH: 7, kernelW: 7, strideH: 2, strideW: 2,
                                                       padding: Padding2D(3))),
        ] + (try vgg16Layers()) + (try denseLayers())
    }

    /// VGG-16's fully connected layers at batch 8 and LeNet-5's at batch 64, as the 1×1
    /// convolutions on 1×1 images they run as on CPU devices (`Dense.asConvolution`), "fc …".
    static func denseLayers() throws -> [(String, Conv2DDescriptor)] {
        try [(8, 25088, 4096), (8, 4096, 4096), (8, 4096, 1000), (64, 400, 120), (64, 120, 84), (64, 84, 10)].map { n, c, k in
            ("fc \(c)->\(k) b\(n)", try Conv2DDescriptor(batch: n, inChannels: c, inH: 1, inW: 1, outChannels: k,
                                                      kernelH: 1, kernelW: 1))
        }
    }

    /// VGG-16's nine distinct convolutions (3×3, stride 1, padding 1), named "vgg …".
    static func vgg16Layers() throws -> [(String, Conv2DDescriptor)] {
        try [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56), (256, 256, 56),
             (256, 512, 28), (512, 512, 28), (512, 512, 14)].map { c, k, side in
            ("vgg 3x3 \(c)->\(k) \(side)^2", try Conv2DDescriptor(batch: 8, inChannels: c, inH: side, inW: side, outChannels: k,
                                                             kernelH: 3, kernelW: 3, padding: Padding2D(1)))
        }
    }

    /// CNNGPU_BENCH_PARAMS as parameters ("WT=1,TN=64"; empty when unset).
    static func parameterOverrides() -> TunableParameters {
        let text = ProcessInfo.processInfo.environment["CNNGPU_BENCH_PARAMS"] ?? ""
        var p: TunableParameters = [:]
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=")
            if pair.count == 2, let value = Int(pair[1]) { p[String(pair[0])] = value }
        }
        return p
    }

    /// Best of `runs` process CPU times of `body` (after one warm-up run), synchronized: on a
    /// CPU device whose worker threads are in-process (PoCL) it counts the work, not the wait
    /// for a core, so it stays comparable when the machine is shared.
    static func bestCPUTime(_ cl: OpenCLBackend, runs: Int = 3, _ body: () throws -> Void) throws -> Double {
        try body(); try cl.synchronize()
        var best = Double.infinity
        for _ in 0..<runs {
            let start = processCPUSeconds()
            try body(); try cl.synchronize()
            best = min(best, processCPUSeconds() - start)
        }
        return best
    }

    static func processCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Best of `runs` wall-clock times of `body` (after one warm-up run), synchronized.
    static func bestTime(_ cl: OpenCLBackend, runs: Int = 3, _ body: () throws -> Void) throws -> Double {
        try body(); try cl.synchronize()
        var best = Double.infinity
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body(); try cl.synchronize()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return best
    }

    func testBenchmarkSolvers() throws {
        guard ProcessInfo.processInfo.environment["CNNGPU_BENCH"] == "1" else {
            throw XCTSkip("set CNNGPU_BENCH=1 to run the OpenCL solver benchmark")
        }
        let cl = try XCTUnwrap(TestBackends.openCL)
        // With CNNGPU_BENCH_TUNE=1, each problem is tuned first (into a throw-away database).
        let tune = ProcessInfo.processInfo.environment["CNNGPU_BENCH_TUNE"] == "1"
        let database = TuningDatabase(url: FileManager.default.temporaryDirectory
            .appendingPathComponent("cnn-gpu-bench-tuning-\(UUID().uuidString).json"))
        var rng = SeededGenerator(seed: 1)
        print("device: \(cl.info.name) (\(cl.info.driverVersion)); GFLOP/s, best of 3")
        // CNNGPU_BENCH_LAYERS=a,b keeps only the layers whose names start with one of them.
        let only = ProcessInfo.processInfo.environment["CNNGPU_BENCH_LAYERS"]?.split(separator: ",").map(String.init)
        for (name, d) in try Self.layers() where only?.contains(where: { name.hasPrefix($0) }) ?? true {
            let X = try cl.makeBuffer(rng.floats(d.inputCount)), W = try cl.makeBuffer(rng.floats(d.weightCount))
            let Y = try cl.allocate(d.outputCount, dtype: .float32), DY = try cl.makeBuffer(rng.floats(d.outputCount))
            let DX = try cl.allocate(d.inputCount, dtype: .float32), DW = try cl.allocate(d.weightCount, dtype: .float32)
            let gflop = d.flops / 1e9
            // CNNGPU_BENCH_CHOSEN=1 times only what the backend picks untuned (`--tune off`):
            // VGG's 224² layers take minutes on the old direct kernels.
            if ProcessInfo.processInfo.environment["CNNGPU_BENCH_CHOSEN"] == "1" {
                let passes: [(ConvolutionDirection, () throws -> Void)] = [
                    (.forward, { try cl.convolutionForward(d, x: X, weight: W, bias: nil, y: Y) }),
                    (.backwardData, { try cl.convolutionBackwardData(d, dy: DY, weight: W, dx: DX) }),
                    (.backwardFilter, { try cl.convolutionBackwardFilter(d, x: X, dy: DY, dw: DW) }),
                ]
                // CNNGPU_BENCH_PARAMS=WT=1,TN=64 overrides those parameters of the chosen solution
                // where it is the implicit GEMM, or the solver CNNGPU_BENCH_SOLVER names (WT and KSPLIT
                // only mean something to one direction), so that two variants compare in one process;
                // with CNNGPU_BENCH_SOLVER=implicitGEMM the implicit GEMM's default replaces the choice.
                let overrides = Self.parameterOverrides()
                let solver = ProcessInfo.processInfo.environment["CNNGPU_BENCH_SOLVER"].flatMap { ConvolutionAlgorithm(rawValue: $0) }
                for (direction, chosenPass) in passes {
                    var solution = try ConvolutionChoice.solution(for: d, direction: direction, backend: cl)
                    if let solver, let s = cl.convolutionSolutions(for: d, direction: direction)
                        .first(where: { $0.algorithm == solver }) {
                        solution = s
                    }
                    var pass = chosenPass
                    if solution.algorithm == solver ?? .implicitGEMM { solution.parameters.merge(overrides) { $1 } }
                    if solution != (try ConvolutionChoice.solution(for: d, direction: direction, backend: cl)) {
                        let chosen = solution
                        let ws = cl.convolutionWorkspaceCount(d, direction: direction, solution: chosen)
                        let WS = ws > 0 ? try cl.allocate(ws, dtype: .float32) : nil
                        switch direction {
                        case .forward:
                            pass = { try cl.encodeConvolutionForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y,
                                                                     solution: chosen, workspace: WS) }
                        case .backwardData:
                            pass = { try cl.encodeConvolutionBackwardData(d, dy: DY, weight: W, dx: DX, solution: chosen, workspace: WS) }
                        case .backwardFilter:
                            pass = { try cl.encodeConvolutionBackwardFilter(d, x: X, dy: DY, dw: DW, solution: chosen, workspace: WS) }
                        }
                    }
                    let t = try Self.bestTime(cl, pass), cpu = try Self.bestCPUTime(cl, pass)
                    FileHandle.standardError.write(Data(String(format: "%@ | %@ | %@ %.1f ms, %.1f GFLOP/s, CPU time %.1f ms\n",
                                                               name, direction.rawValue, solution.description,
                                                               t * 1e3, gflop / t, cpu * 1e3).utf8))
                }
                continue
            }
            ConvolutionAlgorithm.forced = .direct
            let direct = [
                try Self.bestTime(cl) { try cl.convolutionForward(d, x: X, weight: W, bias: nil, y: Y) },
                try Self.bestTime(cl) { try cl.convolutionBackwardData(d, dy: DY, weight: W, dx: DX) },
                try Self.bestTime(cl) { try cl.convolutionBackwardFilter(d, x: X, dy: DY, dw: DW) },
            ]
            ConvolutionAlgorithm.forced = nil
            var lines: [String] = []
            var operands = try ConvolutionOperands(d, on: cl)
            (operands.x, operands.weight, operands.y, operands.dy, operands.dx, operands.dw) = (X, W, Y, DY, DX, DW)
            for (i, direction) in ConvolutionDirection.allCases.enumerated() {
                // Each solver at its default parameters, or (tuning) the tuner's pick.
                var choices: [TunedChoice] = []
                if tune {
                    choices = [try cl.tuneConvolution(d, direction: direction, database: database)]
                } else {
                    var seen = Set<OpenCLConvolutionSolver>()
                    for c in cl.convolutionCandidates(d, direction: direction) where seen.insert(c.solver).inserted {
                        choices.append(TunedChoice(solver: c.solver.rawValue, parameters: c.parameters, milliseconds: 0))
                    }
                }
                var line = String(format: "%@ | %@ | direct %.1f ms, %.1f GFLOP/s", name, direction.rawValue,
                                  direct[i] * 1e3, gflop / direct[i])
                for choice in choices {
                    let solver = try XCTUnwrap(OpenCLConvolutionSolver(rawValue: choice.solver))
                    let ws = cl.convolutionWorkspaceCount(d, direction: direction, solver: solver, parameters: choice.parameters)
                    let WS = ws > 0 ? try cl.allocate(ws, dtype: .float32) : nil
                    let t = try Self.bestTime(cl) {
                        try cl.runConvolution(d, direction: direction, solver: solver, parameters: choice.parameters,
                                              operands, workspace: WS)
                    }
                    let params = choice.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                        .joined(separator: ",")
                    line += String(format: " | %@%@ %.1f ms, %.1f GFLOP/s", choice.solver,
                                   params.isEmpty ? "" : "(" + params + ")", t * 1e3, gflop / t)
                }
                lines.append(line)
            }
            // Unbuffered, so a long run shows progress when its output goes to a file.
            lines.forEach { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        }
    }
    /// Solvers compared in rounds A B C A B C in one process, so that a slow minute of a shared
    /// machine slows each alike: CNNGPU_BENCH_VARIANTS lists them, "solver" at its default for
    /// the problem or "solver(NAME=value,…)" with those parameters changed, separated by ";"
    /// (e.g. "implicitGEMM;channelsLast;channelsLast(CL_NCHW=1)"); CNNGPU_BENCH_DIRECTIONS the
    /// passes (default all three), CNNGPU_BENCH_LAYERS the layers, CNNGPU_BENCH_ROUNDS the rounds
    /// (default 5). Prints each variant's median and best wall time. A variant that does not
    /// apply to a pass is left out of it. Run with CNNGPU_BENCH=1 and CNNGPU_BENCH_VARIANTS set.
    func testBenchmarkInterleaved() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["CNNGPU_BENCH"] == "1", let variantsText = env["CNNGPU_BENCH_VARIANTS"] else {
            throw XCTSkip("set CNNGPU_BENCH=1 and CNNGPU_BENCH_VARIANTS to compare solvers interleaved")
        }
        let cl = try XCTUnwrap(TestBackends.openCL)
        let variants: [(OpenCLConvolutionSolver, TunableParameters)] = try variantsText.split(separator: ";").map { item in
            let parts = item.split(separator: "(", maxSplits: 1)
            let solver = try XCTUnwrap(OpenCLConvolutionSolver(rawValue: String(parts[0])), "unknown solver \(parts[0])")
            var p = TunableParameters()
            for pair in parts.dropFirst().first?.dropLast().split(separator: ",") ?? [] {
                let kv = pair.split(separator: "=")
                p[String(kv[0])] = Int(kv[1])
            }
            return (solver, p)
        }
        let directions = try (env["CNNGPU_BENCH_DIRECTIONS"]?.split(separator: ",").map {
            try XCTUnwrap(ConvolutionDirection(rawValue: String($0)), "unknown direction \($0)")
        }) ?? ConvolutionDirection.allCases
        let rounds = Int(env["CNNGPU_BENCH_ROUNDS"] ?? "") ?? 5
        let only = env["CNNGPU_BENCH_LAYERS"]?.split(separator: ",").map(String.init)
        var rng = SeededGenerator(seed: 1)
        print("device: \(cl.info.name) (\(cl.info.driverVersion)); \(rounds) interleaved rounds")
        for (name, d) in try Self.layers() where only?.contains(where: { name.hasPrefix($0) }) ?? true {
            var operands = try ConvolutionOperands(d, on: cl)
            operands.x = try cl.makeBuffer(rng.floats(d.inputCount))
            operands.weight = try cl.makeBuffer(rng.floats(d.weightCount))
            operands.dy = try cl.makeBuffer(rng.floats(d.outputCount))
            for direction in directions {
                // Each variant that applies: its solution (the solver's default for d, changed as
                // asked), workspace and pass, warmed up once.
                var contenders: [(ConvolutionSolution, () throws -> Void)] = []
                for (solver, changes) in variants {
                    guard var s = cl.convolutionSolutions(for: d, direction: direction).first(where: { $0.algorithm == solver })
                    else { continue }
                    s.parameters.merge(changes) { $1 }
                    let count = cl.convolutionWorkspaceCount(d, direction: direction, solution: s)
                    let WS = count > 0 ? try cl.allocate(count, dtype: .float32) : nil
                    let chosen = s
                    let pass = {
                        try cl.runConvolution(d, direction: direction, solver: chosen.algorithm, parameters: chosen.parameters,
                                              operands, workspace: WS)
                    }
                    try pass()
                    try cl.synchronize()
                    contenders.append((s, pass))
                }
                var times = [[Double]](repeating: [], count: contenders.count)
                for _ in 0..<rounds {
                    for (i, (_, pass)) in contenders.enumerated() {
                        let start = DispatchTime.now().uptimeNanoseconds
                        try pass()
                        try cl.synchronize()
                        times[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    }
                }
                for (i, (s, _)) in contenders.enumerated() {
                    let sorted = times[i].sorted()
                    let median = sorted[sorted.count / 2]
                    FileHandle.standardError.write(Data(String(
                        format: "%@ | %@ | %@ median %.1f ms (%.1f GFLOP/s), best %.1f ms\n", name, direction.rawValue,
                        s.description, median * 1e3, d.flops / 1e9 / median, sorted[0] * 1e3).utf8))
                }
            }
        }
    }
}
