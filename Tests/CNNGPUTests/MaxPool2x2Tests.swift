@testable import CNNGPU
import XCTest

/// The CPU backend's 2×2/2 fast path against the reference, beside shapes that must not take it.
final class MaxPool2x2Tests: XCTestCase {
    func testFastPathMatchesReferenceWithTies() throws {
        var rng = SeededGenerator.fresh()
        for (h, w, padding) in [(8, 6, Padding2D.zero), (7, 5, .zero), (7, 5, Padding2D(top: 0, bottom: 1, left: 0, right: 1))] {
            let d = try Pool2DDescriptor(batch: 2, channels: 3, inH: h, inW: w, windowH: 2, windowW: 2,
                                         strideH: 2, strideW: 2, padding: padding, mode: .max)
            // Few distinct values, so windows hold ties (NaN is covered in PoolingTests).
            let x = (0..<d.inputCount).map { _ in Float(Int.random(in: 0...3, using: &rng)) }
            let (expected, expectedIndices) = PoolingReference.forward(d, x.doubles)
            for b in TestBackends.conforming((any PoolingOps).self) {
                let y = try b.allocate(d.outputCount, dtype: .float32), idx = try b.allocate(d.outputCount, dtype: .int32)
                try b.poolingForward(d, x: try b.makeBuffer(x), y: y, indices: idx)
                let got = try b.download(y)
                XCTAssertEqual(got, expected.map(Float.init), "\(b.testName) \(h)×\(w) \(padding)")
                XCTAssertEqual(try b.downloadInt32(idx), expectedIndices, "\(b.testName) \(h)×\(w) \(padding) seed \(rng.seed)")
            }
        }
    }
}
