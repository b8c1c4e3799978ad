@testable import CNNGPU
import XCTest

/// A residual add and its activation in one op agree with add, then the activation, on every
/// backend, including in place (out aliasing a).
final class FusedAddActivationTests: XCTestCase {
    func testFusedAddMatchesAddThenActivation() throws {
        var rng = SeededGenerator.fresh()
        for count in [1, 7, Int.random(in: 100...9000, using: &rng)] {
            let a = rng.floats(count, in: -3...3), bv = rng.floats(count, in: -3...3)
            for b in TestBackends.conforming((any Backend).self) {
                for activation in FusedConvolutionTests.activations {
                    let m = "\(b.testName) \(activation) count \(count) seed \(rng.seed)"
                    let A = try b.makeBuffer(a), B = try b.makeBuffer(bv)
                    let fused = try b.allocate(count, dtype: .float32), plain = try b.allocate(count, dtype: .float32)
                    try b.add(count: count, a: A, b: B, out: fused, activation: activation)
                    try b.add(count: count, a: A, b: B, out: plain)
                    try b.activationForward(activation, count: count, x: plain, y: plain)
                    let expected = try b.download(plain)
                    assertClose(try b.download(fused), expected, tolerance: 1e-6, m)
                    try b.add(count: count, a: A, b: B, out: A, activation: activation)
                    assertClose(try b.download(A), expected, tolerance: 1e-6, "in place \(m)")
                }
            }
        }
    }

    func testFusedAddRejectsANonFiniteSlope() throws {
        for b in TestBackends.conforming((any Backend).self) {
            let x = try b.allocate(4, dtype: .float32)
            assertThrowsCNNError({ try b.add(count: 4, a: x, b: x, out: x, activation: .leakyReLU(alpha: .nan)) },
                                 b.testName)
        }
    }
}
