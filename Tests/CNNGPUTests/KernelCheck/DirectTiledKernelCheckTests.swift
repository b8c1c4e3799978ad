@testable import CNNGPU
import XCTest

/// Runs every kernel of conv_direct_tiled.cl on tiny shapes, so scripts/check-kernels.sh checks
/// them under oclgrind for out-of-bounds accesses, races on the __local tiles and uninitialized
/// reads: partial row tiles, partial channel blocks, 4-pixel vectors whose last one runs past
/// the rows, two batch splits. Results are compared with the CPU backend, which shares no code
/// with these kernels. Named to sort after KernelCheckLossTests (see KernelCheckTiledImplicitGEMMTests).
final class KernelCheckTiledDirectTests: XCTestCase {
    func testTiledDirectKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 3, inChannels: 3, inH: 7, inW: 6, outChannels: 5, kernelH: 3, kernelW: 2,
                                     padding: Padding2D(top: 1, bottom: 0, left: 1, right: 0))
        // 8 vectors of 4 pixels at most: 4 of the 6 output rows (7 of dx) per tile, then a partial tile.
        let p: TunableParameters = ["DT_WG": 8, "DT_IMAGES": 2, "DT_VP": 4, "DT_VECTORS": 8]
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        let b = rng.floats(d.outChannels)
        let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
        let Y = try cl.hostInitialized(d.outputCount), DX = try cl.hostInitialized(d.inputCount)
        let DW = try cl.hostInitialized(d.weightCount)
        let WS = try cl.hostInitialized(cl.directTiledWorkspaceCount(d, direction: .backwardFilter, parameters: p))
        try cl.directTiledForward(d, x: X, weight: W, bias: B, activation: .relu, y: Y, parameters: p)
        try cl.directTiledBackwardData(d, dy: DY, weight: W, dx: DX, parameters: p)
        try cl.directTiledBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: WS, parameters: p)

        let CX = try cpu.makeBuffer(x), CW = try cpu.makeBuffer(w), CDY = try cpu.makeBuffer(dy)
        let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDX = try cpu.allocate(d.inputCount, dtype: .float32)
        let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
        try cpu.convolutionForward(d, x: CX, weight: CW, bias: try cpu.makeBuffer(b), y: CY)
        try cpu.activationForward(.relu, count: d.outputCount, x: CY, y: CY)
        try cpu.convolutionBackwardData(d, dy: CDY, weight: CW, dx: CDX)
        try cpu.convolutionBackwardFilter(d, x: CX, dy: CDY, dw: CDW)
        assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "conv_direct_tiled_forward seed \(rng.seed)")
        assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5,
                    "conv_direct_tiled_forward (adjoint) seed \(rng.seed)")
        assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-5,
                    "conv_direct_tiled_backward_filter + reduce_splits seed \(rng.seed)")
    }
}
