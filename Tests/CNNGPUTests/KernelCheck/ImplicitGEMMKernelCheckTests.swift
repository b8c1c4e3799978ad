@testable import CNNGPU
import XCTest

/// Runs every kernel of conv_implicit_gemm.cl on tiny shapes with partial tiles along every
/// axis, so scripts/check-kernels.sh checks them under oclgrind for out-of-bounds accesses,
/// races on the __local tiles and uninitialized reads. Results are compared with the CPU
/// backend, which shares no code with these kernels.
/// Named to run after the older KernelCheck classes: oclgrind 21.10 hands a released buffer's
/// uninitialized-memory shadow to the next buffer with its id (see hostInitialized), and this
/// class's buffers, released before KernelCheckLossTests' internal scratch buffers are made,
/// made that class report uninitialized reads of values its kernels had written.
final class KernelCheckTiledImplicitGEMMTests: XCTestCase {
    /// Small tiles keep oclgrind fast. 16×64 with 2×4 per item (float4 columns) still has 128
    /// work-items; the CPU-style set has 4 work-items of 8×16 (float8), fewer than the k step,
    /// so each fills several rows of the staged tiles.
    let tileSets: [TunableParameters] = [
        ["TM": 16, "TN": 64, "TK": 16, "WPT_M": 2, "WPT_N": 4, "VW": 4],
        ["TM": 16, "TN": 32, "TK": 16, "WPT_M": 8, "WPT_N": 16, "VW": 8],
    ]

    func testImplicitGEMMKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let problems = [
            try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 5, inW: 4, outChannels: 6, kernelH: 3, kernelW: 2,
                                 strideH: 2, strideW: 1, padding: Padding2D(top: 1, bottom: 2, left: 0, right: 1),
                                 dilationH: 1, dilationW: 2, groups: 2),
            // 1×1 takes the KERNEL_1X1 builds of the forward and filter-gradient kernels.
            try Conv2DDescriptor(batch: 3, inChannels: 5, inH: 3, inW: 5, outChannels: 3, kernelH: 1, kernelW: 1),
            // Stride 2, 1×1: the input gradient's stride phases (conv_igemm_backward_data_phase),
            // three of them without taps (written as zeros), phase rows of 5 holding a float4 chunk.
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 5, inW: 9, outChannels: 4, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2),
            // Rows of 10: whole float4 and float8 chunks take the vector loads and stores.
            try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 3, inW: 10, outChannels: 3, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
        ]
        // The forward's epilogue has one loop per activation kind: none, ReLU, and the rest.
        let activations: [Activation?] = [.leakyReLU(alpha: 0.2), nil, .relu]
        for (i, (d, tiles)) in problems.flatMap({ d in tileSets.map { (d, $0) } }).enumerated() {
            let activation = activations[i % activations.count]
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
            let b = rng.floats(d.outChannels)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), B = try cl.makeBuffer(b)
            let Y = try cl.hostInitialized(d.outputCount), DX = try cl.hostInitialized(d.inputCount)
            let DW = try cl.hostInitialized(d.weightCount)
            try cl.implicitGEMMForward(d, x: X, weight: W, bias: B, activation: activation, y: Y,
                                       parameters: tiles)
            // The transposed weights (WT=1; per stride phase for the strided layers): every element
            // written before the GEMM reads it; the gathering path (WT=0) must give the same dx.
            let transposed = tiles.merging(["WT": 1]) { $1 }
            let WT = try cl.hostInitialized(max(1, cl.implicitGEMMWorkspaceCount(d, direction: .backwardData, parameters: transposed)))
            let GDX = try cl.hostInitialized(d.inputCount)
            try cl.implicitGEMMBackwardData(d, dy: DY, weight: W, dx: GDX, workspace: nil, parameters: tiles.merging(["WT": 0]) { $1 })
            try cl.implicitGEMMBackwardData(d, dy: DY, weight: W, dx: DX, workspace: WT, parameters: transposed)
            assertClose(try cl.download(GDX), try cl.download(DX), tolerance: 1e-5, "gathered vs transposed weights \(d)")
            let split = tiles.merging(["KSPLIT": 2]) { $1 }
            let WS = try cl.hostInitialized(cl.implicitGEMMWorkspaceCount(d, direction: .backwardFilter, parameters: split))
            try cl.implicitGEMMBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: WS, parameters: split)

            let CX = try cpu.makeBuffer(x), CW = try cpu.makeBuffer(w), CDY = try cpu.makeBuffer(dy)
            let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDX = try cpu.allocate(d.inputCount, dtype: .float32)
            let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
            try cpu.convolutionForward(d, x: CX, weight: CW, bias: try cpu.makeBuffer(b), y: CY)
            if let activation { try cpu.activationForward(activation, count: d.outputCount, x: CY, y: CY) }
            try cpu.convolutionBackwardData(d, dy: CDY, weight: CW, dx: CDX)
            try cpu.convolutionBackwardFilter(d, x: CX, dy: CDY, dw: CDW)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "conv_igemm_forward \(d) seed \(rng.seed)")
            assertClose(try cl.download(DX), try cpu.download(CDX), tolerance: 1e-5,
                        "conv_igemm_backward_data \(d) seed \(rng.seed)")
            assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-5,
                        "conv_igemm_backward_filter + reduce_splits \(d) tiles \(tiles) seed \(rng.seed)")
        }
    }
}

