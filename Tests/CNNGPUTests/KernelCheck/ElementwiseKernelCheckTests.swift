@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/elementwise.cl and Kernels/dropout.cl once on tiny shapes, for
/// the oclgrind script (out-of-bounds and race checks). Correctness is ElementwiseTests' job.
final class KernelCheckElementwiseTests: XCTestCase {
    func testEveryElementwiseAndDropoutKernel() throws {
        let b = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let n = 257
        let a = try b.makeBuffer(rng.floats(n)), c = try b.makeBuffer(rng.floats(n))
        // Outputs are uploaded rather than just allocated: oclgrind 21.10's --uninitialized
        // keeps stale shadow state when a released buffer's address is reused, and then flags
        // reads of kernel-written elements past the old buffer's size.
        let out = try b.makeBuffer(rng.floats(n)), mask = try b.makeBuffer(rng.floats(n))
        try b.add(count: n, a: a, b: c, out: out)
        try b.multiply(count: n, a: a, b: c, out: out)
        try b.scale(count: n, alpha: 0.5, x: a, out: out)
        try b.axpy(count: n, alpha: 0.5, x: a, y: out)
        try b.dropoutForward(count: n, probability: 0.5, seed: 42, x: a, y: out, mask: mask)
        try b.synchronize()
        XCTAssert(try b.download(out).allSatisfy(\.isFinite))
    }
}
