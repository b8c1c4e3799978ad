@testable import CNNGPU
import XCTest

/// Runs every kernel of conv_few_channels.cl on tiny shapes, so scripts/check-kernels.sh checks
/// them under oclgrind for out-of-bounds accesses, races on the __local tiles and uninitialized
/// reads: a partial last pixel vector, a partial row tile, a partial channel block (5 of 8),
/// stride 2 (the phase-split staging) and stride 1 (the vector staging), dy staged and read in
/// place; the input gradient with two staged channel blocks (the last one partial), both column
/// phases of stride 2 and rows past the image in the last row tile. Results are compared with
/// the CPU backend, which shares no code with these kernels.
/// Named to sort after KernelCheckLossTests (see KernelCheckTiledImplicitGEMMTests).
final class KernelCheckTiledFewChannelsTests: XCTestCase {
    func testFewChannelsKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let problems = [
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 9, inW: 11, outChannels: 5, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),
            try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 5, inW: 6, outChannels: 5, kernelH: 3, kernelW: 2,
                                 padding: Padding2D(1)),
        ]
        let sets: [TunableParameters] = [
            ["FC_VP": 4, "FC_OB": 4, "FC_ROWS": 2, "FC_FROWS": 2, "FC_FOB": 2, "FC_FCB": 8, "FC_DYL": 1,
             "FC_DROWS": 2, "FC_DOB": 8, "FC_DBV": 1],
            ["FC_VP": 4, "FC_OB": 4, "FC_ROWS": 4, "FC_FROWS": 4, "FC_FOB": 1, "FC_FCB": 8, "FC_DYL": 0,
             "FC_DROWS": 4, "FC_DOB": 8, "FC_DBV": 2],
        ]
        for (d, p) in zip(problems, sets) {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
            let b = rng.floats(d.outChannels)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
            let Y = try cl.hostInitialized(d.outputCount), DW = try cl.hostInitialized(d.weightCount)
            let WS = try cl.hostInitialized(cl.fewChannelsWorkspaceCount(d, direction: .backwardFilter, parameters: p))
            try cl.fewChannelsForward(d, x: X, weight: W, bias: B, activation: .relu, y: Y, parameters: p)
            try cl.fewChannelsBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: WS, parameters: p)

            let CX = try cpu.makeBuffer(x), CW = try cpu.makeBuffer(w), CDY = try cpu.makeBuffer(dy)
            let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDW = try cpu.allocate(d.weightCount, dtype: .float32)
            try cpu.convolutionForward(d, x: CX, weight: CW, bias: try cpu.makeBuffer(b), y: CY)
            try cpu.activationForward(.relu, count: d.outputCount, x: CY, y: CY)
            try cpu.convolutionBackwardFilter(d, x: CX, dy: CDY, dw: CDW)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "conv_few_channels_forward \(d) seed \(rng.seed)")
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-5,
                        "conv_few_channels_backward_filter + reduce \(d) seed \(rng.seed)")
        }
        // Backward data: 11 output channels in blocks of 6 (FC_DOB 8), the second partial.
        let dataProblems = [
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 9, inW: 11, outChannels: 11, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),
            try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 5, inW: 6, outChannels: 11, kernelH: 3, kernelW: 2,
                                 padding: Padding2D(1)),
        ]
        for (d, p) in zip(dataProblems, sets) {
            let dy = rng.floats(d.outputCount), w = rng.floats(d.weightCount)
            let DX = try cl.hostInitialized(d.inputCount)
            try cl.fewChannelsBackwardData(d, dy: try cl.makeBuffer(dy), weight: try cl.makeBuffer(w), dx: DX, parameters: p)
            let CDX = try cpu.allocate(d.inputCount, dtype: .float32)
            try cpu.convolutionBackwardData(d, dy: try cpu.makeBuffer(dy), weight: try cpu.makeBuffer(w), dx: CDX)
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5,
                        "conv_few_channels_backward_data \(d) seed \(rng.seed)")
        }
    }
}
