@testable import CNNGPU
import XCTest

/// Runs every kernel of conv_winograd_f4x3.cl (the transforms and the batched GEMM, all our
/// own, no CLBlast) on tiny shapes, so scripts/check-kernels.sh checks them under oclgrind for
/// out-of-bounds accesses, races on the __local tiles and uninitialized reads: partial 4×4
/// tiles, padded tile columns, partial row and k tiles, forward with bias and ReLU and backward
/// data (the flipped weight transform). Results are compared with the CPU backend, which
/// shares no code with these kernels. Named to sort after KernelCheckLossTests (see
/// KernelCheckTiledImplicitGEMMTests).
final class KernelCheckTiledWinogradF4x3Tests: XCTestCase {
    func testWinogradF4x3Kernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let problems = [
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 5, inW: 7, outChannels: 5, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),
            try Conv2DDescriptor(batch: 1, inChannels: 9, inH: 6, inW: 5, outChannels: 18, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
        ]
        // Small tiles keep oclgrind fast: 64 work-items of 2×4 (float4), then 8 of 8×16 (float8)
        // with a k step of 4 (U staged element by element).
        let sets: [TunableParameters] = [
            ["TM": 16, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 4, "VW": 4],
            ["TM": 16, "TN": 32, "TK": 4, "WPT_M": 8, "WPT_N": 16, "VW": 8],
        ]
        for (d, p) in zip(problems, sets) {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
            let b = rng.floats(d.outChannels)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
            let Y = try cl.hostInitialized(d.outputCount), DX = try cl.hostInitialized(d.inputCount)
            let count = max(cl.winogradF4x3WorkspaceCount(d, direction: .forward),
                            cl.winogradF4x3WorkspaceCount(d, direction: .backwardData))
            let WS = try cl.hostInitialized(count)
            try cl.winogradF4x3Forward(d, x: X, weight: W, bias: B, activation: .relu, y: Y, workspace: WS, parameters: p)
            try cl.winogradF4x3BackwardData(d, dy: DY, weight: W, dx: DX, workspace: WS, parameters: p)

            let CX = try cpu.makeBuffer(x), CW = try cpu.makeBuffer(w)
            let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDX = try cpu.allocate(d.inputCount, dtype: .float32)
            try cpu.convolutionForward(d, x: CX, weight: CW, bias: try cpu.makeBuffer(b), y: CY)
            try cpu.activationForward(.relu, count: d.outputCount, x: CY, y: CY)
            try cpu.convolutionBackwardData(d, dy: try cpu.makeBuffer(dy), weight: CW, dx: CDX)
            // WinogradF4x3SolverTests.tolerance says why F(4×4,3×3) needs more than 1e-5.
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: WinogradF4x3SolverTests.tolerance,
                        "Winograd F(4×4,3×3) forward \(d) \(p) seed \(rng.seed)")
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: WinogradF4x3SolverTests.tolerance,
                        "Winograd F(4×4,3×3) backward data \(d) \(p) seed \(rng.seed)")
        }
    }
}
