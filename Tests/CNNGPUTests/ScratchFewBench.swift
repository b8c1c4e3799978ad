@testable import CNNGPU
import Foundation
import XCTest

final class ScratchFewBench: XCTestCase {
    func testScratch() throws {
        guard ProcessInfo.processInfo.environment["SCRATCH"] == "1" else { throw XCTSkip("scratch") }
        let cl = try XCTUnwrap(TestBackends.openCL)
        let layers = try OpenCLSolverBenchmarkTests.layers().filter { $0.0.hasPrefix("vgg 3x3 3->") || $0.0.hasPrefix("7x7") }
        let extra = ProcessInfo.processInfo.environment["SCRATCH_ALL"] == "1"
        for (name, d) in layers {
            var operands = try ConvolutionOperands(d, on: cl)
            _ = operands
            for direction in [ConvolutionDirection.forward, .backwardFilter] {
                var choices: [(OpenCLConvolutionSolver, TunableParameters)] = []
                let base = cl.convolutionSolutions(for: d, direction: direction).first!
                choices.append((base.algorithm, base.parameters))
                let few = cl.fewChannelsCandidates(d, direction: direction)
                choices += (extra ? few : Array(few.prefix(1))).map { (.fewChannels, $0) }
                for round in 0..<2 {
                    for (solver, p) in choices {
                        let ws = cl.convolutionWorkspaceCount(d, direction: direction, solver: solver, parameters: p)
                        let WS = ws > 0 ? try cl.allocate(ws, dtype: .float32) : nil
                        let t = try OpenCLSolverBenchmarkTests.bestTime(cl) {
                            try cl.runConvolution(d, direction: direction, solver: solver, parameters: p, operands, workspace: WS)
                        }
                        let ps = p.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                        FileHandle.standardError.write(Data(String(format: "r%d %@ | %@ | %@(%@) %.1f ms, %.1f GFLOP/s\n", round, name,
                            direction.rawValue, solver.rawValue, ps, t * 1e3, d.flops / 1e9 / t).utf8))
                    }
                }
            }
            operands = try ConvolutionOperands(d, on: cl)
        }
    }
}
