import CNNGPU
import XCTest

/// Compares values that are sums whose terms can cancel (per-channel gradients, means of
/// signed data). A float sum's rounding error scales with Σ|terms|, not with the result, so
/// each value must be within `tolerance · magnitudes[i]` of the expected one.
func assertSumsClose(_ actual: [Float], _ expected: [Double], magnitudes: [Double], tolerance: Double = 1e-5,
                     _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count, expected.count == magnitudes.count else {
        XCTFail("\(message()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    for i in expected.indices {
        let error = abs(Double(actual[i]) - expected[i])
        if !(error <= tolerance * magnitudes[i]) {
            XCTFail("\(message()): [\(i)] got \(actual[i]), expected \(expected[i]); error \(error) > \(tolerance) × "
                + "Σ|terms| \(magnitudes[i])", file: file, line: line)
            return
        }
    }
}

final class BatchNormalizationTests: XCTestCase {
    /// Batch 3 × 3 channels × 7×5, a dense layer (inner 1), a single channel, and a batch of 2
    /// with ResNet-like spatial size.
    static let shapes = [AxisShape(outer: 3, axis: 3, inner: 35), AxisShape(outer: 5, axis: 7, inner: 1),
                         AxisShape(outer: 2, axis: 1, inner: 6), AxisShape(outer: 2, axis: 4, inner: 300)]

    struct Inputs {
        var x: [Float], gamma: [Float], beta: [Float], runningMean: [Float], runningVar: [Float]

        init(x: [Float], gamma: [Float], beta: [Float], runningMean: [Float], runningVar: [Float]) {
            self.x = x; self.gamma = gamma; self.beta = beta
            self.runningMean = runningMean; self.runningVar = runningVar
        }

        init(_ s: AxisShape, _ rng: inout SeededGenerator) {
            // An offset mean checks that the variance does not cancel (two-pass).
            x = rng.floats(s.count).map { 3 + 2 * $0 }
            gamma = rng.floats(s.axis, in: 0.5...1.5)
            beta = rng.floats(s.axis)
            runningMean = rng.floats(s.axis)
            runningVar = rng.floats(s.axis, in: 0.5...2)
        }
    }

    /// Runs the training forward pass; returns y, savedMean, savedInvStd, runningMean, runningVar.
    func train(_ b: any NormalizationOps, _ s: AxisShape, _ v: Inputs, momentum: Float = 0.1,
               epsilon: Float = 1e-5) throws -> [[Float]] {
        let x = try b.makeBuffer(v.x), gamma = try b.makeBuffer(v.gamma), beta = try b.makeBuffer(v.beta)
        let rm = try b.makeBuffer(v.runningMean), rv = try b.makeBuffer(v.runningVar)
        let y = try b.allocate(s.count, dtype: .float32)
        let mean = try b.allocate(s.axis, dtype: .float32), invStd = try b.allocate(s.axis, dtype: .float32)
        try b.batchNormForwardTraining(s, x: x, gamma: gamma, beta: beta, y: y, runningMean: rm, runningVar: rv,
                                       momentum: momentum, epsilon: epsilon, savedMean: mean, savedInvStd: invStd)
        return try [y, mean, invStd, rm, rv].map { try b.download($0) }
    }

    /// Runs training forward then backward; returns dx, dGamma, dBeta.
    func backward(_ b: any NormalizationOps, _ s: AxisShape, _ v: Inputs, dy: [Float]) throws -> [[Float]] {
        let x = try b.makeBuffer(v.x), gamma = try b.makeBuffer(v.gamma), beta = try b.makeBuffer(v.beta)
        let rm = try b.makeBuffer(v.runningMean), rv = try b.makeBuffer(v.runningVar)
        let y = try b.allocate(s.count, dtype: .float32)
        let mean = try b.allocate(s.axis, dtype: .float32), invStd = try b.allocate(s.axis, dtype: .float32)
        try b.batchNormForwardTraining(s, x: x, gamma: gamma, beta: beta, y: y, runningMean: rm, runningVar: rv,
                                       momentum: 0.1, epsilon: 1e-5, savedMean: mean, savedInvStd: invStd)
        let dyb = try b.makeBuffer(dy), dx = try b.allocate(s.count, dtype: .float32)
        let dGamma = try b.allocate(s.axis, dtype: .float32), dBeta = try b.allocate(s.axis, dtype: .float32)
        try b.batchNormBackward(s, x: x, dy: dyb, gamma: gamma, savedMean: mean, savedInvStd: invStd,
                                dx: dx, dGamma: dGamma, dBeta: dBeta)
        return try [dx, dGamma, dBeta].map { try b.download($0) }
    }

    func testTrainingForwardMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any NormalizationOps).self) {
            for s in Self.shapes {
                let v = Inputs(s, &rng)
                let label = "\(b.testName) \(s) seed \(rng.seed)"
                let got = try train(b, s, v)
                let expected = NormalizationReference.batchNormTraining(
                    s, x: v.x.doubles, gamma: v.gamma.doubles, beta: v.beta.doubles,
                    runningMean: v.runningMean.doubles, runningVar: v.runningVar.doubles, momentum: 0.1, epsilon: 1e-5)
                assertClose(got[0], expected.y, label + " y")
                assertClose(got[1], expected.mean, label + " savedMean")
                assertClose(got[2], expected.invStd, label + " savedInvStd")
                assertClose(got[3], expected.runningMean, label + " runningMean")
                assertClose(got[4], expected.runningVar, label + " runningVar")
            }
        }
    }

    /// Worked by hand: one channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25 (used to
    /// normalize), unbiased 5/3 (used for the running variance, as in PyTorch).
    func testRunningStatisticsUseUnbiasedVariance() throws {
        for b in TestBackends.conforming((any NormalizationOps).self) {
            let s = AxisShape(outer: 2, axis: 1, inner: 2)
            let v = Inputs(x: [1, 2, 3, 4], gamma: [1], beta: [0], runningMean: [0], runningVar: [1])
            let got = try train(b, s, v, momentum: 0.1, epsilon: 0)
            XCTAssertEqual(got[1][0], 2.5, accuracy: 1e-6, b.testName)
            XCTAssertEqual(got[2][0], Float(1 / 1.25.squareRoot()), accuracy: 1e-6, b.testName)
            XCTAssertEqual(got[3][0], 0.25, accuracy: 1e-6, b.testName)
            XCTAssertEqual(got[4][0], Float(0.9 + 0.1 * 5.0 / 3.0), accuracy: 1e-6, b.testName)
            assertClose(got[0], [-1.5, -0.5, 0.5, 1.5].map { $0 / 1.25.squareRoot() }, b.testName)
        }
    }

    func testInferenceMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any NormalizationOps).self) {
            for s in Self.shapes {
                let v = Inputs(s, &rng)
                let x = try b.makeBuffer(v.x), y = try b.allocate(s.count, dtype: .float32)
                try b.batchNormForwardInference(s, x: x, gamma: try b.makeBuffer(v.gamma), beta: try b.makeBuffer(v.beta),
                                                runningMean: try b.makeBuffer(v.runningMean),
                                                runningVar: try b.makeBuffer(v.runningVar), epsilon: 1e-3, y: y)
                let expected = NormalizationReference.batchNormInference(
                    s, x: v.x.doubles, gamma: v.gamma.doubles, beta: v.beta.doubles,
                    runningMean: v.runningMean.doubles, runningVar: v.runningVar.doubles, epsilon: 1e-3)
                assertClose(try b.download(y), expected, "\(b.testName) \(s) seed \(rng.seed)")
            }
        }
    }

    /// The backward pass through the batch statistics, against the textbook formula and against
    /// finite differences of the training forward pass (for dx, dGamma and dBeta).
    func testBackwardMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any NormalizationOps).self) {
            for s in Self.shapes where s.count < 1000 {
                let v = Inputs(s, &rng), dy = rng.floats(s.count)
                let label = "\(b.testName) \(s) seed \(rng.seed)"
                let got = try backward(b, s, v, dy: dy)
                let expected = NormalizationReference.batchNormBackward(s, x: v.x.doubles, dy: dy.doubles,
                                                                        gamma: v.gamma.doubles, epsilon: 1e-5)
                let magnitudes = NormalizationReference.batchNormGradientMagnitudes(s, x: v.x.doubles, dy: dy.doubles,
                                                                                    epsilon: 1e-5)
                assertClose(got[0], expected.dx, label + " dx")
                assertSumsClose(got[1], expected.dGamma, magnitudes: magnitudes.dGamma, label + " dGamma")
                assertSumsClose(got[2], expected.dBeta, magnitudes: magnitudes.dBeta, label + " dBeta")

                func y(x: [Double], gamma: [Double], beta: [Double]) -> [Double] {
                    NormalizationReference.batchNormTraining(s, x: x, gamma: gamma, beta: beta,
                                                             runningMean: v.runningMean.doubles,
                                                             runningVar: v.runningVar.doubles, momentum: 0.1,
                                                             epsilon: 1e-5).y
                }
                let (x, gamma, beta) = (v.x.doubles, v.gamma.doubles, v.beta.doubles)
                assertClose(got[0], finiteDifferenceGradient(at: x, weights: dy.doubles) { y(x: $0, gamma: gamma, beta: beta) },
                            label + " dx vs finite differences")
                assertSumsClose(got[1], finiteDifferenceGradient(at: gamma, weights: dy.doubles) { y(x: x, gamma: $0, beta: beta) },
                                magnitudes: magnitudes.dGamma, label + " dGamma vs finite differences")
                assertSumsClose(got[2], finiteDifferenceGradient(at: beta, weights: dy.doubles) { y(x: x, gamma: gamma, beta: $0) },
                                magnitudes: magnitudes.dBeta, label + " dBeta vs finite differences")
            }
        }
    }

    func testLargeChannelIsAccurate() throws {
        // 64k values per channel around a large mean: float accumulation must stay accurate.
        var rng = SeededGenerator.fresh()
        let s = AxisShape(outer: 4, axis: 2, inner: 16_384)
        for b in TestBackends.conforming((any NormalizationOps).self) {
            var v = Inputs(s, &rng)
            v.x = v.x.map { 100 + $0 }
            let got = try train(b, s, v)
            let expected = NormalizationReference.batchNormTraining(
                s, x: v.x.doubles, gamma: v.gamma.doubles, beta: v.beta.doubles,
                runningMean: v.runningMean.doubles, runningVar: v.runningVar.doubles, momentum: 0.1, epsilon: 1e-5)
            assertClose(got[1], expected.mean, "\(b.testName) mean seed \(rng.seed)")
            assertClose(got[2], expected.invStd, tolerance: 1e-3, "\(b.testName) invStd seed \(rng.seed)")
            assertClose(got[0], expected.y, tolerance: 1e-3, "\(b.testName) y seed \(rng.seed)")
        }
    }

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        for s in Self.shapes {
            let v = Inputs(s, &rng), dy = rng.floats(s.count)
            let label = "\(s) seed \(rng.seed)"
            let cpuForward = try train(TestBackends.cpu, s, v), clForward = try train(cl, s, v)
            for (name, (c, o)) in zip(["y", "savedMean", "savedInvStd", "runningMean", "runningVar"],
                                      zip(cpuForward, clForward)) {
                assertClose(o, c, tolerance: 1e-5, "\(label) \(name)")
            }
            let cpuBackward = try backward(TestBackends.cpu, s, v, dy: dy), clBackward = try backward(cl, s, v, dy: dy)
            let magnitudes = NormalizationReference.batchNormGradientMagnitudes(s, x: v.x.doubles, dy: dy.doubles,
                                                                                epsilon: 1e-5)
            assertClose(clBackward[0], cpuBackward[0], tolerance: 1e-5, "\(label) dx")
            assertSumsClose(clBackward[1], cpuBackward[1].doubles, magnitudes: magnitudes.dGamma, "\(label) dGamma")
            assertSumsClose(clBackward[2], cpuBackward[2].doubles, magnitudes: magnitudes.dBeta, "\(label) dBeta")
        }
    }

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any NormalizationOps).self) {
            let s = AxisShape(outer: 2, axis: 3, inner: 4)
            let x = try b.allocate(s.count, dtype: .float32), y = try b.allocate(s.count, dtype: .float32)
            let c = try b.allocate(3, dtype: .float32), c2 = try b.allocate(3, dtype: .float32)
            let short = try b.allocate(2, dtype: .float32), ints = try b.allocate(3, dtype: .int32)
            let shortFull = try b.allocate(s.count - 1, dtype: .float32)
            let name = b.testName
            func train(_ s: AxisShape, x: any DeviceBuffer = x, gamma: any DeviceBuffer = c, y: any DeviceBuffer = y,
                       runningVar: any DeviceBuffer = c2, savedInvStd: any DeviceBuffer = c,
                       momentum: Float = 0.1, epsilon: Float = 1e-5) throws {
                try b.batchNormForwardTraining(s, x: x, gamma: gamma, beta: c, y: y, runningMean: c2,
                                               runningVar: runningVar, momentum: momentum, epsilon: epsilon,
                                               savedMean: c, savedInvStd: savedInvStd)
            }
            assertThrowsCNNError({ try train(AxisShape(outer: 0, axis: 3, inner: 4)) }, "\(name): zero batch")
            assertThrowsCNNError({ try train(AxisShape(outer: 2, axis: 3, inner: -1)) }, "\(name): negative inner")
            assertThrowsCNNError({ try train(AxisShape(outer: 1, axis: 3, inner: 1)) }, "\(name): one value per channel")
            assertThrowsCNNError({ try train(s, x: shortFull) }, "\(name): short x")
            assertThrowsCNNError({ try train(s, y: shortFull) }, "\(name): short y")
            assertThrowsCNNError({ try train(s, gamma: short) }, "\(name): short gamma")
            assertThrowsCNNError({ try train(s, runningVar: ints) }, "\(name): Int32 running variance")
            assertThrowsCNNError({ try train(s, savedInvStd: short) }, "\(name): short savedInvStd")
            assertThrowsCNNError({ try train(s, epsilon: -1) }, "\(name): negative epsilon")
            assertThrowsCNNError({ try train(s, momentum: 1.5) }, "\(name): momentum above 1")
            assertThrowsCNNError({
                try b.batchNormForwardInference(s, x: x, gamma: c, beta: c, runningMean: short, runningVar: c,
                                                epsilon: 1e-5, y: y)
            }, "\(name): inference, short running mean")
            assertThrowsCNNError({
                try b.batchNormForwardInference(AxisShape(outer: 2, axis: 0, inner: 4), x: x, gamma: c, beta: c,
                                                runningMean: c, runningVar: c, epsilon: 1e-5, y: y)
            }, "\(name): inference, zero channels")
            assertThrowsCNNError({
                try b.batchNormBackward(s, x: x, dy: shortFull, gamma: c, savedMean: c, savedInvStd: c,
                                        dx: y, dGamma: c, dBeta: c)
            }, "\(name): backward, short dy")
            assertThrowsCNNError({
                try b.batchNormBackward(s, x: x, dy: x, gamma: c, savedMean: c, savedInvStd: c,
                                        dx: y, dGamma: short, dBeta: c)
            }, "\(name): backward, short dGamma")
            assertThrowsCNNError({
                try b.batchNormBackward(s, x: try CPUBackend().allocate(s.count, dtype: .float32), dy: x, gamma: c,
                                        savedMean: c, savedInvStd: c, dx: y, dGamma: c, dBeta: c)
            }, "\(name): backward, foreign x")
        }
    }
}

