@testable import CNNGPU
import XCTest

typealias ConvBackend = any ConvolutionOps & BiasOps

/// One convolution problem of the test matrix.
struct ConvCase {
    let name: String
    let d: Conv2DDescriptor
}

/// What one backend computed for one case: forward with bias, and the three gradients.
struct ConvResults {
    var y: [Float], dx: [Float], dw: [Float], db: [Float]
}

final class ConvolutionTests: XCTestCase {
    static func cases() throws -> [ConvCase] {
        func c(_ name: String, batch: Int = 3, inC: Int = 3, h: Int = 7, w: Int = 5, outC: Int = 4,
               k: (Int, Int) = (3, 3), stride: (Int, Int) = (1, 1), padding: Padding2D = .zero,
               dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> ConvCase {
            ConvCase(name: name, d: try Conv2DDescriptor(
                batch: batch, inChannels: inC, inH: h, inW: w, outChannels: outC, kernelH: k.0, kernelW: k.1,
                strideH: stride.0, strideW: stride.1, padding: padding, dilationH: dilation.0,
                dilationW: dilation.1, groups: groups))
        }
        return [
            try c("3x3 pad 1", padding: Padding2D(1)),
            try c("3x3 no padding"),
            try c("stride 2 pad 1", stride: (2, 2), padding: Padding2D(1)),
            try c("dilation 2", batch: 2, outC: 2, padding: Padding2D(2), dilation: (2, 2)),
            try c("stride 2 dilation 3", batch: 2, outC: 2, stride: (2, 2), padding: Padding2D(3), dilation: (3, 3)),
            try c("stride 3 dilation 2", batch: 2, h: 9, outC: 2, stride: (3, 3), padding: Padding2D(h: 2, w: 1), dilation: (2, 2)),
            try c("groups 3", inC: 6, outC: 9, stride: (2, 1), padding: Padding2D(1), groups: 3),
            try c("depthwise", outC: 3, padding: Padding2D(1), groups: 3),
            try c("depthwise multiplier 2 stride 2", outC: 6, stride: (2, 2), padding: Padding2D(1), groups: 3),
            try c("asymmetric padding 2x3", k: (2, 3), stride: (1, 2),
                  padding: Padding2D(top: 0, bottom: 2, left: 1, right: 0)),
            try c("same stride 2", stride: (2, 2),
                  padding: .same(inputH: 7, inputW: 5, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)),
            try c("same dilation 2 even kernel", k: (4, 2),
                  padding: .same(inputH: 7, inputW: 5, kernelH: 4, kernelW: 2, dilationH: 2, dilationW: 2),
                  dilation: (2, 2)),
            try c("1x1 pointwise", outC: 5, k: (1, 1)),
            try c("1x1 pointwise groups 3", inC: 6, outC: 3, k: (1, 1), groups: 3),
            try c("1x1 pointwise, more groups than images", batch: 2, inC: 6, outC: 6, k: (1, 1), groups: 6),
            try c("1x1 stride 2", k: (1, 1), stride: (2, 2)),
            try c("1x1 padded", batch: 2, outC: 2, k: (1, 1), padding: Padding2D(1)),
            try c("3x1 stride (1,2) dilation (2,1)", outC: 2, k: (3, 1), stride: (1, 2), padding: Padding2D(h: 1, w: 0),
                  dilation: (2, 1)),
            try c("kernel covers the input", inC: 2, h: 4, w: 3, outC: 3, k: (4, 3)),
            try c("padding wider than the kernel", batch: 2, outC: 2, padding: Padding2D(top: 3, bottom: 2, left: 0, right: 3)),
            try c("batch 1, 5x5 kernel, stride 3", batch: 1, h: 11, w: 9, outC: 2, k: (5, 5), stride: (3, 3),
                  padding: Padding2D(2)),
        ]
    }

    /// Runs forward (with bias) and every backward pass of `d` on `b`. Outputs start as
    /// garbage, so a pass that accumulates instead of overwriting shows up.
    static func run(_ b: ConvBackend, _ d: Conv2DDescriptor, x: [Float], w: [Float], bias: [Float],
                    dy: [Float]) throws -> ConvResults {
        let X = try b.makeBuffer(x), W = try b.makeBuffer(w), B = try b.makeBuffer(bias), DY = try b.makeBuffer(dy)
        let Y = try b.makeBuffer([Float](repeating: 3, count: d.outputCount))
        let DX = try b.makeBuffer([Float](repeating: 3, count: d.inputCount))
        let DW = try b.makeBuffer([Float](repeating: 3, count: d.weightCount))
        let DB = try b.makeBuffer([Float](repeating: 3, count: d.outChannels))
        try b.convolutionForward(d, x: X, weight: W, bias: B, y: Y)
        try b.convolutionBackwardData(d, dy: DY, weight: W, dx: DX)
        try b.convolutionBackwardFilter(d, x: X, dy: DY, dw: DW)
        try b.convolutionBackwardBias(d, dy: DY, db: DB)
        return ConvResults(y: try b.download(Y), dx: try b.download(DX), dw: try b.download(DW), db: try b.download(DB))
    }

    /// Forward (with bias) and the three backward passes of `d` in Double.
    static func reference(_ d: Conv2DDescriptor, x: [Float], w: [Float], bias: [Float], dy: [Float])
        -> (y: [Double], dx: [Double], dw: [Double], db: [Double]) {
        (ConvolutionReference.forward(d, x: x.doubles, w: w.doubles, bias: bias.doubles),
         ConvolutionReference.backwardData(d, dy: dy.doubles, w: w.doubles),
         ConvolutionReference.backwardFilter(d, x: x.doubles, dy: dy.doubles),
         ConvolutionReference.backwardBias(batch: d.batch, channels: d.outChannels, spatial: d.outH * d.outW, dy: dy.doubles))
    }

    func testEveryCaseAgainstReferenceOnEveryBackend() throws {
        var rng = SeededGenerator.fresh()
        let backends = TestBackends.conforming((any ConvolutionOps & BiasOps).self)
        for c in try Self.cases() {
            let d = c.d
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let (y, dx, dw, db) = Self.reference(d, x: x, w: w, bias: bias, dy: dy)
            var results: [ConvResults] = []
            for b in backends {
                let r = try Self.run(b, d, x: x, w: w, bias: bias, dy: dy)
                let m = "\(b.testName) \(c.name) seed \(rng.seed)"
                assertClose(r.y, y, "forward \(m)")
                assertClose(r.dx, dx, "backward data \(m)")
                assertClose(r.dw, dw, "backward filter \(m)")
                assertClose(r.db, db, "backward bias \(m)")
                results.append(r)
            }
            if results.count == 2 {
                let (cpu, cl) = (results[0], results[1])
                let m = "OpenCL vs CPU \(c.name) seed \(rng.seed)"
                assertClose(cl.y, cpu.y, tolerance: 1e-5, m)
                assertClose(cl.dx, cpu.dx, tolerance: 1e-5, m)
                assertClose(cl.dw, cpu.dw, tolerance: 1e-5, m)
                assertClose(cl.db, cpu.db, tolerance: 1e-5, m)
            }
        }
        try TestBackends.skipUnlessCrossChecked()
    }

    /// The default test runs each problem through the algorithm each backend picks for it;
    /// this one runs every problem through each algorithm on each backend.
    func testEveryAlgorithmOnEveryCase() throws {
        var rng = SeededGenerator.fresh()
        defer { ConvolutionAlgorithm.forced = nil }
        for c in try Self.cases() {
            let d = c.d
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let (y, dx, dw, _) = Self.reference(d, x: x, w: w, bias: bias, dy: dy)
            for b in TestBackends.conforming((any ConvolutionOps & BiasOps).self) {
                // Offered in every direction (the tiled direct kernels have no adjoint for padding ≥ the kernel).
                let offered = ConvolutionDirection.allCases.map { direction in
                    Set(b.convolutionSolutions(for: d, direction: direction).map(\.algorithm))
                }.reduce(Set(ConvolutionAlgorithm.allCases)) { $0.intersection($1) }
                for algorithm in [ConvolutionAlgorithm.im2colGEMM, .direct, .oneDNN, .directTiled] where offered.contains(algorithm) {
                    ConvolutionAlgorithm.forced = algorithm
                    let r = try Self.run(b, d, x: x, w: w, bias: bias, dy: dy)
                    let m = "\(b.testName) \(algorithm) \(c.name) seed \(rng.seed)"
                    assertClose(r.y, y, "forward \(m)")
                    assertClose(r.dx, dx, "backward data \(m)")
                    assertClose(r.dw, dw, "backward filter \(m)")
                }
            }
        }
    }

    func testSamePaddingKeepsCeilOfInputOverStride() throws {
        for (h, w, k, s, dil) in [(7, 5, 3, 2, 1), (8, 6, 4, 3, 1), (7, 5, 2, 1, 2), (1, 1, 3, 1, 1)] {
            let p = Padding2D.same(inputH: h, inputW: w, kernelH: k, kernelW: k, strideH: s, strideW: s,
                                   dilationH: dil, dilationW: dil)
            let d = try Conv2DDescriptor(batch: 1, inChannels: 1, inH: h, inW: w, outChannels: 1, kernelH: k,
                                         kernelW: k, strideH: s, strideW: s, padding: p, dilationH: dil, dilationW: dil)
            XCTAssertEqual(d.outH, (h + s - 1) / s, "\(h)x\(w) k\(k) s\(s) d\(dil) padding \(p)")
            XCTAssertEqual(d.outW, (w + s - 1) / s, "\(h)x\(w) k\(k) s\(s) d\(dil) padding \(p)")
        }
    }

    /// Every backward pass is the adjoint of the reference forward pass: checked by central
    /// differences of Σ dy · conv(x, w, b) in x, w and b.
    func testGradientsMatchFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        let all = try Self.cases()
        let picked = ["3x3 pad 1", "stride 2 pad 1", "dilation 2", "groups 3", "asymmetric padding 2x3",
                      "1x1 pointwise groups 3"]
        for c in all where picked.contains(c.name) {
            let d = c.d
            let x = rng.floats(d.inputCount).doubles, w = rng.floats(d.weightCount).doubles
            let bias = rng.floats(d.outChannels).doubles, dy = rng.floats(d.outputCount).doubles
            let fdx = finiteDifferenceGradient(at: x, weights: dy) { ConvolutionReference.forward(d, x: $0, w: w, bias: bias) }
            let fdw = finiteDifferenceGradient(at: w, weights: dy) { ConvolutionReference.forward(d, x: x, w: $0, bias: bias) }
            let fdb = finiteDifferenceGradient(at: bias, weights: dy) { ConvolutionReference.forward(d, x: x, w: w, bias: $0) }
            for b in TestBackends.conforming((any ConvolutionOps & BiasOps).self) {
                let r = try Self.run(b, d, x: x.map(Float.init), w: w.map(Float.init), bias: bias.map(Float.init),
                                     dy: dy.map(Float.init))
                let m = "\(b.testName) \(c.name) seed \(rng.seed)"
                assertClose(r.dx, fdx, "dx vs finite differences \(m)")
                assertClose(r.dw, fdw, "dw vs finite differences \(m)")
                assertClose(r.db, fdb, "db vs finite differences \(m)")
            }
        }
    }

