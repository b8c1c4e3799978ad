@testable import CNNGPU
import XCTest

/// Runs every kernel of convolution.cl and reduction.cl on tiny shapes, without CLBlast,
/// so the oclgrind script can check them for out-of-bounds accesses and races. Results are
/// compared with the CPU backend, which shares no code with these kernels.
final class KernelCheckConvolutionTests: XCTestCase {
    func testIm2colAndCol2imGather() throws {
        let cl = try TestBackends.requireOpenCL()
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

    func testDirectConvolutionKernels() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        ConvolutionAlgorithm.forced = .direct
        defer { ConvolutionAlgorithm.forced = nil }
        let d = try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 5, inW: 4, outChannels: 2, kernelH: 3, kernelW: 2,
                                     strideH: 2, strideW: 1, padding: Padding2D(top: 1, bottom: 2, left: 0, right: 1),
                                     dilationH: 1, dilationW: 2, groups: 2)
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        var outputs: [[[Float]]] = []
        for b in [cl, cpu] as [any ConvolutionOps] {
            let X = try b.makeBuffer(x), W = try b.makeBuffer(w), DY = try b.makeBuffer(dy)
            let Y = try b.allocate(d.outputCount, dtype: .float32), DX = try b.allocate(d.inputCount, dtype: .float32)
            let DW = try b.allocate(d.weightCount, dtype: .float32)
            try b.convolutionForward(d, x: X, weight: W, bias: nil, y: Y)
            try b.convolutionBackwardData(d, dy: DY, weight: W, dx: DX)
            try b.convolutionBackwardFilter(d, x: X, dy: DY, dw: DW)
            outputs.append([try b.download(Y), try b.download(DX), try b.download(DW)])
        }
        for (i, name) in ["conv_direct_forward", "conv_direct_backward_data", "conv_direct_backward_filter"].enumerated() {
            assertClose(outputs[0][i], outputs[1][i], tolerance: 1e-5, "\(name) seed \(rng.seed)")
        }
    }

    func testPackAndUnpackImages() throws {
        let cl = try TestBackends.requireOpenCL()
        let (rows, length, images) = (3, 7, 2)
        // Images 1 and 2 of a batch of 3 go to offset 5 of the packed buffer and back.
        let x = (0..<(3 * rows * length)).map(Float.init)
        let X = try cl.makeBuffer(x)
        let packed = try cl.makeBuffer([Float](repeating: -1, count: 5 + rows * images * length))
        try cl.packImages(rows: rows, length: length, src: X, firstImage: 1, images: images, dst: packed, dstOffset: 5)
        var expected = [Float](repeating: -1, count: 5 + rows * images * length)
        for n in 0..<images {
            for r in 0..<rows {
                for i in 0..<length { expected[5 + (r * images + n) * length + i] = x[((1 + n) * rows + r) * length + i] }
            }
        }
        XCTAssertEqual(try cl.download(packed), expected)
        let back = try cl.makeBuffer([Float](repeating: -1, count: x.count))
        try cl.unpackImages(rows: rows, length: length, src: packed, srcOffset: 5, images: images, dst: back, firstImage: 1)
        XCTAssertEqual(try cl.download(back), [Float](repeating: -1, count: rows * length) + x[(rows * length)...])
    }

    func testAddBiasAndReduceSumAxis() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        // Several elements per work-item, and inner sizes below, at and above the work-group size.
        for s in [AxisShape(outer: 3, axis: 4, inner: 37), AxisShape(outer: 70, axis: 3, inner: 1),
                  AxisShape(outer: 2, axis: 2, inner: 64), AxisShape(outer: 2, axis: 1, inner: 100)] {
            let y = rng.floats(s.count), bias = rng.floats(s.axis)
            let Y = try cl.makeBuffer(y), B = try cl.makeBuffer(bias), out = try cl.allocate(s.axis, dtype: .float32)
            try cl.reduceSum(s, x: Y, out: out)
            try cl.addBias(s, bias: B, y: Y)
            assertClose(try cl.download(out), BiasReference.reduceSum(s, x: y.doubles), "seed \(rng.seed)")
            assertClose(try cl.download(Y), BiasReference.addBias(s, bias: bias.doubles, y: y.doubles), "seed \(rng.seed)")
        }
    }
}
