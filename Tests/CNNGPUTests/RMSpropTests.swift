import CNNGPU
import XCTest

/// RMSprop against torch.optim.RMSprop's documented update, written out in Double.
final class RMSpropTests: XCTestCase {
    private let count = 1001
    private let steps = 5

    private let variants: [(String, RMSpropParameters)] = [
        ("PyTorch defaults", RMSpropParameters(learningRate: 1e-2)),
        ("momentum", RMSpropParameters(learningRate: 1e-3, momentum: 0.9)),
        ("weight decay + alpha", RMSpropParameters(learningRate: 1e-2, alpha: 0.9, epsilon: 1e-6, weightDecay: 0.05)),
        ("all", RMSpropParameters(learningRate: 5e-3, alpha: 0.95, epsilon: 1e-4, momentum: 0.5, weightDecay: 0.01)),
    ]

    /// torch.optim.RMSprop (centered=False): the square average and the momentum buffer start at 0.
    static func referenceStep(_ p: RMSpropParameters, weights w: inout [Double], gradients: [Double],
                              square s: inout [Double], buffer b: inout [Double]) {
        let lr = Double(p.learningRate), alpha = Double(p.alpha), eps = Double(p.epsilon)
        let momentum = Double(p.momentum), wd = Double(p.weightDecay)
        for i in w.indices {
            let g = gradients[i] + wd * w[i]
            s[i] = alpha * s[i] + (1 - alpha) * g * g
            let avg = s[i].squareRoot() + eps
            if momentum > 0 {
                b[i] = momentum * b[i] + g / avg
                w[i] -= lr * b[i]
            } else {
                w[i] -= lr * g / avg
            }
        }
    }

    func testVariantsOverSeveralStepsMatchReference() throws {
        var rng = SeededGenerator.fresh()
        for backend in TestBackends.conforming((any OptimizerOps).self) {
            for (name, p) in variants {
                let initial = rng.floats(count)
                var w = initial.doubles, s = [Double](repeating: 0, count: count), b = s
                let weights = try backend.makeBuffer(initial), gradients = try backend.allocate(count, dtype: .float32)
                let square = try backend.makeBuffer([Float](repeating: 0, count: count))
                let momentum = p.momentum > 0 ? try backend.makeBuffer([Float](repeating: 0, count: count)) : nil
                for step in 1...steps {
                    let g = rng.floats(count)
                    try backend.upload(g, to: gradients)
                    try backend.rmspropUpdate(p, count: count, weights: weights, gradients: gradients, square: square,
                                              momentum: momentum)
                    Self.referenceStep(p, weights: &w, gradients: g.doubles, square: &s, buffer: &b)
                    let what = "\(backend.testName) \(name) step \(step) seed \(rng.seed)"
                    assertClose(try backend.download(weights), w, what)
                    assertClose(try backend.download(square), s, what + " (square average)")
                    if let momentum { assertClose(try backend.download(momentum), b, what + " (momentum)") }
                }
            }
        }
    }

    /// With alpha 0.99 the first square average is 0.01·g², so the first step is lr·g/(0.1·|g|):
    /// ten times the learning rate, whatever the gradient's size (PyTorch does the same).
    func testFirstStepIsTenLearningRates() throws {
        for backend in TestBackends.conforming((any OptimizerOps).self) {
            let weights = try backend.makeBuffer([1, 1, 1]), gradients = try backend.makeBuffer([0.5, -3, 100])
            let square = try backend.makeBuffer([Float](repeating: 0, count: 3))
            try backend.rmspropUpdate(RMSpropParameters(learningRate: 0.01), count: 3, weights: weights, gradients: gradients,
                                      square: square, momentum: nil)
            assertClose(try backend.download(weights), [0.9, 1.1, 0.9], tolerance: 1e-5, backend.testName)
        }
    }

    func testBadSettingsAreTypedErrors() throws {
        for backend in TestBackends.conforming((any OptimizerOps).self) {
            let w = try backend.makeBuffer([Float](repeating: 0, count: 4)), g = try backend.makeBuffer([Float](repeating: 0, count: 4))
            let s = try backend.makeBuffer([Float](repeating: 0, count: 4))
            for bad in [RMSpropParameters(alpha: 1.5), RMSpropParameters(epsilon: -1), RMSpropParameters(learningRate: .nan)] {
                XCTAssertNotNil(assertThrowsCNNError({
                    try backend.rmspropUpdate(bad, count: 4, weights: w, gradients: g, square: s, momentum: nil)
                }, backend.testName))
            }
            let missing = assertThrowsCNNError({
                try backend.rmspropUpdate(RMSpropParameters(momentum: 0.9), count: 4, weights: w, gradients: g, square: s, momentum: nil)
            }, backend.testName)
            XCTAssertTrue(missing?.contains("momentum buffer") ?? false, missing ?? "no error")
        }
    }

    /// The trainer's optimizer keeps one state buffer without momentum and two with it, and its
    /// steps are the op's.
    func testOptimizerConfigUsesTheOp() throws {
        let graph = try Sequential(input: [4]) { Dense(3) }
        for backend in TestBackends.all {
            for momentum: Float in [0, 0.9] {
                let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
                let optimizer = try Optimizer(.rmsprop(momentum: momentum), parameters: store)
                XCTAssertEqual(optimizer.state.count, momentum > 0 ? 2 : 1)
                var w = try backend.download(store.weights).prefix(store.trainableSpan).map(Double.init)
                var s = [Double](repeating: 0, count: w.count), b = s
                let g = (0..<store.trainableSpan).map { Float($0 % 7) - 3 }
                try backend.upload(g, to: store.gradients)
                try optimizer.update(learningRate: 0.01)
                Self.referenceStep(RMSpropParameters(learningRate: 0.01, momentum: momentum), weights: &w, gradients: g.doubles,
                                   square: &s, buffer: &b)
                assertClose(Array(try backend.download(store.weights).prefix(store.trainableSpan)), w, "\(backend.testName)")
            }
        }
    }
}
