import Foundation

/// Notices a run whose loss has blown up while still finite (SGD at 2e16, Adam at 1e37): the
/// non-finite check alone lets such a run finish, and save a useless checkpoint over a good
/// one. A cross-entropy loss starts near ln(classes) and falls; one that climbs to `factor`
/// times where the run started has diverged, whatever the model.
public struct DivergenceMonitor {
    /// How many times the run's first loss a loss may reach.
    public var factor: Float = 100
    /// Losses below this never count as diverged (a first loss near 0 must not make 0.5 look huge).
    public var floor: Float = 50
    private var reference: Float?

    public init() {}

    /// Records `loss` of `step`; throws `TrainingDiverged` when it is far above the first one seen.
    public mutating func check(loss: Float, step: Int, epoch: Int, lastGoodCheckpoint: URL?) throws {
        guard loss.isFinite else { return }   // non-finite losses are reported by the trainer itself
        guard let reference else { self.reference = loss; return }
        let limit = max(factor * reference, floor)
        guard loss <= limit else {
            throw TrainingDiverged(loss: loss, limit: limit, step: step, epoch: epoch, checkpoint: lastGoodCheckpoint)
        }
    }
}

/// Training stopped because the loss diverged; `checkpoint` is one known finite (written or resumed by this run).
public struct TrainingDiverged: Error, CustomStringConvertible {
    public var loss: Float
    public var limit: Float
    public var step: Int
    public var epoch: Int
    public var checkpoint: URL?

    public var description: String {
        String(format: "training stopped: the loss diverged to %g at step %d (epoch %d), above %g (100× the first step's). ",
               loss, step, epoch, limit)
            + "Lower the learning rate (--lr)."
            + (checkpoint.map { " The last good checkpoint is kept at \($0.path)." } ?? " No checkpoint was saved.")
    }
}