final class LocalResponseNormalizationTests: XCTestCase {
    /// AlexNet's parameters, an even window, a window wider than the channels, and size 1.
    static let cases: [(LRNParameters, batch: Int, channels: Int, spatial: Int)] = [
        (LRNParameters(size: 5, alpha: 1e-4, beta: 0.75, k: 2), 2, 7, 35),
        (LRNParameters(size: 4, alpha: 0.5, beta: 0.6, k: 1), 3, 6, 5),
        (LRNParameters(size: 9, alpha: 1, beta: 0.75, k: 1.5), 1, 3, 12),
        (LRNParameters(size: 1, alpha: 2, beta: 1, k: 0.5), 2, 3, 4),
    ]

    func forward(_ b: any NormalizationOps, _ c: (LRNParameters, batch: Int, channels: Int, spatial: Int),
                 x: [Float], dy: [Float]) throws -> (y: [Float], scale: [Float], dx: [Float]) {
        let count = x.count
        let xb = try b.makeBuffer(x), y = try b.allocate(count, dtype: .float32), scale = try b.allocate(count, dtype: .float32)
        try b.lrnForward(c.0, batch: c.batch, channels: c.channels, spatial: c.spatial, x: xb, y: y, scale: scale)
        let dx = try b.allocate(count, dtype: .float32)
        try b.lrnBackward(c.0, batch: c.batch, channels: c.channels, spatial: c.spatial, x: xb, y: y, scale: scale,
                          dy: try b.makeBuffer(dy), dx: dx)
        return (try b.download(y), try b.download(scale), try b.download(dx))
    }

