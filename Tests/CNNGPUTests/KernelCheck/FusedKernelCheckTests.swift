@testable import CNNGPU
import XCTest

/// Runs the fused epilogues of convolution.cl, batchnorm.cl and elementwise.cl on tiny shapes,
/// without CLBlast, so the oclgrind script checks them too. Results are compared with the CPU
/// backend, which shares no code with these kernels. Outputs are `hostInitialized` (see there why).
final class KernelCheckFusedTests: XCTestCase {
    func testConvolutionEpilogues() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 3, inChannels: 2, inH: 5, inW: 4, outChannels: 3, kernelH: 3, kernelW: 2,
                                     strideH: 2, padding: Padding2D(top: 1, bottom: 0, left: 1, right: 0))
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
        let y0 = rng.floats(d.outputCount), packedChunk = rng.floats(2 * d.outChannels * d.outPixels)
        var outputs: [[[Float]]] = []
        for b in [cl, cpu] as [any Backend & Im2ColConvolution] {
            let X = try b.makeBuffer(x), W = try b.makeBuffer(w), B = try b.makeBuffer(bias)
            let Y = try b.hostInitialized(d.outputCount)
            try b.encodeConvolutionForward(d, x: X, weight: W, bias: B, activation: .leakyReLU(alpha: 0.2), y: Y,
                                           solution: ConvolutionSolution(.direct), workspace: nil)
            // The im2col path's epilogue kernel alone, on images 1 and 2 (CLBlast stays out).
            let E = try b.makeBuffer(y0)
            try b.convolutionEpilogue(d, bias: B, activation: .elu(alpha: 0.5), y: E, firstImage: 1, images: 2)
            // unpack_images with the epilogue: images 1 and 2 from a packed [C, 2·P] chunk.
            let packed = try b.makeBuffer(packedChunk), U = try b.makeBuffer(y0)
            try b.unpackImages(rows: d.outChannels, length: d.outPixels, src: packed, srcOffset: 0, images: 2,
                               dst: U, firstImage: 1, bias: B, activation: .tanh)
            outputs.append([try b.download(Y), try b.download(E), try b.download(U)])
        }
        assertClose(outputs[0][0], outputs[1][0], tolerance: 1e-5, "conv_direct_forward epilogue seed \(rng.seed)")
        assertClose(outputs[0][1], outputs[1][1], tolerance: 1e-6, "bias_activation seed \(rng.seed)")
        assertClose(outputs[0][2], outputs[1][2], tolerance: 1e-6, "unpack_images epilogue seed \(rng.seed)")
        let firstImage = d.outputCount / d.batch
        XCTAssertEqual(Array(outputs[0][1][0..<firstImage]), Array(y0[0..<firstImage]), "bias_activation wrote outside its images")
    }

    func testBatchNormReLUAndAddActivation() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let shape = AxisShape(outer: 2, axis: 3, inner: 5)
        let x = rng.floats(shape.count), dy = rng.floats(shape.count), gamma = rng.floats(3, in: 0.5...1.5)
        let beta = rng.floats(3)
        var outputs: [[[Float]]] = []
        for b in [cl, cpu] as [any Backend] {
            let X = try b.makeBuffer(x), DY = try b.makeBuffer(dy), G = try b.makeBuffer(gamma), B = try b.makeBuffer(beta)
            let Y = try b.hostInitialized(shape.count), YI = try b.hostInitialized(shape.count)
            let RM = try b.makeBuffer([0, 0, 0]), RV = try b.makeBuffer([1, 1, 1])
            let M = try b.hostInitialized(3), S = try b.hostInitialized(3)
            try b.batchNormForwardTraining(shape, x: X, gamma: G, beta: B, y: Y, runningMean: RM, runningVar: RV,
                                           momentum: 0.1, epsilon: 1e-5, savedMean: M, savedInvStd: S, relu: true)
            try b.batchNormForwardInference(shape, x: X, gamma: G, beta: B, runningMean: RM, runningVar: RV,
                                            epsilon: 1e-5, y: YI, relu: true)
            let DX = try b.hostInitialized(shape.count)
            let DG = try b.hostInitialized(3), DB = try b.hostInitialized(3)
            try b.batchNormReLUBackward(shape, x: X, y: Y, dy: DY, gamma: G, savedMean: M, savedInvStd: S,
                                        dx: DX, dGamma: DG, dBeta: DB)
            // With β: batchnorm.cl recomputes the mask from x (relu mode 2).
            let DX2 = try b.hostInitialized(shape.count)
            let DG2 = try b.hostInitialized(3), DB2 = try b.hostInitialized(3)
            try b.batchNormReLUBackward(shape, x: X, y: Y, dy: DY, gamma: G, beta: B, savedMean: M, savedInvStd: S,
                                        dx: DX2, dGamma: DG2, dBeta: DB2)
            let SUM = try b.hostInitialized(shape.count)
            try b.add(count: shape.count, a: X, b: DY, out: SUM, activation: .sigmoid)
            outputs.append([try b.download(Y), try b.download(YI), try b.download(DX), try b.download(DG),
                            try b.download(DB), try b.download(SUM), try b.download(DX2), try b.download(DG2),
                            try b.download(DB2)])
        }
        for (i, name) in ["normalize", "inference", "backward dx", "dGamma", "dBeta", "add", "backward dx (β)",
                          "dGamma (β)", "dBeta (β)"].enumerated() {
            assertClose(outputs[0][i], outputs[1][i], tolerance: 1e-5, "\(name) seed \(rng.seed)")
        }
    }
}