/// Runs the transforms of conv_winograd_f2x3.cl under the checker. The GEMM between them is
/// CLBlast's, which check-kernels.sh keeps out of oclgrind, so the test composes the pipeline
/// from the transform kernels and a host GEMM on the downloaded V.
final class KernelCheckWinogradTests: XCTestCase {
    func testWinogradTransforms() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 5, inW: 6, outChannels: 2, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(top: 1, bottom: 0, left: 1, right: 1))
        let (th, tw) = ((d.outH + 1) / 2, (d.outW + 1) / 2)
        let tiles = d.batch * th * tw
        let (k, c) = (d.outChannels, d.inChannels)
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(k)
        let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b)
        let U = try cl.hostInitialized(16 * k * c), V = try cl.hostInitialized(3 + 16 * c * tiles)
        try cl.launch("conv_winograd_f2x3", "winograd_weight_transform", global: [k * c], local: nil,
                      [.int(k), .int(c), .int(0), .buffer(W), .buffer(U)])
        try cl.launch("conv_winograd_f2x3", "winograd_input_transform", global: [tiles, c], local: nil,
                      [.int(d.batch), .int(c), .int(d.inH), .int(d.inW), .int(1), .int(1), .int(th), .int(tw),
                       .buffer(X), .buffer(V), .int(3)])
        let u = try cl.download(U), v = try cl.download(V)
        var m = [Float](repeating: 0, count: 5 + 16 * k * tiles)
        for xi in 0..<16 {
            for o in 0..<k {
                for p in 0..<tiles {
                    var s: Float = 0
                    for i in 0..<c { s += u[(xi * k + o) * c + i] * v[3 + (xi * c + i) * tiles + p] }
                    m[5 + (xi * k + o) * tiles + p] = s
                }
            }
        }
        let M = try cl.makeBuffer(m), Y = try cl.hostInitialized(d.outputCount)
        try cl.launch("conv_winograd_f2x3", "winograd_output_transform", global: [tiles, k], local: nil,
                      [.int(d.batch), .int(k), .int(d.outH), .int(d.outW), .int(th), .int(tw), .buffer(M), .int(5),
                       .buffer(B), .int(1), .int(-1), .float(0), .buffer(Y)])
        let expected = ConvolutionReference.forward(d, x: x.map(Double.init), w: w.map(Double.init), bias: b.map(Double.init))
        assertClose(try cl.download(Y), expected, tolerance: 2e-5, "Winograd transforms seed \(rng.seed)")
        // The flipped weight transform (backward data) on the same kernel.
        try cl.launch("conv_winograd_f2x3", "winograd_weight_transform", global: [k * c], local: nil,
                      [.int(c), .int(k), .int(1), .buffer(W), .buffer(U)])
        XCTAssertEqual(try cl.download(U).count, 16 * k * c)
    }
}
