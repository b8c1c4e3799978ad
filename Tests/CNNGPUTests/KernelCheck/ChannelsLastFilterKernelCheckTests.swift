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
    /// nothing to do, the sums added through local memory) and of both images at once; 2 and 4
    /// output-channel tiles a work-item (tiles wholly past the layer's channels) in runs of 8
    /// vectors (a run that ends in the partial vector), alone and across a work-group of 16.
    func testChannelsLastFilterGradientInPlace() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 7, inH: 5, inW: 7, outChannels: 5, kernelH: 1, kernelW: 1)
        let sets: [TunableParameters] = [
            ["CL_VW": 4, "CL_NV": 2, "CL_RP": 3, "CL_PF": 1, "CL_WG": 16, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 16, "CL_SO": 0],
            ["CL_VW": 8, "CL_NV": 1, "CL_RP": 3, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 4096, "CL_SO": 0],
            ["CL_VW": 4, "CL_NV": 1, "CL_RP": 3, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 4096, "CL_SO": 0,
             "CL_KT": 2, "CL_FRUN": 8],
            ["CL_VW": 4, "CL_NV": 2, "CL_RP": 2, "CL_PF": 1, "CL_WG": 16, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 16, "CL_SO": 0,
             "CL_KT": 4, "CL_FRUN": 8],
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

/// The strided 1×1 filter gradient under oclgrind, a class of its own for the reason above: in
/// KernelCheckTiledChannelsLastTests, after that class's other tests, the checker flagged the
/// filter kernel's first reads; alone it ran clean.
final class KernelCheckTiledChannelsLastStridedFilterTests: XCTestCase {
    /// The filter gradient of strided 1×1 layers, whose x is packed as its subsample (the
    /// pack's gathering 8 × 8 blocks and its partial ones), strides 2 × 3 and 2 × 2.
    func testChannelsLastStridedPointwiseFilterGradient() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let p: TunableParameters = ["CL_VW": 4, "CL_NV": 2, "CL_RP": 3, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0,
                                    "CL_FPIX": 16, "CL_SO": 1]
        let problems = [
            try Conv2DDescriptor(batch: 2, inChannels: 11, inH: 9, inW: 10, outChannels: 6, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 3),
            try Conv2DDescriptor(batch: 1, inChannels: 16, inH: 8, inW: 8, outChannels: 9, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2),
        ]
        let workspaces = try problems.map {
            try cl.allocate(cl.channelsLastWorkspaceCount($0, direction: .backwardFilter, parameters: p), dtype: .float32)
        }
        for (d, ws) in zip(problems, workspaces) {
            let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
            let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
            try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
            let DW = try cl.hostInitialized(d.weightCount)
            try cl.channelsLastBackwardFilter(d, x: try cl.makeBuffer(x), dy: try cl.makeBuffer(dy), dw: DW, workspace: ws,
                                              parameters: p)
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-4, "\(d.problemText) seed \(rng.seed)")
        }
    }
}
