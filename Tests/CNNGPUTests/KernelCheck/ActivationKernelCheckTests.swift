@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/activation.cl and Kernels/softmax.cl once on tiny shapes, for
/// the oclgrind script (out-of-bounds and race checks). Correctness is ActivationTests' job.
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
        // The work-group kernels: one row shorter and one longer than a work-group.
        for shape in [AxisShape(outer: 2, axis: 70, inner: 1), AxisShape(outer: 1, axis: 300, inner: 1)] {
            try b.softmaxForward(shape, log: false, x: x, y: y, algorithm: .workgroup)
            try b.softmaxBackward(shape, log: true, y: y, dy: dy, dx: dx, algorithm: .workgroup)
        }
        // [N=3, C=14, S=5] in groups of 7.
        try b.maxoutForward(batch: 3, channels: 14, groupSize: 7, spatial: 5, x: x, y: y)
        try b.maxoutBackward(batch: 3, channels: 14, groupSize: 7, spatial: 5, x: x, dy: dy, dx: dx)
        try b.synchronize()
        XCTAssert(try b.download(dx).allSatisfy(\.isFinite))
    }
}
