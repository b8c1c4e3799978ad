@testable import CNNGPU
import XCTest

/// Runs every kernel of conv_channels_last.cl on tiny shapes, so scripts/check-kernels.sh checks
/// them under oclgrind for out-of-bounds accesses and uninitialized reads: the pack's whole 8 × 8
/// blocks and its partial last blocks (12 channels, 5 × 7 pixels), padding taps (the zero
/// pointer), a partial register tile (5 output channels), a partial last pixel block, both
/// launch orders, the input read in place and through its copy, work-groups larger than the
/// blocks, the input gradient's adjoint weights, and the filter gradient with its runs padded to
/// whole tiles (12 input channels in tiles of 3 and 5), taps in the padding skipped, in 5 slices
/// of two rows or one slice of all; and the input gradients of a 3×3 stride-2 layer (four
/// phases of 1, 2 and 4 taps) and a 1×1 stride-2 layer (one phase, three filled with zeros).
/// Results are compared with the CPU
/// backend, which shares no code with these kernels. The workspaces start uninitialized, so
/// the checker also sees that the pack and weight kernels write everything the convolution reads.
/// Named to sort after KernelCheckLossTests (see KernelCheckTiledImplicitGEMMTests).
final class KernelCheckTiledChannelsLastTests: XCTestCase {
    func testChannelsLastKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 12, inH: 5, inW: 7, outChannels: 5, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1))
        let sets: [TunableParameters] = [
            ["CL_VW": 4, "CL_NV": 1, "CL_RP": 3, "CL_PF": 1, "CL_WG": 16, "CL_PWG": 8, "CL_NCHW": 0, "CL_FPIX": 16, "CL_SO": 0],
            ["CL_VW": 4, "CL_NV": 2, "CL_RP": 5, "CL_PF": 0, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 4096, "CL_SO": 1],
        ]
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        let b = rng.floats(d.outChannels)
        let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDX = try cpu.allocate(d.inputCount, dtype: .float32)
        let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
        try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
        try cpu.convolutionForward(d, x: try cpu.makeBuffer(x), weight: try cpu.makeBuffer(w), bias: try cpu.makeBuffer(b), y: CY)
        try cpu.convolutionBackwardData(d, dy: try cpu.makeBuffer(dy), weight: try cpu.makeBuffer(w), dx: CDX)
        let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
        // Every workspace allocated before any kernel runs: oclgrind's uninitialized-value
        // checker flagged reads of a second parameter set's freshly written workspace when the
        // first set's had been freed in between (either order; each set alone ran clean).
        let workspaces = try sets.map { p in
            (try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .forward, parameters: p), dtype: .float32),
             try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .backwardData, parameters: p), dtype: .float32),
             try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .backwardFilter, parameters: p), dtype: .float32))
        }
        for (p, (forwardWS, dataWS, filterWS)) in zip(sets, workspaces) {
            let Y = try cl.hostInitialized(d.outputCount), DX = try cl.hostInitialized(d.inputCount)
            let DW = try cl.hostInitialized(d.weightCount)
            try cl.channelsLastForward(d, x: X, weight: W, bias: B, activation: nil, y: Y, workspace: forwardWS, parameters: p)
            try cl.channelsLastBackwardData(d, dy: DY, weight: W, dx: DX, workspace: dataWS, parameters: p)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "forward \(p) seed \(rng.seed)")
            try cl.channelsLastBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: filterWS, parameters: p)
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5, "backward data \(p) seed \(rng.seed)")
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-4, "backward filter \(p) seed \(rng.seed)")
        }
    }

    func testChannelsLastStridedInputGradient() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let p: TunableParameters = ["CL_VW": 4, "CL_NV": 2, "CL_RP": 3, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0,
                                    "CL_FPIX": 512, "CL_SO": 1]
        let problems = [
            try Conv2DDescriptor(batch: 2, inChannels: 6, inH: 7, inW: 6, outChannels: 5, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 1, inChannels: 9, inH: 5, inW: 7, outChannels: 10, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2),
        ]
        // Both workspaces allocated before any kernel runs (see testChannelsLastKernels): with the
        // first freed in between, the checker flagged the second's freshly packed reads on a
        // Zen 5 machine, each problem alone clean.
        let workspaces = try problems.map {
            try cl.allocate(cl.channelsLastWorkspaceCount($0, direction: .backwardData, parameters: p), dtype: .float32)
        }
        for (d, ws) in zip(problems, workspaces) {
            let w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
            let CDX = try cpu.allocate(d.inputCount, dtype: .float32)
            try cpu.convolutionBackwardData(d, dy: try cpu.makeBuffer(dy), weight: try cpu.makeBuffer(w), dx: CDX)
            let DX = try cl.hostInitialized(d.inputCount)
            try cl.channelsLastBackwardData(d, dy: try cl.makeBuffer(dy), weight: try cl.makeBuffer(w), dx: DX, workspace: ws,
                                            parameters: p)
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5, "\(d.problemText) seed \(rng.seed)")
        }
    }
}
