import CNNGPU
import XCTest

final class OptimizerTests: XCTestCase {
    private let count = 1001
    private let steps = 5

    private let sgdVariants: [(String, SGDParameters)] = [
        ("plain", SGDParameters(learningRate: 0.1)),
        ("weight decay", SGDParameters(learningRate: 0.1, weightDecay: 0.01)),
        ("momentum", SGDParameters(learningRate: 0.05, momentum: 0.9)),
        ("momentum + dampening", SGDParameters(learningRate: 0.05, momentum: 0.9, dampening: 0.3)),
        ("nesterov", SGDParameters(learningRate: 0.05, momentum: 0.9, nesterov: true)),
        ("nesterov + weight decay", SGDParameters(learningRate: 0.05, momentum: 0.8, weightDecay: 5e-4, nesterov: true)),
    ]

    private let adamVariants: [(String, AdamParameters)] = [
        ("Adam", AdamParameters(learningRate: 1e-2, step: 1)),
        ("Adam + L2", AdamParameters(learningRate: 1e-2, beta1: 0.8, beta2: 0.99, weightDecay: 0.1, step: 1)),
        ("AdamW", AdamParameters(learningRate: 1e-2, weightDecay: 0.1, decoupledWeightDecay: true, step: 1)),
    ]

    // MARK: SGD

