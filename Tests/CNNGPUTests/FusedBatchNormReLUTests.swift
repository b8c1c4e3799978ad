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

    /// Given β, the OpenCL backward recomputes the ReLU mask from x instead of reading y: its
    /// results must equal the y-reading form's to the bit. β is set so that in every other channel
    /// one element's pre-activation is zero up to rounding (where the forward's rounding decides
    /// the mask), the others have β = −0; x repeats small integers (ties), and rows have vector
    /// tails and partial tiles.
    func testBackwardWithBetaEqualsTheForwardOutputsMaskToTheBit() throws {
        var rng = SeededGenerator.fresh()
        let shapes = [AxisShape(outer: 2, axis: 3, inner: 1031), AxisShape(outer: 3, axis: 2, inner: 7),
                      AxisShape(outer: 4, axis: 5, inner: 1), AxisShape(outer: 1, axis: 2, inner: 4099)]
        for shape in shapes {
            let n = shape.count, c = shape.axis
            let x = (0..<n).map { i in i % 3 == 0 ? Float(i % 5) : Float.random(in: -2...2, using: &rng) }
            let dy = rng.floats(n), gamma = rng.floats(c, in: 0.5...1.5)
            for b in TestBackends.conforming((any Backend).self) {
                let m = "\(b.testName) \(shape) seed \(rng.seed)"
                let X = try b.makeBuffer(x), DY = try b.makeBuffer(dy), G = try b.makeBuffer(gamma)
                let y = try b.allocate(n, dtype: .float32)
                let mean = try b.allocate(c, dtype: .float32), invStd = try b.allocate(c, dtype: .float32)
                func forward(_ beta: [Float]) throws -> any DeviceBuffer {
                    let B = try b.makeBuffer(beta)
                    try b.batchNormForwardTraining(shape, x: X, gamma: G, beta: B, y: y,
                                                   runningMean: try b.makeBuffer([Float](repeating: 0, count: c)),
                                                   runningVar: try b.makeBuffer([Float](repeating: 1, count: c)),
                                                   momentum: 0.1, epsilon: 1e-5, savedMean: mean, savedInvStd: invStd,
                                                   relu: true)
                    return B
                }
                _ = try forward([Float](repeating: 0, count: c))
                // β_c = −γ_c·(x_k − μ_c)·invStd_c for an element k of channel c (the statistics do not
                // depend on β), so that element's pre-activation is a rounding residue of either sign.
                let mu = try b.download(mean), s = try b.download(invStd)
                let beta = (0..<c).map { ch -> Float in
                    let k = ch * shape.inner + (ch * 7) % shape.inner
                    return ch % 2 == 0 ? -((x[k] - mu[ch]) * s[ch] * gamma[ch]) : -0.0
                }
                let B = try forward(beta)
                XCTAssertEqual(try b.download(DY), dy, "dy must not be modified \(m)")
                func backward(_ beta: (any DeviceBuffer)?) throws -> [[Float]] {
                    let dx = try b.allocate(n, dtype: .float32)
                    let dGamma = try b.allocate(c, dtype: .float32), dBeta = try b.allocate(c, dtype: .float32)
                    try b.batchNormReLUBackward(shape, x: X, y: y, dy: DY, gamma: G, beta: beta, savedMean: mean,
                                                savedInvStd: invStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
                    return [try b.download(dx), try b.download(dGamma), try b.download(dBeta)]
                }
                let fromY = try backward(nil), fromX = try backward(B)
                for (i, name) in ["dx", "dGamma", "dBeta"].enumerated() {
                    XCTAssertEqual(fromX[i].map(\.bitPattern), fromY[i].map(\.bitPattern), "\(name) \(m)")
                }
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

    func testReLUBackwardNeedsAForwardOutputAndBetaOfTheRightSize() throws {
        let shape = AxisShape(outer: 2, axis: 3, inner: 4)
        for b in TestBackends.conforming((any Backend).self) {
            let full = try b.allocate(shape.count, dtype: .float32), short = try b.allocate(shape.count - 1, dtype: .float32)
            let perChannel = try b.allocate(3, dtype: .float32)
            assertThrowsCNNError({
                try b.batchNormReLUBackward(shape, x: full, y: short, dy: full, gamma: perChannel, savedMean: perChannel,
                                            savedInvStd: perChannel, dx: full, dGamma: perChannel, dBeta: perChannel)
            }, b.testName)
            let shortBeta = try b.allocate(2, dtype: .float32)
            assertThrowsCNNError({
                try b.batchNormReLUBackward(shape, x: full, y: full, dy: full, gamma: perChannel, beta: shortBeta,
                                            savedMean: perChannel, savedInvStd: perChannel, dx: full,
                                            dGamma: perChannel, dBeta: perChannel)
            }, "β of 2 for 3 channels \(b.testName)")
        }
    }
}
