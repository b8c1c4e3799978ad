@testable import CNNGPU
import XCTest

final class BiasTests: XCTestCase {
    /// NCHW bias, dense bias (inner 1), one channel, more elements per entry than a work-group.
    static let shapes = [
        AxisShape(outer: 3, axis: 5, inner: 35), AxisShape(outer: 7, axis: 10, inner: 1),
        AxisShape(outer: 1, axis: 1, inner: 1), AxisShape(outer: 1, axis: 1, inner: 1000),
        AxisShape(outer: 5, axis: 3, inner: 77), AxisShape(outer: 65, axis: 2, inner: 3),
        AxisShape(outer: 8, axis: 16, inner: 28 * 28),
        // LeNet's conv2: planes of 100 (three 32-float blocks and a 4-float tail).
        AxisShape(outer: 64, axis: 16, inner: 100),
        // Dense, large enough that the CPU splits it over workers (by samples, and by entries).
        AxisShape(outer: 64, axis: 1500, inner: 1),
    ]

    func testAddBiasAndReduceSumAgainstReference() throws {
        var rng = SeededGenerator.fresh()
        for s in Self.shapes {
            let y = rng.floats(s.count), bias = rng.floats(s.axis)
            let expectedY = BiasReference.addBias(s, bias: bias.doubles, y: y.doubles)
            let expectedSum = BiasReference.reduceSum(s, x: y.doubles)
            var results: [([Float], [Float])] = []
            for b in TestBackends.conforming((any BiasOps).self) {
                let m = "\(b.testName) \(s) seed \(rng.seed)"
                let Y = try b.makeBuffer(y), B = try b.makeBuffer(bias)
                let out = try b.makeBuffer([Float](repeating: 3, count: s.axis))
                try b.reduceSum(s, x: Y, out: out)
                try b.addBias(s, bias: B, y: Y)
                let r = (try b.download(Y), try b.download(out))
                assertClose(r.0, expectedY, "add_bias \(m)")
                assertClose(r.1, expectedSum, "reduce_sum \(m)")
                results.append(r)
            }
            if results.count == 2 {
                assertClose(results[1].0, results[0].0, tolerance: 1e-6, "add_bias OpenCL vs CPU \(s) seed \(rng.seed)")
                // Two float sums in different orders differ by rounding on the scale of their
                // terms, Σ|x|, not of a result that cancels: 1000 terms summing to -0.2 (Σ|x| ≈ 250)
                // came out 2e-6 apart (seed 7403868432014).
                let termScale = BiasReference.reduceSum(s, x: y.map { abs(Double($0)) }).max() ?? 0
                assertClose(results[1].1, results[0].1, tolerance: 1e-5, scale: termScale,
                            "reduce_sum OpenCL vs CPU \(s) seed \(rng.seed)")
            }
        }
        try TestBackends.skipUnlessCrossChecked()
    }

    /// Buffers bigger than the shape are fine: only the first `count` elements are touched.
    func testLargerBuffersAreUsedOnlyInPart() throws {
        let s = AxisShape(outer: 2, axis: 2, inner: 2)
        for b in TestBackends.conforming((any BiasOps).self) {
            let y = try b.makeBuffer([1, 2, 3, 4, 5, 6, 7, 8, 100])
            let out = try b.makeBuffer([0, 0, 100])
            try b.reduceSum(s, x: y, out: out)
            let expected: [Float] = [14, 22, 100]   // 1 + 2 + 5 + 6, 3 + 4 + 7 + 8, untouched
            XCTAssertEqual(try b.download(out), expected, b.testName)
            try b.addBias(s, bias: try b.makeBuffer([10, 20, 30]), y: y)
            XCTAssertEqual(try b.download(y), [11, 12, 23, 24, 15, 16, 27, 28, 100], b.testName)
        }
    }

    /// The sum is deterministic: the same input gives bit-identical output run after run.
    func testReduceSumIsDeterministic() throws {
        var rng = SeededGenerator.fresh()
        let s = AxisShape(outer: 16, axis: 4, inner: 300)
        let x = rng.floats(s.count)
        for b in TestBackends.conforming((any BiasOps).self) {
            let X = try b.makeBuffer(x), out = try b.allocate(s.axis, dtype: .float32)
            try b.reduceSum(s, x: X, out: out)
            let first = try b.download(out)
            for _ in 0..<3 {
                try b.reduceSum(s, x: X, out: out)
                XCTAssertEqual(try b.download(out), first, "\(b.testName) seed \(rng.seed)")
            }
        }
    }

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any BiasOps).self) {
            let y = try b.allocate(24, dtype: .float32), bias = try b.allocate(4, dtype: .float32)
            let ints = try b.allocate(24, dtype: .int32)
            let foreign = try CPUBackend().allocate(24, dtype: .float32)
            let m = b.testName
            let s = AxisShape(outer: 2, axis: 4, inner: 3)
            XCTAssertNoThrow(try b.addBias(s, bias: bias, y: y), m)
            for bad in [AxisShape(outer: 0, axis: 4, inner: 3), AxisShape(outer: 2, axis: -4, inner: 3),
                        AxisShape(outer: 2, axis: 4, inner: 0)] {
                assertThrowsCNNError({ try b.addBias(bad, bias: bias, y: y) }, "\(bad) \(m)")
                assertThrowsCNNError({ try b.reduceSum(bad, x: y, out: bias) }, "\(bad) \(m)")
            }
            let big = AxisShape(outer: 3, axis: 4, inner: 3)
            assertThrowsCNNError({ try b.addBias(big, bias: bias, y: y) }, "short y \(m)")
            assertThrowsCNNError({ try b.reduceSum(big, x: y, out: bias) }, "short x \(m)")
            let wide = AxisShape(outer: 1, axis: 6, inner: 4)
            assertThrowsCNNError({ try b.addBias(wide, bias: bias, y: y) }, "short bias \(m)")
            assertThrowsCNNError({ try b.reduceSum(wide, x: y, out: bias) }, "short out \(m)")
            assertThrowsCNNError({ try b.addBias(s, bias: bias, y: ints) }, "int32 y \(m)")
            assertThrowsCNNError({ try b.reduceSum(s, x: foreign, out: bias) }, "foreign x \(m)")
        }
    }
}
