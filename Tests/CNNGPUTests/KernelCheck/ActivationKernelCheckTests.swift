@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/activation.cl and the row-wise ones of Kernels/softmax.cl once
/// on tiny shapes, for the oclgrind script (out-of-bounds and race checks). Correctness is
/// ActivationTests' job.
final class KernelCheckActivationTests: XCTestCase {
    func testEveryActivationAndSoftmaxKernel() throws {
        let b = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let n = 420
        // Outputs are uploaded rather than just allocated (see KernelCheckElementwiseTests).
        let x = try b.makeBuffer(rng.floats(n)), y = try b.makeBuffer(rng.floats(n))
        let dy = try b.makeBuffer(rng.floats(n)), dx = try b.makeBuffer(rng.floats(n))
        for f: Activation in [.relu, .leakyReLU(alpha: 0.1), .elu(alpha: 1), .sigmoid, .tanh] {
            try b.activationForward(f, count: n, x: x, y: y)
            try b.activationBackward(f, count: n, x: x, y: y, dy: dy, dx: dx)
        }
        // Contiguous rows, and strided rows whose launch is rounded up past `inner` (70 → 128).
        for shape in [AxisShape(outer: 3, axis: 7, inner: 1), AxisShape(outer: 2, axis: 3, inner: 70)] {
            for log in [false, true] {
                try b.softmaxForward(shape, log: log, x: x, y: y)
                try b.softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx)
            }
        }
        // [N=3, C=14, S=5] in groups of 7.
        try b.maxoutForward(batch: 3, channels: 14, groupSize: 7, spatial: 5, x: x, y: y)
        try b.maxoutBackward(batch: 3, channels: 14, groupSize: 7, spatial: 5, x: x, dy: dy, dx: dx)
        try b.synchronize()
        XCTAssert(try b.download(dx).allSatisfy(\.isFinite))
    }
}

/// The work-group-per-row softmax kernels in their vector forms (SOFTMAX_VEC 2, 4, 8, 16), in a class
/// of their own: oclgrind 21.10's --uninitialized checker crashes inside the simulator on them
/// (as on the batch-norm reductions; the scalar form below runs under it), and
/// scripts/check-kernels.sh then names this class as checked for out-of-bounds accesses and
/// races only, leaving the other activation kernels under that checker.
final class KernelCheckSoftmaxVectorTests: XCTestCase {
    func testWorkGroupSoftmaxVectorForms() throws {
        for vector in [2, 4, 8, 16] { try runWorkGroupSoftmax(vector: vector) }
    }
}

/// The work-group-per-row softmax kernels with one float per load (SOFTMAX_VEC 1), which
/// oclgrind's --uninitialized checker can run.
final class KernelCheckSoftmaxScalarTests: XCTestCase {
    func testWorkGroupSoftmaxScalarForm() throws { try runWorkGroupSoftmax(vector: 1) }
}

/// Both modes, forward and backward, of the work-group softmax kernels at SOFTMAX_VEC `vector`
/// (work-groups of 2, 4, 8, 16 and 128, both orders of a work-item's vectors, the kernel's own
/// exponential and the built-in one): rows shorter than a
/// vector per work-item, and rows longer than a pass of the group with a partial last vector.
private func runWorkGroupSoftmax(vector: Int) throws {
    let b = try TestBackends.requireOpenCL()
    defer { try? b.memoryBound.set(MemoryBoundTunables.softmax, nil) }
    var rng = SeededGenerator.fresh()
    // Two rows of the longest shape below (128 work-items × `vector` floats + 3).
    let n = 2 * (128 * vector + 3)
    let x = try b.makeBuffer(rng.floats(n)), y = try b.makeBuffer(rng.floats(n))
    let dy = try b.makeBuffer(rng.floats(n)), dx = try b.makeBuffer(rng.floats(n))
    for (wg, contiguous, polyExp) in [(16, 0, 1), (128, 0, 0), (2, 1, 1), (4, 1, 1), (8, 1, 0), (128, 1, 1)] {
        try b.memoryBound.set(MemoryBoundTunables.softmax,
                              ["SOFTMAX_WG": wg, "SOFTMAX_VEC": vector, "SOFTMAX_CONTIGUOUS": contiguous,
                               "SOFTMAX_POLY_EXP": polyExp])
        for shape in [AxisShape(outer: 2, axis: 70, inner: 1), AxisShape(outer: 2, axis: wg * vector + 3, inner: 1)] {
            for log in [false, true] {
                try b.softmaxForward(shape, log: log, x: x, y: y, algorithm: .workgroup)
                try b.softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx, algorithm: .workgroup)
            }
        }
    }
    try b.synchronize()
    XCTAssert(try b.download(dx).allSatisfy(\.isFinite))
}
