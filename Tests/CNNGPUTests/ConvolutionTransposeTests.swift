@testable import CNNGPU
import XCTest

/// Transposed convolution (the conveniences in Backend+Conveniences) against a direct
/// reference of PyTorch's ConvTranspose2d, and its gradients by finite differences.
final class ConvolutionTransposeTests: XCTestCase {
    struct Case {
        let name: String
        let t: ConvTranspose2DDescriptor
        let inC: Int, outC: Int
    }

    static func cases() throws -> [Case] {
        func c(_ name: String, batch: Int = 2, inC: Int = 3, h: Int = 4, w: Int = 3, outC: Int = 2,
               k: (Int, Int) = (3, 3), stride: (Int, Int) = (2, 2), padding: Padding2D = .zero,
               outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Case {
            Case(name: name, t: try ConvTranspose2DDescriptor(
                batch: batch, inChannels: inC, inH: h, inW: w, outChannels: outC, kernelH: k.0, kernelW: k.1,
                strideH: stride.0, strideW: stride.1, padding: padding, outputPaddingH: outputPadding.0,
                outputPaddingW: outputPadding.1, dilationH: dilation.0, dilationW: dilation.1, groups: groups),
                 inC: inC, outC: outC)
        }
        return [
            try c("stride 1", stride: (1, 1)),
            try c("stride 2 pad 1 output padding 1", padding: Padding2D(1), outputPadding: (1, 1)),
            try c("stride 2 kernel 2 (U-Net upsampling)", batch: 3, k: (2, 2)),
            try c("groups 2 stride (2,1) output padding (1,0)", inC: 4, outC: 6, k: (2, 3), stride: (2, 1),
                  outputPadding: (1, 0), groups: 2),
            try c("dilation 2 stride 2 pad 1", h: 3, padding: Padding2D(1), outputPadding: (1, 1), dilation: (2, 2)),
            try c("asymmetric padding", stride: (2, 2), padding: Padding2D(top: 1, bottom: 0, left: 0, right: 2),
                  outputPadding: (1, 0)),
            try c("depthwise", inC: 3, outC: 3, stride: (2, 2), padding: Padding2D(1), groups: 3),
        ]
    }

    func reference(_ c: Case, x: [Double], w: [Double], bias: [Double]?) -> [Double] {
        let d = c.t.conv
        return ConvolutionReference.transposeForward(
            batch: d.batch, inC: c.inC, inH: d.outH, inW: d.outW, outC: c.outC, outH: c.t.outH, outW: c.t.outW,
            kernelH: d.kernelH, kernelW: d.kernelW, strideH: d.strideH, strideW: d.strideW,
            padTop: d.padding.top, padLeft: d.padding.left, dilationH: d.dilationH, dilationW: d.dilationW,
            groups: d.groups, x: x, w: w, bias: bias)
    }

    func testOutputSizeFollowsPyTorch() throws {
        let t = try ConvTranspose2DDescriptor(batch: 1, inChannels: 1, inH: 5, inW: 4, outChannels: 1, kernelH: 3,
                                              kernelW: 3, strideH: 2, strideW: 2, padding: Padding2D(1),
                                              outputPaddingH: 1, outputPaddingW: 0)
        // (in - 1)·stride - 2·pad + dilation·(k - 1) + output padding + 1
        XCTAssertEqual(t.outH, 4 * 2 - 2 + 2 + 1 + 1)
        XCTAssertEqual(t.outW, 3 * 2 - 2 + 2 + 0 + 1)
    }

    func testForwardAndGradientsOnEveryBackend() throws {
        var rng = SeededGenerator.fresh()
        for c in try Self.cases() {
            let t = c.t
            let x = rng.floats(t.inputCount).doubles, w = rng.floats(t.weightCount).doubles
            let bias = rng.floats(c.outC).doubles, dy = rng.floats(t.outputCount).doubles
            let y = reference(c, x: x, w: w, bias: bias)
            let fdx = finiteDifferenceGradient(at: x, weights: dy) { self.reference(c, x: $0, w: w, bias: bias) }
            let fdw = finiteDifferenceGradient(at: w, weights: dy) { self.reference(c, x: x, w: $0, bias: bias) }
            let fdb = finiteDifferenceGradient(at: bias, weights: dy) { self.reference(c, x: x, w: w, bias: $0) }
            var results: [[[Float]]] = []
            for b in TestBackends.conforming((any ConvolutionOps & BiasOps).self) {
                let m = "\(b.testName) \(c.name) seed \(rng.seed)"
                let X = try b.makeBuffer(x.map(Float.init)), W = try b.makeBuffer(w.map(Float.init))
                let B = try b.makeBuffer(bias.map(Float.init)), DY = try b.makeBuffer(dy.map(Float.init))
                let Y = try b.makeBuffer([Float](repeating: 3, count: t.outputCount))
                let DX = try b.makeBuffer([Float](repeating: 3, count: t.inputCount))
                let DW = try b.makeBuffer([Float](repeating: 3, count: t.weightCount))
                let DB = try b.makeBuffer([Float](repeating: 3, count: c.outC))
                try b.convolutionTransposeForward(t, x: X, weight: W, bias: B, y: Y)
                try b.convolutionTransposeBackwardData(t, dy: DY, weight: W, dx: DX)
                try b.convolutionTransposeBackwardFilter(t, x: X, dy: DY, dw: DW)
                try b.convolutionTransposeBackwardBias(t, dy: DY, db: DB)
                let r = [try b.download(Y), try b.download(DX), try b.download(DW), try b.download(DB)]
                assertClose(r[0], y, "forward \(m)")
                assertClose(r[1], fdx, "dx vs finite differences \(m)")
                assertClose(r[2], fdw, "dw vs finite differences \(m)")
                assertClose(r[3], fdb, "db vs finite differences \(m)")
                results.append(r)
            }
            if results.count == 2 {
                for (i, name) in ["y", "dx", "dw", "db"].enumerated() {
                    assertClose(results[1][i], results[0][i], tolerance: 1e-5, "\(name) OpenCL vs CPU \(c.name) seed \(rng.seed)")
                }
            }
        }
        try TestBackends.skipUnlessCrossChecked()
    }

    func testBadDescriptorsAreTypedErrors() throws {
        func make(h: Int = 4, k: Int = 3, stride: Int = 2, padding: Int = 0, outputPadding: Int = 0,
                  inC: Int = 2, outC: Int = 2, groups: Int = 1) throws {
            _ = try ConvTranspose2DDescriptor(batch: 1, inChannels: inC, inH: h, inW: h, outChannels: outC,
                                              kernelH: k, kernelW: k, strideH: stride, strideW: stride,
                                              padding: Padding2D(padding), outputPaddingH: outputPadding,
                                              outputPaddingW: outputPadding, groups: groups)
        }
        XCTAssertNoThrow(try make(outputPadding: 1))
        assertThrowsCNNError({ try make(outputPadding: 2) }, "output padding not smaller than the stride")
        assertThrowsCNNError({ try make(outputPadding: -1) }, "negative output padding")
        assertThrowsCNNError({ try make(h: 0) }, "zero input")
        assertThrowsCNNError({ try make(k: 0) }, "zero kernel")
        assertThrowsCNNError({ try make(stride: 0) }, "zero stride")
        assertThrowsCNNError({ try make(h: 1, k: 1, stride: 1, padding: 1) }, "padding eats the whole output")
        assertThrowsCNNError({ try make(inC: 3, outC: 2, groups: 2) }, "groups not dividing channels")
    }
}
