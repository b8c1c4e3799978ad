@testable import CNNGPU
import XCTest

/// Runs conv_fully_connected.cl's kernels on tiny shapes, so scripts/check-kernels.sh checks them
/// under oclgrind: rows ending in a partial vector, row and image tiles past the layer, reductions
/// split into chunks (partial sums and fc_reduce with the forward's epilogue, and without) and
/// not, work-groups of one and of sixteen (the forward's local-memory tree, runs of vectors past
/// the row). Compared with the CPU backend, which shares no code with the kernels.
final class KernelCheckFullyConnectedTests: XCTestCase {
    func testFullyConnectedKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        // 37 inputs: rows end in a partial vector (and in two 32-input chunks); 70 outputs: two
        // 64-row chunks.
        let d = try Conv2DDescriptor(batch: 3, inChannels: 37, inH: 1, inW: 1, outChannels: 70, kernelH: 1, kernelW: 1)
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        let b = rng.floats(d.outChannels)
        let CX = try cpu.makeBuffer(x), CW = try cpu.makeBuffer(w), CDY = try cpu.makeBuffer(dy)
        let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDX = try cpu.allocate(d.inputCount, dtype: .float32)
        let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
        try cpu.convolutionForward(d, x: CX, weight: CW, bias: try cpu.makeBuffer(b), y: CY)
        try cpu.activationForward(.relu, count: d.outputCount, x: CY, y: CY)
        try cpu.convolutionBackwardData(d, dy: CDY, weight: CW, dx: CDX)
        try cpu.convolutionBackwardFilter(d, x: CX, dy: CDY, dw: CDW)
        let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
        // The CPU defaults' 16-float vectors, one work-item a group, neither reduction split; then
        // 4-float vectors in work-groups of sixteen, both reductions in two chunks.
        let sets: [(TunableParameters, TunableParameters, TunableParameters)] = [
            (["FC_VW": 16, "FCF_KT": 3, "FCF_NB": 8, "FCF_CHUNK": 4096, "FCF_WG": 1],
             ["FC_VW": 16, "FCD_CT": 3, "FCD_NB": 8, "FCD_CHUNK": 16384, "FCD_WG": 1],
             ["FC_VW": 16, "FCW_KT": 8, "FCW_CT": 2, "FCW_WG": 1]),
            (["FC_VW": 4, "FCF_KT": 2, "FCF_NB": 2, "FCF_CHUNK": 8, "FCF_WG": 16],
             ["FC_VW": 4, "FCD_CT": 2, "FCD_NB": 2, "FCD_CHUNK": 64, "FCD_WG": 16],
             ["FC_VW": 4, "FCW_KT": 4, "FCW_CT": 2, "FCW_WG": 16]),
        ]
        for (pf, pd, pw) in sets {
            func workspace(_ direction: ConvolutionDirection, _ p: TunableParameters) throws -> (any DeviceBuffer)? {
                let count = cl.fullyConnectedWorkspaceCount(d, direction: direction, parameters: p)
                return count > 0 ? try cl.hostInitialized(count) : nil
            }
            let Y = try cl.hostInitialized(d.outputCount), DX = try cl.hostInitialized(d.inputCount)
            let DW = try cl.hostInitialized(d.weightCount)
            try cl.fullyConnectedForward(d, x: X, weight: W, bias: B, activation: .relu, y: Y,
                                         workspace: try workspace(.forward, pf), parameters: pf)
            try cl.fullyConnectedBackwardData(d, dy: DY, weight: W, dx: DX, workspace: try workspace(.backwardData, pd),
                                              parameters: pd)
            try cl.fullyConnectedBackwardFilter(d, x: X, dy: DY, dw: DW, parameters: pw)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "fc_forward \(pf) seed \(rng.seed)")
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5, "fc_backward_data \(pd) seed \(rng.seed)")
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-5, "fc_backward_filter \(pw) seed \(rng.seed)")
        }
    }
}