    /// Several steps in a row, with fresh gradients each step, against the Double loop.
    func testSGDVariantsOverSeveralSteps() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any OptimizerOps).self) {
            for (name, p) in sgdVariants {
                let initial = rng.floats(count)
                var w = initial.doubles, v = [Double](repeating: 0, count: count)
                let weights = try b.makeBuffer(initial), gradients = try b.allocate(count, dtype: .float32)
                let velocity: (any DeviceBuffer)? = p.momentum > 0 ? try b.makeBuffer([Float](repeating: 0, count: count)) : nil
                for step in 1...steps {
                    let g = rng.floats(count)
                    try b.upload(g, to: gradients)
                    try b.sgdUpdate(p, count: count, weights: weights, gradients: gradients, velocity: velocity)
                    OptimizerReference.sgdStep(p, weights: &w, gradients: g.doubles, velocity: &v)
                    let what = "\(b.testName) SGD \(name) step \(step) seed \(rng.seed)"
                    assertClose(try b.download(weights), w, what)
                    if let velocity { assertClose(try b.download(velocity), v, what + " (velocity)") }
                    XCTAssertEqual(try b.download(gradients), g, what + ": gradients must stay unchanged")
                }
            }
        }
    }

    /// With a zero-filled velocity the first step is v = (1 - dampening)·g: PyTorch's v = g when
    /// dampening is 0 (PyTorch starts its buffer at the first gradient instead of at zero).
    func testSGDFirstMomentumStepFromZeroVelocity() throws {
        for b in TestBackends.conforming((any OptimizerOps).self) {
            for dampening: Float in [0, 0.5] {
                let weights = try b.makeBuffer([1, 2, 3]), gradients = try b.makeBuffer([1, -2, 4])
                let velocity = try b.makeBuffer([0, 0, 0])
                let p = SGDParameters(learningRate: 0.5, momentum: 0.9, dampening: dampening)
                try b.sgdUpdate(p, count: 3, weights: weights, gradients: gradients, velocity: velocity)
                let keep = 1 - dampening
                XCTAssertEqual(try b.download(velocity), [keep, -2 * keep, 4 * keep], "\(b.testName) dampening \(dampening)")
                XCTAssertEqual(try b.download(weights), [1 - 0.5 * keep, 2 + keep, 3 - 2 * keep], "\(b.testName) dampening \(dampening)")
            }
        }
    }

    /// Momentum 0 ignores a velocity buffer that is passed anyway.
    func testSGDWithoutMomentumLeavesVelocityAlone() throws {
        for b in TestBackends.conforming((any OptimizerOps).self) {
            let weights = try b.makeBuffer([1, 2]), gradients = try b.makeBuffer([1, 1]), velocity = try b.makeBuffer([7, 7])
            try b.sgdUpdate(SGDParameters(learningRate: 0.5), count: 2, weights: weights, gradients: gradients, velocity: velocity)
            XCTAssertEqual(try b.download(weights), [0.5, 1.5], b.testName)
            XCTAssertEqual(try b.download(velocity), [7, 7], b.testName)
        }
    }

    // MARK: Adam

    func testAdamAndAdamWOverSeveralSteps() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any OptimizerOps).self) {
            for (name, base) in adamVariants {
                let initial = rng.floats(count)
                var w = initial.doubles, m = [Double](repeating: 0, count: count), v = m
                let weights = try b.makeBuffer(initial), gradients = try b.allocate(count, dtype: .float32)
                let mBuffer = try b.makeBuffer([Float](repeating: 0, count: count))
                let vBuffer = try b.makeBuffer([Float](repeating: 0, count: count))
                for step in 1...steps {
                    var p = base
                    p.step = step
                    let g = rng.floats(count)
                    try b.upload(g, to: gradients)
                    try b.adamUpdate(p, count: count, weights: weights, gradients: gradients, m: mBuffer, v: vBuffer)
                    OptimizerReference.adamStep(p, weights: &w, gradients: g.doubles, m: &m, v: &v)
                    let what = "\(b.testName) \(name) step \(step) seed \(rng.seed)"
                    assertClose(try b.download(weights), w, what)
                    assertClose(try b.download(mBuffer), m, what + " (m)")
                    assertClose(try b.download(vBuffer), v, what + " (v)")
                }
            }
        }
    }

    /// Bias correction keeps the very first Adam step at ±lr (for |g| ≫ epsilon).
    func testAdamFirstStepMovesEachWeightByTheLearningRate() throws {
        for b in TestBackends.conforming((any OptimizerOps).self) {
            let weights = try b.makeBuffer([1, 1, 1]), gradients = try b.makeBuffer([0.5, -3, 1e-3])
            let m = try b.makeBuffer([0, 0, 0]), v = try b.makeBuffer([0, 0, 0])
            try b.adamUpdate(AdamParameters(learningRate: 0.1, step: 1), count: 3, weights: weights,
                             gradients: gradients, m: m, v: v)
            assertClose(try b.download(weights), [0.9, 1.1, 0.9], tolerance: 1e-5, b.testName)
        }
    }

    // MARK: Backends agree

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        let backends: [any OptimizerOps] = [cl, TestBackends.cpu]
        var rng = SeededGenerator.fresh()
        let initial = rng.floats(count), grads = (0..<steps).map { _ in rng.floats(count) }
        let zeros = [Float](repeating: 0, count: count)

        for (name, p) in sgdVariants {
            let results = try backends.map { b -> [Float] in
                let w = try b.makeBuffer(initial), g = try b.allocate(count, dtype: .float32), v = try b.makeBuffer(zeros)
                for step in grads {
                    try b.upload(step, to: g)
                    try b.sgdUpdate(p, count: count, weights: w, gradients: g, velocity: p.momentum > 0 ? v : nil)
                }
                return try b.download(w) + b.download(v)
            }
            assertClose(results[0], results[1], tolerance: 1e-6, "SGD \(name) seed \(rng.seed)")
        }
        for (name, base) in adamVariants {
            let results = try backends.map { b -> [Float] in
                let w = try b.makeBuffer(initial), g = try b.allocate(count, dtype: .float32)
                let m = try b.makeBuffer(zeros), v = try b.makeBuffer(zeros)
                for (i, step) in grads.enumerated() {
                    var p = base
                    p.step = i + 1
                    try b.upload(step, to: g)
                    try b.adamUpdate(p, count: count, weights: w, gradients: g, m: m, v: v)
                }
                return try b.download(w) + b.download(m) + b.download(v)
            }
            assertClose(results[0], results[1], tolerance: 1e-6, "\(name) seed \(rng.seed)")
        }
    }

    // MARK: Bad input

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any OptimizerOps).self) {
            let n = 5
            let w = try b.allocate(n, dtype: .float32), g = try b.allocate(n, dtype: .float32)
            let v = try b.allocate(n, dtype: .float32), short = try b.allocate(n - 1, dtype: .float32)
            let ints = try b.allocate(n, dtype: .int32), foreign = try CPUBackend().allocate(n, dtype: .float32)
            let name = b.testName
            let sgd = SGDParameters(learningRate: 0.1, momentum: 0.9)

            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: w, gradients: g, velocity: nil) }, name + " momentum without velocity")
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: 0, weights: w, gradients: g, velocity: v) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: -1, weights: w, gradients: g, velocity: v) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: short, gradients: g, velocity: v) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: w, gradients: short, velocity: v) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: w, gradients: g, velocity: short) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: w, gradients: g, velocity: ints) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: ints, gradients: g, velocity: v) }, name)
            assertThrowsCNNError({ try b.sgdUpdate(sgd, count: n, weights: w, gradients: foreign, velocity: v) }, name)
            for bad in [SGDParameters(learningRate: -0.1), SGDParameters(learningRate: .nan),
                        SGDParameters(learningRate: 0.1, momentum: -0.5),
                        SGDParameters(learningRate: 0.1, weightDecay: -1),
                        SGDParameters(learningRate: 0.1, nesterov: true),
                        SGDParameters(learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)] {
                assertThrowsCNNError({ try b.sgdUpdate(bad, count: n, weights: w, gradients: g, velocity: v) }, "\(name) \(bad)")
            }

            let adam = AdamParameters(step: 1)
            assertThrowsCNNError({ try b.adamUpdate(AdamParameters(step: 0), count: n, weights: w, gradients: g, m: v, v: g) }, name + " step 0")
            assertThrowsCNNError({ try b.adamUpdate(AdamParameters(step: -3), count: n, weights: w, gradients: g, m: v, v: g) }, name + " step -3")
            assertThrowsCNNError({ try b.adamUpdate(adam, count: 0, weights: w, gradients: g, m: v, v: g) }, name)
            assertThrowsCNNError({ try b.adamUpdate(adam, count: n, weights: w, gradients: g, m: short, v: v) }, name)
            assertThrowsCNNError({ try b.adamUpdate(adam, count: n, weights: w, gradients: g, m: v, v: short) }, name)
            assertThrowsCNNError({ try b.adamUpdate(adam, count: n, weights: w, gradients: g, m: ints, v: v) }, name)
            assertThrowsCNNError({ try b.adamUpdate(adam, count: n, weights: foreign, gradients: g, m: v, v: v) }, name)
            for bad in [AdamParameters(beta1: 1, step: 1), AdamParameters(beta2: -0.1, step: 1),
                        AdamParameters(epsilon: -1, step: 1), AdamParameters(learningRate: -1, step: 1),
                        AdamParameters(weightDecay: .infinity, step: 1)] {
                assertThrowsCNNError({ try b.adamUpdate(bad, count: n, weights: w, gradients: g, m: v, v: g) }, "\(name) \(bad)")
            }
        }
    }
}
