@testable import CNNGPU
import XCTest

/// Runs conv_pointwise.cl's kernel on tiny shapes, so scripts/check-kernels.sh checks it under
/// oclgrind: a partial output-channel block, a plane whose last pixel block holds one vector of
/// two, planes ending in a partial vector, work-groups wider than the blocks, both launch
/// orders, forward (bias, ReLU) and backward data. Results are compared with the CPU backend, which shares no code with the kernel.
final class KernelCheckPointwiseTests: XCTestCase {
    func testPointwiseKernel() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 3, inW: 4, outChannels: 5, kernelH: 1, kernelW: 1)
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        let b = rng.floats(d.outChannels)
        let CX = try cpu.makeBuffer(x), CW = try cpu.makeBuffer(w), CDY = try cpu.makeBuffer(dy)
        let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDX = try cpu.allocate(d.inputCount, dtype: .float32)
        try cpu.convolutionForward(d, x: CX, weight: CW, bias: try cpu.makeBuffer(b), y: CY)
        try cpu.activationForward(.relu, count: d.outputCount, x: CY, y: CY)
        try cpu.convolutionBackwardData(d, dy: CDY, weight: CW, dx: CDX)
        let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
        for p: TunableParameters in [["PW_VW": 4, "PW_KT": 4, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 8],
                                     ["PW_VW": 4, "PW_KT": 2, "PW_NP": 2, "PW_KFIRST": 0, "PW_WG": 8],
                                     // 12 pixels: a whole vector and a partial one; one partial.
                                     ["PW_VW": 8, "PW_KT": 2, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 8],
                                     ["PW_VW": 16, "PW_KT": 4, "PW_NP": 1, "PW_KFIRST": 0, "PW_WG": 8]] {
            let Y = try cl.hostInitialized(d.outputCount), DX = try cl.hostInitialized(d.inputCount)
            try cl.pointwiseForward(d, x: X, weight: W, bias: B, activation: .relu, y: Y, parameters: p)
            try cl.pointwiseBackwardData(d, dy: DY, weight: W, dx: DX, parameters: p)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "conv_pointwise \(p) seed \(rng.seed)")
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5,
                        "conv_pointwise (transposed weights) \(p) seed \(rng.seed)")
        }
    }
}

/// Runs conv_pointwise_filter.cl's kernels on a tiny shape under oclgrind: partial tiles, a
/// chunk ending inside a plane (partial sums and the second pass) and the whole batch in one
/// chunk, work-groups of one and of eight (the local-memory tree). Compared with the CPU backend.
final class KernelCheckPointwiseFilterTests: XCTestCase {
    func testPointwiseFilterKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 3, inW: 4, outChannels: 5, kernelH: 1, kernelW: 1)
        let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
        let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
        try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
        let X = try cl.makeBuffer(x), DY = try cl.makeBuffer(dy)
        for p: TunableParameters in [["PWF_VW": 4, "PWF_KT": 2, "PWF_CT": 2, "PWF_CHUNK": 8, "PWF_WG": 1],
                                     ["PWF_VW": 1, "PWF_KT": 4, "PWF_CT": 2, "PWF_CHUNK": 8, "PWF_WG": 8],
                                     ["PWF_VW": 4, "PWF_KT": 2, "PWF_CT": 4, "PWF_CHUNK": 1024, "PWF_WG": 8]] {
            let count = cl.pointwiseFilterWorkspaceCount(d, parameters: p)
            let workspace = count > 0 ? try cl.hostInitialized(count) : nil
            let DW = try cl.hostInitialized(d.weightCount)
            try cl.pointwiseBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: workspace, parameters: p)
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-5, "conv_pointwise_filter \(p) seed \(rng.seed)")
        }
    }
}
