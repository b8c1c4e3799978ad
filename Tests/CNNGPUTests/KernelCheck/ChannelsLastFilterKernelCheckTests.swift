@testable import CNNGPU
import XCTest

/// Runs conv_channels_last_filter_in_place on tiny shapes, so scripts/check-kernels.sh checks it
/// under oclgrind. A class of its own: oclgrind 21.10 hands a released buffer's
/// uninitialized-memory shadow to the next buffer with its id (see
/// KernelCheckTiledImplicitGEMMTests), and run before KernelCheckTiledChannelsLastTests in one
/// process this test's released buffers made that class report uninitialized reads of values
/// its kernels had written (each test alone ran clean). Results are compared with the CPU
/// backend.
final class KernelCheckTiledChannelsLastFilterTests: XCTestCase {
    /// The filter gradient of a 1×1 stride-1 layer read in place (CL_NCHW 1): partial tiles (7
    /// input channels in tiles of 3, 5 output channels in pairs), partial last vectors (35
    /// pixels in vectors of 4), slices of part of an image across a work-group of 16 (lanes with
    /// nothing to do, the sums added through local memory) and of both images at once.
    func testChannelsLastFilterGradientInPlace() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 7, inH: 5, inW: 7, outChannels: 5, kernelH: 1, kernelW: 1)
        let sets: [TunableParameters] = [
            ["CL_VW": 4, "CL_NV": 2, "CL_RP": 3, "CL_PF": 1, "CL_WG": 16, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 16, "CL_SO": 0],
            ["CL_VW": 8, "CL_NV": 1, "CL_RP": 3, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 4096, "CL_SO": 0],
        ]
        let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
        let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
        try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
        let X = try cl.makeBuffer(x), DY = try cl.makeBuffer(dy)
        let workspaces = try sets.map {
            try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .backwardFilter, parameters: $0), dtype: .float32)
        }
        for (p, ws) in zip(sets, workspaces) {
            XCTAssertTrue(OpenCLBackend.channelsLastFilterInPlace(d, p))
            let DW = try cl.hostInitialized(d.weightCount)
            try cl.channelsLastBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: ws, parameters: p)
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-4, "backward filter \(p) seed \(rng.seed)")
        }
    }
}
