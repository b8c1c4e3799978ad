@testable import CNNGPU
import XCTest

/// Runs every kernel of conv_winograd_filter.cl (both transforms, the batched GEMM in its
/// writing and accumulating forms, the output transform) on tiny shapes, so
/// scripts/check-kernels.sh checks them under oclgrind for out-of-bounds accesses, races on the
/// __local tiles and uninitialized reads: partial 4×4 tiles, padded tile columns, partial row,
/// column and k tiles, two image chunks (the second one partial) and three reduction slices;
/// the transforms' strips of 16 and 4 tiles whole, partial and over padding columns.
/// Results are compared with the CPU backend, which shares no code with these kernels. Named
/// to sort after KernelCheckLossTests (see KernelCheckTiledImplicitGEMMTests).
final class KernelCheckTiledWinogradFilterTests: XCTestCase {
    func testWinogradFilterKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let problems = [
            try Conv2DDescriptor(batch: 3, inChannels: 3, inH: 5, inW: 7, outChannels: 5, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),
            try Conv2DDescriptor(batch: 1, inChannels: 18, inH: 6, inW: 5, outChannels: 9, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            // 17 tiles per row: a whole strip of 16 tiles (rows staged as vectors where they lie
            // inside the plane, element by element across its edge), a strip of 1 tile, and a
            // padding strip of 12 columns (stored as 8 + 4); then the same in strips of 4 tiles.
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 5, inW: 68, outChannels: 4, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 5, inW: 68, outChannels: 4, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            // The CPU default's shape of register tile: one work-item column (RTN 1) spanning
            // the tile's columns in float16s, dy staged as float16 runs; a partial column tile.
            try Conv2DDescriptor(batch: 2, inChannels: 20, inH: 6, inW: 9, outChannels: 7, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
        ]
        // Small tiles keep oclgrind fast: 64 work-items of 2×4 (float4) in chunks of 2 images
        // and 3 slices, then 8 of 8×16 (float8) with a k step of 4 (dy staged element by element),
        // (again with the transforms on strips of 4 tiles), then 4 of 4×32 (float16) in 2 slices.
        let sets: [TunableParameters] = [
            ["TM": 16, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 4, "VW": 4, "CHUNK": 2, "KSPLIT": 3],
            ["TM": 16, "TN": 32, "TK": 4, "WPT_M": 8, "WPT_N": 16, "VW": 8, "CHUNK": 1, "KSPLIT": 1],
            ["TM": 16, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 4, "VW": 4, "CHUNK": 2, "KSPLIT": 1],
            ["TM": 16, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 4, "VW": 4, "CHUNK": 2, "KSPLIT": 1, "WF_STRIP": 4],
            ["TM": 16, "TN": 32, "TK": 16, "WPT_M": 4, "WPT_N": 32, "VW": 16, "CHUNK": 2, "KSPLIT": 2],
        ]
        for (d, p) in zip(problems, sets) {
            let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
            let DW = try cl.hostInitialized(d.weightCount)
            let WS = try cl.hostInitialized(cl.winogradFilterWorkspaceCount(d, parameters: p))
            try cl.winogradFilterBackwardFilter(d, x: try cl.makeBuffer(x), dy: try cl.makeBuffer(dy), dw: DW, workspace: WS,
                                                parameters: p)
            let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
            try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: WinogradFilterSolverTests.tolerance,
                        "Winograd filter gradient \(d) \(p) seed \(rng.seed)")
        }
    }
}
