@testable import CNNGPU
import XCTest

/// Pooling on rows wide enough for the CPU backend's 16-lane path (and its overlapping last
/// vector) and for several OpenCL work-items per row, against the reference: values and
/// winner indices forward, gradients backward. Few distinct values make ties (the first
/// maximum in row-major order must win); NaN is PoolingTests' (the reference has no NaN rule).
final class PoolingWideRowTests: XCTestCase {
    func testWideRowsMatchReference() throws {
        var rng = SeededGenerator.fresh()
        let shapes: [(h: Int, w: Int, window: Int, stride: Int, pad: Int)] = [
            (9, 75, 3, 2, 1), (6, 70, 2, 2, 0), (5, 40, 3, 1, 1), (5, 33, 2, 2, 0), (4, 37, 3, 3, 1),
            // As ResNet's stem pool (112 wide): the last output vector's last taps end on the
            // row's last column (OpenCL: masks skipped inside the row, gathered at its end).
            (5, 32, 3, 2, 1),
        ]
        for s in shapes {
            for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
                let d = try Pool2DDescriptor(batch: 2, channels: 3, inH: s.h, inW: s.w, windowH: s.window,
                                             windowW: s.window, strideH: s.stride, strideW: s.stride,
                                             padding: Padding2D(s.pad), mode: mode)
                let x = (0..<d.inputCount).map { _ in Float(Int.random(in: 0...3, using: &rng)) }
                let dy = rng.floats(d.outputCount)
                let (expected, expectedIndices) = PoolingReference.forward(d, x.doubles)
                let expectedDx = PoolingReference.backward(d, dy: dy.doubles, indices: expectedIndices)
                let label = "\(s) \(mode) seed \(rng.seed)"
                for b in TestBackends.conforming((any PoolingOps).self) {
                    let y = try b.allocate(d.outputCount, dtype: .float32)
                    let idx = try b.allocate(d.outputCount, dtype: .int32), dx = try b.allocate(d.inputCount, dtype: .float32)
                    try b.poolingForward(d, x: try b.makeBuffer(x), y: y, indices: mode == .max ? idx : nil)
                    try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: mode == .max ? idx : nil, dx: dx)
                    let got = try b.download(y)
                    if mode == .max {
                        XCTAssertEqual(got, expected.map(Float.init), "\(b.testName) \(label)")
                        XCTAssertEqual(try b.downloadInt32(idx), expectedIndices, "\(b.testName) indices \(label)")
                    } else {
                        assertClose(got, expected, tolerance: 1e-5, "\(b.testName) \(label)")
                    }
                    assertClose(try b.download(dx), expectedDx, tolerance: 1e-5, "\(b.testName) dx \(label)")
                }
            }
        }
    }
}
