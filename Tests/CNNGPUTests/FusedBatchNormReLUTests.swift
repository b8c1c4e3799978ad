@testable import CNNGPU
import XCTest

/// Batch norm + ReLU in one op, forward (training and inference) and backward, agrees with
/// the unfused sequence (batch norm, then ReLU; ReLU backward, then batch-norm backward) on
/// random shapes on every backend, and leaves dy untouched.
final class FusedBatchNormReLUTests: XCTestCase {
    func testTrainingForwardAndBackwardMatchTheUnfusedSequence() throws {
        var rng = SeededGenerator.fresh()
        for _ in 0..<4 {
            let shape = AxisShape(outer: Int.random(in: 1...4, using: &rng), axis: Int.random(in: 1...5, using: &rng),
                                  inner: Int.random(in: 2...37, using: &rng))
            let n = shape.count, c = shape.axis
            let x = rng.floats(n, in: -2...2), dy = rng.floats(n)
            let gamma = rng.floats(c, in: 0.5...1.5), beta = rng.floats(c, in: -0.5...0.5)
            let runningMean = rng.floats(c), runningVar = rng.floats(c, in: 0.5...2)
            for b in TestBackends.conforming((any Backend).self) {
                let m = "\(b.testName) \(shape) seed \(rng.seed)"
                let X = try b.makeBuffer(x), DY = try b.makeBuffer(dy)
                let G = try b.makeBuffer(gamma), B = try b.makeBuffer(beta)
                func training(relu: Bool) throws -> (y: any DeviceBuffer, mean: any DeviceBuffer, invStd: any DeviceBuffer,
                                                     running: [Float]) {
                    let y = try b.allocate(n, dtype: .float32)
                    let rm = try b.makeBuffer(runningMean), rv = try b.makeBuffer(runningVar)
                    let mean = try b.allocate(c, dtype: .float32), invStd = try b.allocate(c, dtype: .float32)
                    try b.batchNormForwardTraining(shape, x: X, gamma: G, beta: B, y: y, runningMean: rm, runningVar: rv,
                                                   momentum: 0.1, epsilon: 1e-5, savedMean: mean, savedInvStd: invStd,
                                                   relu: relu)
                    return (y, mean, invStd, try b.download(rm) + b.download(rv))
                }
                let fused = try training(relu: true), plain = try training(relu: false)
                let bn = try b.download(plain.y)
                try b.activationForward(.relu, count: n, x: plain.y, y: plain.y)
                assertClose(try b.download(fused.y), try b.download(plain.y), tolerance: 1e-6, "forward \(m)")
                assertClose(fused.running, plain.running, tolerance: 1e-6, "running statistics \(m)")

                let dx = try b.allocate(n, dtype: .float32)
                let dGamma = try b.allocate(c, dtype: .float32), dBeta = try b.allocate(c, dtype: .float32)
                try b.batchNormReLUBackward(shape, x: X, y: fused.y, dy: DY, gamma: G, savedMean: fused.mean,
                                            savedInvStd: fused.invStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
                XCTAssertEqual(try b.download(DY), dy, "dy must not be modified \(m)")

                // Unfused: ReLU backward from the batch-norm output, then batch-norm backward.
                let masked = try b.allocate(n, dtype: .float32), BN = try b.makeBuffer(bn)
                try b.activationBackward(.relu, count: n, x: BN, y: plain.y, dy: DY, dx: masked)
                let dx2 = try b.allocate(n, dtype: .float32)
                let dGamma2 = try b.allocate(c, dtype: .float32), dBeta2 = try b.allocate(c, dtype: .float32)
                try b.batchNormBackward(shape, x: X, dy: masked, gamma: G, savedMean: plain.mean,
                                        savedInvStd: plain.invStd, dx: dx2, dGamma: dGamma2, dBeta: dBeta2)
                assertClose(try b.download(dx), try b.download(dx2), tolerance: 1e-5, "dx \(m)")
                assertClose(try b.download(dGamma), try b.download(dGamma2), tolerance: 1e-5, "dGamma \(m)")
                assertClose(try b.download(dBeta), try b.download(dBeta2), tolerance: 1e-5, "dBeta \(m)")
            }
        }
    }

    func testInferenceForwardMatchesTheUnfusedSequence() throws {
        var rng = SeededGenerator.fresh()
        let shape = AxisShape(outer: 3, axis: 4, inner: 13)
        let x = rng.floats(shape.count, in: -2...2)
        let gamma = rng.floats(4, in: 0.5...1.5), beta = rng.floats(4), mean = rng.floats(4), variance = rng.floats(4, in: 0.5...2)
        for b in TestBackends.conforming((any Backend).self) {
            let X = try b.makeBuffer(x), G = try b.makeBuffer(gamma), B = try b.makeBuffer(beta)
            let RM = try b.makeBuffer(mean), RV = try b.makeBuffer(variance)
            let fused = try b.allocate(shape.count, dtype: .float32), plain = try b.allocate(shape.count, dtype: .float32)
            try b.batchNormForwardInference(shape, x: X, gamma: G, beta: B, runningMean: RM, runningVar: RV,
                                            epsilon: 1e-5, y: fused, relu: true)
            try b.batchNormForwardInference(shape, x: X, gamma: G, beta: B, runningMean: RM, runningVar: RV,
                                            epsilon: 1e-5, y: plain)
            try b.activationForward(.relu, count: shape.count, x: plain, y: plain)
            assertClose(try b.download(fused), try b.download(plain), tolerance: 1e-6, "\(b.testName) seed \(rng.seed)")
        }
    }

    func testReLUBackwardNeedsAForwardOutputOfTheRightSize() throws {
        let shape = AxisShape(outer: 2, axis: 3, inner: 4)
        for b in TestBackends.conforming((any Backend).self) {
            let full = try b.allocate(shape.count, dtype: .float32), short = try b.allocate(shape.count - 1, dtype: .float32)
            let perChannel = try b.allocate(3, dtype: .float32)
            assertThrowsCNNError({
                try b.batchNormReLUBackward(shape, x: full, y: short, dy: full, gamma: perChannel, savedMean: perChannel,
                                            savedInvStd: perChannel, dx: full, dGamma: perChannel, dBeta: perChannel)
            }, b.testName)
        }
    }
}
