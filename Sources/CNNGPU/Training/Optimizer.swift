/// Which optimizer to train with, and its settings (the learning rate comes from the schedule).
public enum OptimizerConfig: Sendable, Equatable {
    case sgd(momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0)
    case adam(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0,
              decoupled: Bool = false)
    /// PyTorch's `RMSprop` defaults (Keras': alpha is its `rho`).
    case rmsprop(alpha: Float = 0.99, epsilon: Float = 1e-8, momentum: Float = 0, weightDecay: Float = 0)

    public var name: String {
        switch self {
        case .sgd(let m, let n, _): return n ? "SGD (Nesterov, momentum \(m))" : "SGD (momentum \(m))"
        case .adam(_, _, _, _, let decoupled): return decoupled ? "AdamW" : "Adam"
        case .rmsprop(let alpha, _, let momentum, _):
            return "RMSprop (alpha \(alpha)" + (momentum > 0 ? ", momentum \(momentum))" : ")")
        }
    }

    public var weightDecay: Float {
        switch self {
        case .sgd(_, _, let wd), .adam(_, _, _, let wd, _), .rmsprop(_, _, _, let wd): return wd
        }
    }

    /// Buffers of optimizer state, each the size of the weights.
    public var stateBuffers: Int {
        switch self {
        case .sgd(let momentum, _, _): return momentum > 0 ? 1 : 0
        case .adam: return 2
        case .rmsprop(_, _, let momentum, _): return momentum > 0 ? 2 : 1
        }
    }
}

/// Updates every trainable parameter of a `ParameterStore` in one device launch per step: the
/// weights, gradients and optimizer state share one flat layout.
public final class Optimizer {
    public let config: OptimizerConfig
    public let parameters: ParameterStore
    /// SGD: [velocity]; Adam: [m, v]; RMSprop: [square average, momentum buffer if any]. Same
    /// layout as the weights.
    public let state: [any DeviceBuffer]
    /// Steps taken so far (Adam's bias correction uses it; checkpoints keep it).
    public internal(set) var step = 0
    /// Leading elements of the flat weights that are frozen (never updated).
    public let frozenElements: Int
    /// Views of weights, gradients and state past the frozen prefix: what one update touches.
    private let updated: (weights: any DeviceBuffer, gradients: any DeviceBuffer, state: [any DeviceBuffer], count: Int)?

    /// `frozenElements` (a layer boundary from `ParameterStore.trainableOffset(through:)`)
    /// freezes the parameters laid out before it: the backbone in transfer learning.
    public init(_ config: OptimizerConfig, parameters: ParameterStore, frozenElements: Int = 0) throws {
        self.config = config
        self.parameters = parameters
        self.frozenElements = frozenElements
        let backend = parameters.backend
        state = try (0..<config.stateBuffers).map { _ in
            let b = try backend.allocate(parameters.trainableSpan, dtype: .float32)
            try backend.fill(b, value: 0)
            return b
        }
        let rest = parameters.trainableSpan - frozenElements
        guard frozenElements >= 0, rest >= 0, frozenElements % backend.viewAlignment == 0 else {
            throw CNNError.invalidArgument("the frozen prefix must end on a parameter boundary")
        }
        if rest == 0 {
            updated = nil
        } else if frozenElements == 0 {
            updated = (parameters.weights, parameters.gradients, state, rest)
        } else {
            func tail(_ b: any DeviceBuffer) throws -> any DeviceBuffer {
                try backend.view(of: b, offset: frozenElements, count: rest)
            }
            updated = (try tail(parameters.weights), try tail(parameters.gradients), try state.map(tail), rest)
        }
    }

    /// Queues one update with `learningRate` from the gradients in `parameters.gradients`.
    public func update(learningRate: Float) throws {
        step += 1
        guard let u = updated else { return }   // everything frozen
        let backend = parameters.backend
        switch config {
        case let .sgd(momentum, nesterov, weightDecay):
            try backend.sgdUpdate(SGDParameters(learningRate: learningRate, momentum: momentum,
                                                weightDecay: weightDecay, nesterov: nesterov),
                                  count: u.count, weights: u.weights, gradients: u.gradients, velocity: u.state.first)
        case let .adam(beta1, beta2, epsilon, weightDecay, decoupled):
            try backend.adamUpdate(AdamParameters(learningRate: learningRate, beta1: beta1, beta2: beta2,
                                                  epsilon: epsilon, weightDecay: weightDecay,
                                                  decoupledWeightDecay: decoupled, step: step),
                                   count: u.count, weights: u.weights, gradients: u.gradients, m: u.state[0], v: u.state[1])
        case let .rmsprop(alpha, epsilon, momentum, weightDecay):
            try backend.rmspropUpdate(RMSpropParameters(learningRate: learningRate, alpha: alpha, epsilon: epsilon,
                                                        momentum: momentum, weightDecay: weightDecay),
                                      count: u.count, weights: u.weights, gradients: u.gradients, square: u.state[0],
                                      momentum: u.state.count > 1 ? u.state[1] : nil)
        }
    }

    /// The optimizer state for a checkpoint (waits for the device).
    public func read() throws -> [[Float]] { try state.map { try parameters.backend.download($0) } }

    /// Restores state saved by `read()` at `step`.
    public func restore(_ values: [[Float]], step: Int) throws {
        guard values.count == state.count, zip(values, state).allSatisfy({ $0.count == $1.count }) else {
            throw CNNError.invalidArgument("the checkpoint's optimizer state does not match this model and optimizer")
        }
        for (v, b) in zip(values, state) { try parameters.backend.upload(v, to: b) }
        self.step = step
    }
}