    /// The CPU im2col and col2im on rows narrower than 8 outputs (a scalar loop) and wider
    /// (copy calls), with strides, padding and dilation, split over 3 workers at odd boundaries.
    func testCPUIm2colOnNarrowAndWideRows() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend(threads: 3)
        func problem(_ size: Int, stride: Int = 1, padding: Int = 1, dilation: Int = 1) throws -> Conv2DDescriptor {
            try Conv2DDescriptor(batch: 5, inChannels: 7, inH: size, inW: size + 1, outChannels: 6, kernelH: 3, kernelW: 3,
                                 strideH: stride, strideW: stride, padding: Padding2D(padding),
                                 dilationH: dilation, dilationW: dilation)
        }
        for d in [try problem(2), try problem(4, stride: 2), try problem(1), try problem(9, stride: 2, padding: 2),
                  try problem(19, dilation: 2), try problem(17, stride: 3, padding: 0)] {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let (y, dx, dw, _) = Self.reference(d, x: x, w: w, bias: bias, dy: dy)
            let r = try OneDNNConvolutionTests.run(b, d, ConvolutionSolution(.im2colGEMM), x: x, w: w, bias: bias, dy: dy)
            let m = "\(d.problemText) seed \(rng.seed)"
            assertClose(r.y, y, "forward \(m)")
            assertClose(r.dx, dx, "backward data \(m)")
            assertClose(r.dw, dw, "backward filter \(m)")
        }
    }

    /// A batch bigger than the workspace runs in chunks (with a short last chunk) and gives
    /// the same answer as the reference.
    func testChunkedBatchMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        let saved = ConvolutionWorkspace.limitBytes
        // Chunking belongs to im2col + GEMM, which OpenCL on a CPU device does not pick itself.
        ConvolutionAlgorithm.forced = .im2colGEMM
        defer {
            ConvolutionWorkspace.limitBytes = saved
            ConvolutionAlgorithm.forced = nil
        }
        for groups in [1, 2] {
            let d = try Conv2DDescriptor(batch: 5, inChannels: 4, inH: 6, inW: 7, outChannels: 6, kernelH: 3, kernelW: 3,
                                         strideH: 2, strideW: 1, padding: Padding2D(1), groups: groups)
            ConvolutionWorkspace.limitBytes = 2 * d.columnsPerImage * 4   // 2 images per chunk: 2 + 2 + 1
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            for b in TestBackends.conforming((any ConvolutionOps & BiasOps).self) {
                let r = try Self.run(b, d, x: x, w: w, bias: bias, dy: dy)
                let m = "\(b.testName) groups \(groups) seed \(rng.seed)"
                assertClose(r.y, ConvolutionReference.forward(d, x: x.doubles, w: w.doubles, bias: bias.doubles), m)
                assertClose(r.dx, ConvolutionReference.backwardData(d, dy: dy.doubles, w: w.doubles), m)
                assertClose(r.dw, ConvolutionReference.backwardFilter(d, x: x.doubles, dy: dy.doubles), m)
            }
        }
    }

    /// A layer of realistic width (more rows than one GEMM tile, odd sizes): OpenCL and CPU
    /// agree with each other and with the reference.
    func testWiderLayerBackendsAgree() throws {
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 4, inChannels: 16, inH: 13, inW: 11, outChannels: 24, kernelH: 3,
                                     kernelW: 3, padding: Padding2D(1))
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
        let dy = rng.floats(d.outputCount)
        let y = ConvolutionReference.forward(d, x: x.doubles, w: w.doubles, bias: bias.doubles)
        let dw = ConvolutionReference.backwardFilter(d, x: x.doubles, dy: dy.doubles)
        var results: [ConvResults] = []
        for b in TestBackends.conforming((any ConvolutionOps & BiasOps).self) {
            let r = try Self.run(b, d, x: x, w: w, bias: bias, dy: dy)
            assertClose(r.y, y, "\(b.testName) seed \(rng.seed)")
            assertClose(r.dw, dw, "\(b.testName) seed \(rng.seed)")
            results.append(r)
        }
        if results.count == 2 {
            assertClose(results[1].y, results[0].y, tolerance: 1e-5, "OpenCL vs CPU seed \(rng.seed)")
            assertClose(results[1].dx, results[0].dx, tolerance: 1e-5, "OpenCL vs CPU seed \(rng.seed)")
            assertClose(results[1].dw, results[0].dw, tolerance: 1e-5, "OpenCL vs CPU seed \(rng.seed)")
        }
        try TestBackends.skipUnlessCrossChecked()
    }

    func testBadDescriptorsAreTypedErrors() throws {
        func make(inC: Int = 3, h: Int = 5, w: Int = 5, outC: Int = 4, k: Int = 3, stride: Int = 1,
                  padding: Padding2D = .zero, dilation: Int = 1, groups: Int = 1, batch: Int = 1) throws {
            _ = try Conv2DDescriptor(batch: batch, inChannels: inC, inH: h, inW: w, outChannels: outC, kernelH: k,
                                     kernelW: k, strideH: stride, strideW: stride, padding: padding,
                                     dilationH: dilation, dilationW: dilation, groups: groups)
        }
        assertThrowsCNNError({ try make(k: 6) }, "kernel larger than the input")
        assertThrowsCNNError({ try make(k: 3, dilation: 3) }, "dilated kernel larger than the input")
        XCTAssertNoThrow(try make(k: 6, padding: Padding2D(top: 1, bottom: 0, left: 0, right: 1)))
        assertThrowsCNNError({ try make(batch: 0) }, "zero batch")
        assertThrowsCNNError({ try make(h: 0) }, "zero height")
        assertThrowsCNNError({ try make(outC: -1) }, "negative channels")
        assertThrowsCNNError({ try make(stride: 0) }, "zero stride")
        assertThrowsCNNError({ try make(dilation: 0) }, "zero dilation")
        assertThrowsCNNError({ try make(padding: Padding2D(top: -1, bottom: 0, left: 0, right: 0)) }, "negative padding")
        assertThrowsCNNError({ try make(inC: 4, outC: 6, groups: 3) }, "groups not dividing input channels")
        assertThrowsCNNError({ try make(inC: 6, outC: 4, groups: 3) }, "groups not dividing output channels")
        assertThrowsCNNError({ try make(groups: 0) }, "zero groups")
    }

    func testBadBuffersAreTypedErrors() throws {
        let d = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 5, inW: 4, outChannels: 4, kernelH: 3,
                                     kernelW: 3, padding: Padding2D(1))
        for b in TestBackends.conforming((any ConvolutionOps & BiasOps).self) {
            let x = try b.allocate(d.inputCount, dtype: .float32), w = try b.allocate(d.weightCount, dtype: .float32)
            let y = try b.allocate(d.outputCount, dtype: .float32), bias = try b.allocate(d.outChannels, dtype: .float32)
            let short = try b.allocate(d.inputCount - 1, dtype: .float32)
            let shortW = try b.allocate(d.weightCount - 1, dtype: .float32)
            let ints = try b.allocate(d.inputCount, dtype: .int32)
            let foreign = try CPUBackend().allocate(d.inputCount, dtype: .float32)
            let m = b.testName
            XCTAssertNoThrow(try b.convolutionForward(d, x: x, weight: w, bias: bias, y: y), m)
            assertThrowsCNNError({ try b.convolutionForward(d, x: short, weight: w, bias: bias, y: y) }, "short x \(m)")
            assertThrowsCNNError({ try b.convolutionForward(d, x: x, weight: shortW, bias: nil, y: y) }, "short w \(m)")
            assertThrowsCNNError({ try b.convolutionForward(d, x: x, weight: w, bias: nil, y: short) }, "short y \(m)")
            let shortBias = try b.allocate(d.outChannels - 1, dtype: .float32)
            assertThrowsCNNError({ try b.convolutionForward(d, x: x, weight: w, bias: shortBias, y: y) }, "short bias \(m)")
            assertThrowsCNNError({ try b.convolutionForward(d, x: ints, weight: w, bias: nil, y: y) }, "int32 x \(m)")
            assertThrowsCNNError({ try b.convolutionForward(d, x: foreign, weight: w, bias: nil, y: y) }, "foreign x \(m)")
            let message = assertThrowsCNNError({ try b.convolutionBackwardData(d, dy: y, weight: w, dx: short) }, "short dx \(m)")
            XCTAssert(message?.contains("'dx'") == true, "the error names the argument: \(message ?? "")")
            assertThrowsCNNError({ try b.convolutionBackwardData(d, dy: short, weight: w, dx: x) }, "short dy \(m)")
            assertThrowsCNNError({ try b.convolutionBackwardFilter(d, x: x, dy: y, dw: shortW) }, "short dw \(m)")
            assertThrowsCNNError({ try b.convolutionBackwardFilter(d, x: ints, dy: y, dw: w) }, "int32 x \(m)")
            assertThrowsCNNError({ try b.convolutionBackwardBias(d, dy: y, db: ints) }, "int32 db \(m)")
            // A descriptor edited after its checked init is checked again by every op.
            var bad = d
            bad.groups = 2
            assertThrowsCNNError({ try b.convolutionForward(bad, x: x, weight: w, bias: nil, y: y) }, "edited groups \(m)")
            bad = d
            bad.kernelH = 9
            assertThrowsCNNError({ try b.convolutionBackwardData(bad, dy: y, weight: w, dx: x) }, "edited kernel \(m)")
            bad = d
            bad.strideW = 0
            assertThrowsCNNError({ try b.convolutionBackwardFilter(bad, x: x, dy: y, dw: w) }, "edited stride \(m)")
        }
    }
}
