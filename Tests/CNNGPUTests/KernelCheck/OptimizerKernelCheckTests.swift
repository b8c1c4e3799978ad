@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/optimizer.cl once on tiny shapes, for scripts/check-kernels.sh
/// (oclgrind). OptimizerTests checks the values.
final class KernelCheckOptimizerTests: XCTestCase {
    func testEveryOptimizerKernel() throws {
        let b = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let count = 203
        let w = try b.makeBuffer(rng.floats(count)), g = try b.makeBuffer(rng.floats(count))
        let zeros = [Float](repeating: 0, count: count)
        let v = try b.makeBuffer(zeros), m = try b.makeBuffer(zeros), s = try b.makeBuffer(zeros)

        // sgd_update
        try b.sgdUpdate(SGDParameters(learningRate: 0.1, weightDecay: 0.01), count: count, weights: w,
                        gradients: g, velocity: nil)
        // sgd_momentum_update, plain and Nesterov
        try b.sgdUpdate(SGDParameters(learningRate: 0.1, momentum: 0.9, dampening: 0.1), count: count,
                        weights: w, gradients: g, velocity: v)
        try b.sgdUpdate(SGDParameters(learningRate: 0.1, momentum: 0.9, nesterov: true), count: count,
                        weights: w, gradients: g, velocity: v)
        // adam_update, Adam and AdamW
        try b.adamUpdate(AdamParameters(weightDecay: 0.01, step: 1), count: count, weights: w, gradients: g, m: m, v: s)
        try b.adamUpdate(AdamParameters(weightDecay: 0.01, decoupledWeightDecay: true, step: 2), count: count,
                         weights: w, gradients: g, m: m, v: s)
        // rmsprop_update, rmsprop_momentum_update (the square average must start ≥ 0: fresh buffers)
        let square = try b.makeBuffer(zeros), buffer = try b.makeBuffer(zeros)
        try b.rmspropUpdate(RMSpropParameters(learningRate: 0.01, weightDecay: 0.01), count: count, weights: w, gradients: g,
                            square: square, momentum: nil)
        try b.rmspropUpdate(RMSpropParameters(learningRate: 0.01, momentum: 0.9), count: count, weights: w, gradients: g,
                            square: square, momentum: buffer)
        XCTAssertTrue(try b.download(w).allSatisfy(\.isFinite))
    }
}