    func testForwardMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any NormalizationOps).self) {
            for c in Self.cases {
                let count = c.batch * c.channels * c.spatial
                let x = rng.floats(count, in: -2...2)
                let got = try forward(b, c, x: x, dy: rng.floats(count))
                let expected = NormalizationReference.lrnForward(c.0, batch: c.batch, channels: c.channels,
                                                                 spatial: c.spatial, x.doubles)
                let label = "\(b.testName) \(c) seed \(rng.seed)"
                assertClose(got.y, expected.y, label + " y")
                assertClose(got.scale, expected.scale, label + " scale")
            }
        }
    }

    func testBackwardMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any NormalizationOps).self) {
            for c in Self.cases {
                let count = c.batch * c.channels * c.spatial
                let x = rng.floats(count, in: -2...2), dy = rng.floats(count)
                let got = try forward(b, c, x: x, dy: dy)
                let label = "\(b.testName) \(c) seed \(rng.seed)"
                assertClose(got.dx, NormalizationReference.lrnBackward(c.0, batch: c.batch, channels: c.channels,
                                                                       spatial: c.spatial, x: x.doubles, dy: dy.doubles),
                            label)
                let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                    NormalizationReference.lrnForward(c.0, batch: c.batch, channels: c.channels, spatial: c.spatial, $0).y
                }
                assertClose(got.dx, numeric, label + " vs finite differences")
            }
        }
    }

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        for c in Self.cases {
            let count = c.batch * c.channels * c.spatial
            let x = rng.floats(count, in: -2...2), dy = rng.floats(count)
            let a = try forward(TestBackends.cpu, c, x: x, dy: dy), o = try forward(cl, c, x: x, dy: dy)
            let label = "\(c) seed \(rng.seed)"
            assertClose(o.y, a.y, tolerance: 1e-5, label + " y")
            assertClose(o.scale, a.scale, tolerance: 1e-6, label + " scale")
            assertClose(o.dx, a.dx, tolerance: 1e-5, label + " dx")
        }
    }

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any NormalizationOps).self) {
            let p = LRNParameters()
            let x = try b.allocate(24, dtype: .float32), y = try b.allocate(24, dtype: .float32)
            let short = try b.allocate(23, dtype: .float32), ints = try b.allocate(24, dtype: .int32)
            let name = b.testName
            assertThrowsCNNError({ try b.lrnForward(p, batch: 2, channels: 3, spatial: 4, x: short, y: y, scale: x) }, "\(name): short x")
            assertThrowsCNNError({ try b.lrnForward(p, batch: 2, channels: 3, spatial: 4, x: x, y: y, scale: ints) }, "\(name): Int32 scale")
            assertThrowsCNNError({ try b.lrnForward(p, batch: 0, channels: 3, spatial: 4, x: x, y: y, scale: x) }, "\(name): zero batch")
            assertThrowsCNNError({ try b.lrnForward(LRNParameters(size: 0), batch: 2, channels: 3, spatial: 4, x: x, y: y, scale: x) },
                                 "\(name): zero size")
            assertThrowsCNNError({ try b.lrnForward(LRNParameters(beta: .nan), batch: 2, channels: 3, spatial: 4, x: x, y: y, scale: x) },
                                 "\(name): NaN beta")
            assertThrowsCNNError({
                try b.lrnBackward(p, batch: 2, channels: 3, spatial: 4, x: x, y: y, scale: x, dy: short, dx: y)
            }, "\(name): backward, short dy")
            assertThrowsCNNError({
                try b.lrnBackward(p, batch: 2, channels: -3, spatial: 4, x: x, y: y, scale: x, dy: x, dx: y)
            }, "\(name): backward, negative channels")
        }
    }
}
