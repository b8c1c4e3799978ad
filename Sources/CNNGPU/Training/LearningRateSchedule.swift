import Foundation

/// The learning rate as a function of the training step, with an optional linear warm-up.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Shape: Sendable, Equatable {
        case constant
        /// Multiply by `gamma` every `everySteps` steps.
        case step(everySteps: Int, gamma: Float)
        /// Cosine decay from the base rate to `minimum` over `totalSteps`.
        case cosine(totalSteps: Int, minimum: Float)
    }

    public var base: Float
    public var shape: Shape
    /// Steps of linear warm-up from base/warmupSteps to base.
    public var warmupSteps: Int

    public init(base: Float, shape: Shape = .constant, warmupSteps: Int = 0) {
        self.base = base; self.shape = shape; self.warmupSteps = warmupSteps
    }

    /// The rate for 0-based `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let s = step - warmupSteps
        switch shape {
        case .constant:
            return base
        case let .step(every, gamma):
            return base * pow(gamma, Float(s / max(every, 1)))
        case let .cosine(total, minimum):
            let span = max(total - warmupSteps, 1)
            let t = min(Double(s) / Double(span), 1)
            return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * t)))
        }
    }
}
