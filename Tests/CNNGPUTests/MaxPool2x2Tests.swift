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

    /// Planes at most 32 wide (pooling.c's small-plane path: row pairs loaded straight from the
    /// plane, outputs stored 16 lanes at a time over the next row's): widths around the one- and
    /// two-vector rows (15, 16, 17, 31, 32) and LeNet's 28 and 10, odd sizes whose last row or
    /// column no window covers, enough planes that the workers' chunks end mid-tensor, and NaN
    /// and −∞ among ties, in every instruction set.
    func testSmallPlanesInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        let isas = CPUKernelISA.allCases.filter { $0 <= CPUKernelISA.supported }
        let shapes = [(2, 2), (3, 3), (5, 9), (10, 10), (28, 28), (7, 15), (4, 16), (6, 17), (9, 31), (3, 32), (2, 33)]
        for isa in isas {
            try CPUKernelISA.limited(to: isa) {
                for (h, w) in shapes {
                    let d = try Pool2DDescriptor(batch: 3, channels: 37, inH: h, inW: w, windowH: 2, windowW: 2,
                                                 strideH: 2, strideW: 2, mode: .max)
                    let x = (0..<d.inputCount).map { _ -> Float in
                        switch Int.random(in: 0..<40, using: &rng) {
                        case 0: return .nan
                        case 1: return -.infinity
                        case let k: return Float(k % 4)
                        }
                    }
                    let dy = rng.floats(d.outputCount)
                    let expectedIndices = winners(d, x)
                    let expected = expectedIndices.enumerated().map { o, i in x[o / d.outW / d.outH * h * w + Int(i)] }
                    let expectedDx = PoolingReference.backward(d, dy: dy.doubles, indices: expectedIndices)
                    let label = "\(isa) \(h)×\(w) seed \(rng.seed)"
                    let xb = try b.makeBuffer(x)
                    let y = try b.allocate(d.outputCount, dtype: .float32), idx = try b.allocate(d.outputCount, dtype: .int32)
                    try b.poolingForward(d, x: xb, y: y, indices: idx)
                    let got = try b.download(y)
                    XCTAssertEqual(got.map(\.isNaN), expected.map(\.isNaN), "NaN \(label)")
                    XCTAssertEqual(got.map { $0.isNaN ? 0 : $0 }, expected.map { $0.isNaN ? 0 : $0 }, label)
                    XCTAssertEqual(try b.downloadInt32(idx), expectedIndices, "indices \(label)")
                    let y2 = try b.allocate(d.outputCount, dtype: .float32)
                    try b.poolingForward(d, x: xb, y: y2, indices: nil)
                    XCTAssertEqual(try b.download(y2).map(\.bitPattern), got.map(\.bitPattern), "no indices \(label)")
                    let dx = try b.allocate(d.inputCount, dtype: .float32)
                    try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: idx, dx: dx)
                    assertClose(try b.download(dx), expectedDx, tolerance: 1e-6, "dx \(label)")
                    // With ReLU's backward folded in: winners that are not positive pass nothing.
                    var masked = d
                    masked.masksNonPositiveWinners = true
                    try b.poolingForward(masked, x: xb, y: y, indices: idx)
                    XCTAssertEqual(try b.downloadInt32(idx), zip(expectedIndices, expected).map { $1 > 0 ? $0 : -1 },
                                   "masked indices \(label)")
                    try b.poolingBackward(masked, dy: try b.makeBuffer(dy), indices: idx, dx: dx)
                    assertClose(try b.download(dx), zip(expectedDx, x).map { $1 > 0 ? $0 : 0 }, tolerance: 1e-6,
                                "masked dx \(label)")
                }
            }
        }
    }

    /// Each 2×2/2 window's winner as PyTorch picks it (PoolingReference has no NaN rule): the
    /// last NaN in row-major order, else the first maximum.
    private func winners(_ d: Pool2DDescriptor, _ x: [Float]) -> [Int32] {
        var result: [Int32] = []
        for p in 0..<(d.batch * d.channels) {
            for oh in 0..<d.outH {
                for ow in 0..<d.outW {
                    let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { (2 * oh + $0.0) * d.inW + 2 * ow + $0.1 }
                    let value = { x[p * d.inH * d.inW + $0] }
                    let nan = window.last { value($0).isNaN }
                    let first = window.dropFirst().reduce(window[0]) { value($1) > value($0) ? $1 : $0 }
                    result.append(Int32(nan ?? first))
                }
            }
        }
        return result
    }
}
