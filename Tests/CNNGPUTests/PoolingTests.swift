import CNNGPU
import XCTest

final class PoolingTests: XCTestCase {
    /// Odd problems: 7×5 images, 3 channels, batch 3, stride 2, padding 1, asymmetric padding,
    /// overlapping windows (3 with stride 2), non-square windows and strides.
    func problems(_ mode: PoolingMode) throws -> [Pool2DDescriptor] {
        [
            try Pool2DDescriptor(batch: 3, channels: 3, inH: 7, inW: 5, windowH: 3, windowW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(1), mode: mode),
            try Pool2DDescriptor(batch: 2, channels: 3, inH: 7, inW: 5, windowH: 2, windowW: 2,
                                 strideH: 2, strideW: 2, mode: mode),
            try Pool2DDescriptor(batch: 2, channels: 3, inH: 7, inW: 9, windowH: 3, windowW: 3,
                                 strideH: 2, strideW: 2, mode: mode),
            try Pool2DDescriptor(batch: 1, channels: 2, inH: 6, inW: 7, windowH: 3, windowW: 2,
                                 strideH: 1, strideW: 2,
                                 padding: Padding2D(top: 1, bottom: 0, left: 0, right: 1), mode: mode),
            try Pool2DDescriptor(batch: 3, channels: 1, inH: 5, inW: 7, windowH: 2, windowW: 3,
                                 strideH: 1, strideW: 3, padding: Padding2D(h: 1, w: 1), mode: mode),
        ]
    }

    static let allModes: [PoolingMode] = [.max, .averageIncludingPadding, .averageExcludingPadding]

    /// Distinct values in [-1, 1], at least 2/count apart, so a max pool's winner does not change
    /// under a finite-difference step.
    func distinctValues(_ count: Int, _ rng: inout SeededGenerator) -> [Float] {
        (0..<count).map { Float(2 * Double($0) / Double(count) - 1) }.shuffled(using: &rng)
    }

