@testable import CNNGPU
import XCTest

/// Runs every kernel of convolution.cl and reduction.cl once on tiny shapes, without CLBlast,
/// so the oclgrind script can check them for out-of-bounds accesses and races. Results are
/// compared with the CPU backend, which shares no code with these kernels.
final class KernelCheckConvolutionTests: XCTestCase {
    func testIm2colAndCol2imGather() throws {
        guard let cl = TestBackends.openCL else { return }
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        // Batch 3 as a chunk of 2 images starting at image 1: offsets are exercised too.
        let d = try Conv2DDescriptor(batch: 3, inChannels: 2, inH: 5, inW: 4, outChannels: 2, kernelH: 3, kernelW: 2,
                                     strideH: 2, strideW: 1, padding: Padding2D(top: 1, bottom: 2, left: 0, right: 1),
                                     dilationH: 1, dilationW: 2)
        let x = rng.floats(d.inputCount)
        let colCount = 2 * d.columnsPerImage
        let col = rng.floats(colCount)
        var outputs: [([Float], [Float])] = []
        for b in [cl, cpu] as [any Im2ColConvolution] {
            let X = try b.makeBuffer(x), C = try b.makeBuffer([Float](repeating: 9, count: colCount))
            try b.im2col(d, x: X, firstImage: 1, images: 2, col: C)
            let DC = try b.makeBuffer(col), DX = try b.makeBuffer([Float](repeating: 9, count: d.inputCount))
            try b.col2im(d, col: DC, images: 2, dx: DX, firstImage: 1)
            outputs.append((try b.download(C), try b.download(DX)))
        }
        assertClose(outputs[0].0, outputs[1].0, tolerance: 0, "im2col seed \(rng.seed)")
        assertClose(outputs[0].1, outputs[1].1, tolerance: 1e-6, "col2im_gather seed \(rng.seed)")
        XCTAssertEqual(Array(outputs[0].1[0..<(d.inputCount / 3)]), [Float](repeating: 9, count: d.inputCount / 3),
                       "col2im_gather wrote outside its images")
    }

    func testAddBiasAndReduceSumAxis() throws {
        guard let cl = TestBackends.openCL else { return }
        var rng = SeededGenerator.fresh()
        let s = AxisShape(outer: 3, axis: 4, inner: 37)   // 111 elements per entry: several per work-item
        let y = rng.floats(s.count), bias = rng.floats(s.axis)
        let Y = try cl.makeBuffer(y), B = try cl.makeBuffer(bias), out = try cl.allocate(s.axis, dtype: .float32)
        try cl.reduceSum(s, x: Y, out: out)
        try cl.addBias(s, bias: B, y: Y)
        assertClose(try cl.download(out), BiasReference.reduceSum(s, x: y.doubles), "seed \(rng.seed)")
        assertClose(try cl.download(Y), BiasReference.addBias(s, bias: bias.doubles, y: y.doubles), "seed \(rng.seed)")
    }
}