    func testPoolingForwardMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any PoolingOps).self) {
            for mode in Self.allModes {
                for d in try problems(mode) {
                    let x = rng.floats(d.inputCount)
                    let expected = PoolingReference.forward(d, x.doubles)
                    let xb = try b.makeBuffer(x), y = try b.allocate(d.outputCount, dtype: .float32)
                    let label = "\(b.testName) \(mode) \(d) seed \(rng.seed)"
                    try b.poolingForward(d, x: xb, y: y, indices: nil)
                    assertClose(try b.download(y), expected.y, label)
                    guard mode == .max else { continue }
                    let indices = try b.allocate(d.outputCount, dtype: .int32)
                    try b.fill(y, value: .nan)
                    try b.poolingForward(d, x: xb, y: y, indices: indices)
                    assertClose(try b.download(y), expected.y, label)
                    XCTAssertEqual(try b.downloadInt32(indices), expected.indices, label)
                }
            }
        }
    }

    func testPoolingBackwardMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any PoolingOps).self) {
            for mode in Self.allModes {
                for d in try problems(mode) {
                    let x = distinctValues(d.inputCount, &rng), dy = rng.floats(d.outputCount)
                    let label = "\(b.testName) \(mode) \(d) seed \(rng.seed)"
                    let xb = try b.makeBuffer(x), yb = try b.allocate(d.outputCount, dtype: .float32)
                    let indices = try b.allocate(d.outputCount, dtype: .int32)
                    let dyb = try b.makeBuffer(dy), dx = try b.allocate(d.inputCount, dtype: .float32)
                    try b.fill(dx, value: .nan)  // every element must be written
                    try b.poolingForward(d, x: xb, y: yb, indices: mode == .max ? indices : nil)
                    try b.poolingBackward(d, dy: dyb, indices: mode == .max ? indices : nil, dx: dx)
                    let got = try b.download(dx)
                    let reference = PoolingReference.forward(d, x.doubles)
                    assertClose(got, PoolingReference.backward(d, dy: dy.doubles, indices: reference.indices), label)
                    let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                        PoolingReference.forward(d, $0).y
                    }
                    assertClose(got, numeric, label + " vs finite differences")
                }
            }
        }
    }

    func testMaxPoolingTiesPaddingAndNaN() throws {
        for b in TestBackends.conforming((any PoolingOps).self) {
            // All-negative input with padding: a padded zero must never win, and on ties the
            // first real pixel of the window does.
            let d = try Pool2DDescriptor(batch: 1, channels: 2, inH: 5, inW: 4, windowH: 3, windowW: 3,
                                         strideH: 2, strideW: 1, padding: Padding2D(1), mode: .max)
            let x = try b.makeBuffer([Float](repeating: -5, count: d.inputCount))
            let y = try b.allocate(d.outputCount, dtype: .float32), indices = try b.allocate(d.outputCount, dtype: .int32)
            try b.poolingForward(d, x: x, y: y, indices: indices)
            XCTAssertEqual(try b.download(y), [Float](repeating: -5, count: d.outputCount), b.testName)
            let expected = PoolingReference.forward(d, [Double](repeating: -5, count: d.inputCount))
            XCTAssertEqual(try b.downloadInt32(indices), expected.indices, b.testName)

            // NaN propagates, as in PyTorch.
            let n = try Pool2DDescriptor(batch: 1, channels: 1, inH: 3, inW: 3, windowH: 2, windowW: 2,
                                         strideH: 1, strideW: 1, mode: .max)
            let xn = try b.makeBuffer([1, 2, 3, 4, .nan, 6, 7, 8, 9])
            let yn = try b.allocate(4, dtype: .float32), inn = try b.allocate(4, dtype: .int32)
            try b.poolingForward(n, x: xn, y: yn, indices: inn)
            XCTAssertTrue(try b.download(yn).allSatisfy(\.isNaN), b.testName)
            XCTAssertEqual(try b.downloadInt32(inn), [4, 4, 4, 4], b.testName)
        }
    }

    func testGlobalAveragePoolMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any PoolingOps).self) {
            for (planes, spatial) in [(9, 35), (4, 1), (1, 49), (6, 5000)] {
                let x = rng.floats(planes * spatial), dy = rng.floats(planes)
                let label = "\(b.testName) \(planes)×\(spatial) seed \(rng.seed)"
                let xb = try b.makeBuffer(x), y = try b.allocate(planes, dtype: .float32)
                try b.globalAveragePoolForward(planes: planes, spatial: spatial, x: xb, y: y)
                // Means of signed data can cancel: measure the error against the mean of |x|.
                let magnitudes = PoolingReference.globalAverageForward(planes: planes, spatial: spatial, x.doubles.map(abs))
                assertSumsClose(try b.download(y), PoolingReference.globalAverageForward(planes: planes, spatial: spatial, x.doubles),
                                magnitudes: magnitudes, label)
                let dyb = try b.makeBuffer(dy), dx = try b.allocate(planes * spatial, dtype: .float32)
                try b.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: dyb, dx: dx)
                let got = try b.download(dx)
                assertClose(got, PoolingReference.globalAverageBackward(planes: planes, spatial: spatial, dy.doubles), label)
                if planes * spatial < 1000 {
                    let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                        PoolingReference.globalAverageForward(planes: planes, spatial: spatial, $0)
                    }
                    assertClose(got, numeric, label + " vs finite differences")
                }
            }
        }
    }

    /// Adaptive pooling: uneven overlapping windows (7→3, 13×10→6×4), an output larger than the
    /// input (5→7, and 1×1 → 6×6 as AlexNet's head sees at its smallest image), one axis up and
    /// the other down, equal sizes, a divisible case, and a 1×1 output.
    static let adaptiveProblems: [AdaptiveShape] = [
        AdaptiveShape(planes: 6, inH: 7, inW: 7, outH: 3, outW: 3),
        AdaptiveShape(planes: 4, inH: 5, inW: 5, outH: 7, outW: 7),
        AdaptiveShape(planes: 6, inH: 13, inW: 10, outH: 6, outW: 4),
        AdaptiveShape(planes: 2, inH: 1, inW: 1, outH: 6, outW: 6),
        AdaptiveShape(planes: 3, inH: 3, inW: 11, outH: 5, outW: 4),
        AdaptiveShape(planes: 2, inH: 5, inW: 6, outH: 5, outW: 6),
        AdaptiveShape(planes: 3, inH: 14, inW: 14, outH: 7, outW: 7),
        AdaptiveShape(planes: 5, inH: 9, inW: 7, outH: 1, outW: 1),
    ]

    func testAdaptiveAveragePoolMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any PoolingOps).self) {
            for s in Self.adaptiveProblems {
                let x = rng.floats(s.inputCount), dy = rng.floats(s.outputCount)
                let label = "\(b.testName) \(s) seed \(rng.seed)"
                let y = try b.allocate(s.outputCount, dtype: .float32), dx = try b.allocate(s.inputCount, dtype: .float32)
                try b.fill(y, value: .nan)  // every element must be written
                try b.fill(dx, value: .nan)
                try b.adaptiveAveragePoolForward(s, x: try b.makeBuffer(x), y: y)
                try b.adaptiveAveragePoolBackward(s, dy: try b.makeBuffer(dy), dx: dx)
                assertClose(try b.download(y), PoolingReference.adaptiveAverageForward(s, x.doubles), label)
                let got = try b.download(dx)
                assertClose(got, PoolingReference.adaptiveAverageBackward(s, dy: dy.doubles), label)
                let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                    PoolingReference.adaptiveAverageForward(s, $0)
                }
                assertClose(got, numeric, label + " vs finite differences")
            }
        }
    }

    /// Windows as PyTorch computes them for sizes that do not divide: 7 → 3 gives [0, 3), [2, 5),
    /// [4, 7), and 2 → 3 gives [0, 1), [0, 2), [1, 2).
    func testAdaptiveAveragePoolWindows() throws {
        for b in TestBackends.conforming((any PoolingOps).self) {
            let s = AdaptiveShape(planes: 1, inH: 2, inW: 7, outH: 3, outW: 3)
            let y = try b.allocate(s.outputCount, dtype: .float32)
            try b.adaptiveAveragePoolForward(s, x: try b.makeBuffer((0..<14).map(Float.init)), y: y)
            // Rows 0…6 and 7…13: output row 0 averages the first, row 1 both, row 2 the second.
            assertClose(try b.download(y), [1, 3, 5, 4.5, 6.5, 8.5, 8, 10, 12], tolerance: 1e-6, b.testName)
        }
    }

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        for mode in Self.allModes {
            for d in try problems(mode) {
                let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
                let label = "\(mode) \(d) seed \(rng.seed)"
                var outputs: [(y: [Float], indices: [Int32], dx: [Float])] = []
                for b in [cpu as any PoolingOps, cl as any PoolingOps] {
                    let xb = try b.makeBuffer(x), y = try b.allocate(d.outputCount, dtype: .float32)
                    let indices = try b.allocate(d.outputCount, dtype: .int32)
                    try b.fill(y, value: 0)
                    let dyb = try b.makeBuffer(dy), dx = try b.allocate(d.inputCount, dtype: .float32)
                    try b.poolingForward(d, x: xb, y: y, indices: indices)
                    try b.poolingBackward(d, dy: dyb, indices: indices, dx: dx)
                    let saved = mode == .max ? try b.downloadInt32(indices) : []
                    outputs.append((try b.download(y), saved, try b.download(dx)))
                }
                assertClose(outputs[1].y, outputs[0].y, tolerance: 1e-6, label)
                XCTAssertEqual(outputs[1].indices, outputs[0].indices, label)
                assertClose(outputs[1].dx, outputs[0].dx, tolerance: 1e-6, label)
            }
        }
        let x = rng.floats(7 * 35), dy = rng.floats(7)
        var pooled: [[Float]] = [], spread: [[Float]] = []
        for b in [cpu as any PoolingOps, cl as any PoolingOps] {
            let y = try b.allocate(7, dtype: .float32), dx = try b.allocate(7 * 35, dtype: .float32)
            try b.globalAveragePoolForward(planes: 7, spatial: 35, x: try b.makeBuffer(x), y: y)
            try b.globalAveragePoolBackward(planes: 7, spatial: 35, dy: try b.makeBuffer(dy), dx: dx)
            pooled.append(try b.download(y))
            spread.append(try b.download(dx))
        }
        assertSumsClose(pooled[1], pooled[0].doubles,
                        magnitudes: PoolingReference.globalAverageForward(planes: 7, spatial: 35, x.doubles.map(abs)),
                        "global average seed \(rng.seed)")
        assertClose(spread[1], spread[0], tolerance: 1e-6, "global average seed \(rng.seed)")
        for s in Self.adaptiveProblems {
            let x = rng.floats(s.inputCount), dy = rng.floats(s.outputCount)
            var results: [[Float]] = []
            for b in [cpu as any PoolingOps, cl as any PoolingOps] {
                let y = try b.allocate(s.outputCount, dtype: .float32), dx = try b.allocate(s.inputCount, dtype: .float32)
                try b.adaptiveAveragePoolForward(s, x: try b.makeBuffer(x), y: y)
                try b.adaptiveAveragePoolBackward(s, dy: try b.makeBuffer(dy), dx: dx)
                results.append(try b.download(y) + b.download(dx))
            }
            assertClose(results[1], results[0], tolerance: 1e-6, "adaptive average \(s) seed \(rng.seed)")
        }
    }

    func testBadInputIsTypedError() throws {
        // Descriptors that cannot work never get made.
        assertThrowsCNNError({ _ = try Pool2DDescriptor(batch: 1, channels: 1, inH: 3, inW: 3, windowH: 6, windowW: 2,
                                                        strideH: 1, strideW: 1, padding: Padding2D(1), mode: .max) },
                             "window larger than the padded input")
        assertThrowsCNNError({ _ = try Pool2DDescriptor(batch: 0, channels: 1, inH: 3, inW: 3, windowH: 2, windowW: 2,
                                                        strideH: 1, strideW: 1, mode: .max) }, "zero batch")
        assertThrowsCNNError({ _ = try Pool2DDescriptor(batch: 1, channels: 1, inH: 3, inW: 3, windowH: 2, windowW: 2,
                                                        strideH: 0, strideW: 1, mode: .max) }, "zero stride")
        assertThrowsCNNError({ _ = try Pool2DDescriptor(batch: 1, channels: 1, inH: 3, inW: 3, windowH: 2, windowW: 2,
                                                        strideH: 1, strideW: 1, padding: Padding2D(2), mode: .max) },
                             "padding more than half the window")

        for b in TestBackends.conforming((any PoolingOps).self) {
            let d = try Pool2DDescriptor(batch: 2, channels: 3, inH: 7, inW: 5, windowH: 3, windowW: 3,
                                         strideH: 2, strideW: 2, padding: Padding2D(1), mode: .max)
            let x = try b.allocate(d.inputCount, dtype: .float32), y = try b.allocate(d.outputCount, dtype: .float32)
            let indices = try b.allocate(d.outputCount, dtype: .int32)
            let short = try b.allocate(d.outputCount - 1, dtype: .float32)
            let shortIndices = try b.allocate(d.outputCount - 1, dtype: .int32)
            let floatIndices = try b.allocate(d.outputCount, dtype: .float32)
            let foreign = try CPUBackend().allocate(d.inputCount, dtype: .float32)
            let name = b.testName
            assertThrowsCNNError({ try b.poolingBackward(d, dy: y, indices: nil, dx: x) }, "\(name): max backward without indices")
            assertThrowsCNNError({ try b.poolingForward(d, x: short, y: y, indices: nil) }, "\(name): short x")
            assertThrowsCNNError({ try b.poolingForward(d, x: x, y: short, indices: nil) }, "\(name): short y")
            assertThrowsCNNError({ try b.poolingForward(d, x: x, y: y, indices: shortIndices) }, "\(name): short indices")
            assertThrowsCNNError({ try b.poolingForward(d, x: x, y: y, indices: floatIndices) }, "\(name): Float32 indices")
            assertThrowsCNNError({ try b.poolingForward(d, x: indices, y: y, indices: nil) }, "\(name): Int32 x")
            assertThrowsCNNError({ try b.poolingForward(d, x: foreign, y: y, indices: nil) }, "\(name): foreign x")
            assertThrowsCNNError({ try b.poolingBackward(d, dy: short, indices: indices, dx: x) }, "\(name): short dy")
            assertThrowsCNNError({ try b.poolingBackward(d, dy: y, indices: indices, dx: short) }, "\(name): short dx")
            // A descriptor edited after `init` is checked again by the op.
            var tooLarge = d
            tooLarge.windowH = 10
            assertThrowsCNNError({ try b.poolingForward(tooLarge, x: x, y: y, indices: nil) }, "\(name): window past padded input")
            var empty = d
            empty.channels = 0
            assertThrowsCNNError({ try b.poolingForward(empty, x: x, y: y, indices: nil) }, "\(name): zero channels")
            var average = tooLarge
            average.mode = .averageExcludingPadding
            assertThrowsCNNError({ try b.poolingBackward(average, dy: y, indices: nil, dx: x) }, "\(name): average, bad window")
            // Global average pooling.
            assertThrowsCNNError({ try b.globalAveragePoolForward(planes: 0, spatial: 4, x: x, y: y) }, "\(name): zero planes")
            assertThrowsCNNError({ try b.globalAveragePoolForward(planes: 3, spatial: -1, x: x, y: y) }, "\(name): negative spatial")
            assertThrowsCNNError({ try b.globalAveragePoolForward(planes: d.inputCount, spatial: 2, x: x, y: y) }, "\(name): short x")
            assertThrowsCNNError({ try b.globalAveragePoolBackward(planes: 6, spatial: 35, dy: y, dx: short) }, "\(name): short dx")
            assertThrowsCNNError({ try b.globalAveragePoolBackward(planes: 6, spatial: 35, dy: foreign, dx: x) }, "\(name): foreign dy")
            // Adaptive average pooling (x holds 2·3·7·5 = 6·35 elements, y 2·3·4·3 = 6·12).
            let adaptive = AdaptiveShape(planes: 6, inH: 7, inW: 5, outH: 4, outW: 3)
            var noOutput = adaptive
            noOutput.outW = 0
            assertThrowsCNNError({ try b.adaptiveAveragePoolForward(noOutput, x: x, y: y) }, "\(name): zero output width")
            var noInput = adaptive
            noInput.inH = -2
            assertThrowsCNNError({ try b.adaptiveAveragePoolBackward(noInput, dy: y, dx: x) }, "\(name): negative input height")
            assertThrowsCNNError({ try b.adaptiveAveragePoolForward(adaptive, x: short, y: y) }, "\(name): short x")
            var larger = adaptive
            larger.outH = 5
            assertThrowsCNNError({ try b.adaptiveAveragePoolForward(larger, x: x, y: y) }, "\(name): short y")
            assertThrowsCNNError({ try b.adaptiveAveragePoolBackward(adaptive, dy: y, dx: short) }, "\(name): short dx")
            assertThrowsCNNError({ try b.adaptiveAveragePoolBackward(adaptive, dy: foreign, dx: x) }, "\(name): foreign dy")
            assertThrowsCNNError({ try b.adaptiveAveragePoolForward(adaptive, x: x, y: indices) }, "\(name): Int32 y")
        }
    }
}

extension PoolingOps {
    func adaptiveAveragePoolForward(_ s: AdaptiveShape, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try adaptiveAveragePoolForward(planes: s.planes, inH: s.inH, inW: s.inW, outH: s.outH, outW: s.outW, x: x, y: y)
    }

    func adaptiveAveragePoolBackward(_ s: AdaptiveShape, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try adaptiveAveragePoolBackward(planes: s.planes, inH: s.inH, inW: s.inW, outH: s.outH, outW: s.outW,
                                        dy: dy, dx: dx)
    }
}
