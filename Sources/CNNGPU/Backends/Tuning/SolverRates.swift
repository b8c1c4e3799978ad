import Foundation

/// Fast tuning's prior: the highest rate (GFLOP/s) each solver has reached in each direction
/// on one device so far in this process. A candidate that would still take `pruneFactor` times
/// the best time measured for a problem if it ran at the best rate its solver has shown on any
/// problem is not run at all. On PoCL (Zen 5) the direct and im2col + CLBlast solvers took half
/// of a cold fast tune of ResNet-50 (their one run per problem, 50–800 ms each, against winners
/// of 1–20 ms) and won none of its 69 problems (Benchmarks/NOTES-opencl-solvers.md, twenty-first
/// session). The rate is the solver's best over shapes, so the prediction errs towards running a
/// candidate: a solver is skipped only where even its best showing would lose clearly. The
/// first problems of a session, with no rates yet, time every candidate.
final class SolverRates: @unchecked Sendable {
    /// How many times the best time so far a candidate's predicted time may be and still run.
    static let pruneFactor = 2.0

    private let lock = NSLock()
    private var gflops: [String: Double] = [:]

    private static func key(_ algorithm: ConvolutionAlgorithm, _ direction: ConvolutionDirection) -> String {
        "\(algorithm.rawValue)/\(direction.rawValue)"
    }

    /// Notes that `algorithm` ran `d` in `direction` in `milliseconds`.
    func record(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor, direction: ConvolutionDirection,
                milliseconds: Double) {
        guard milliseconds > 0, milliseconds.isFinite else { return }
        let rate = d.flops / milliseconds / 1e6
        lock.lock(); defer { lock.unlock() }
        let k = Self.key(algorithm, direction)
        gflops[k] = max(gflops[k] ?? 0, rate)
    }

    /// The milliseconds `algorithm` would take on `d` at the best rate it has shown, if it has run.
    func predictedMilliseconds(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor,
                               direction: ConvolutionDirection) -> Double? {
        lock.lock(); defer { lock.unlock() }
        return gflops[Self.key(algorithm, direction)].map { d.flops / $0 / 1e6 }
    }

    /// Whether `algorithm` is not worth running on `d` against a best time of `bestMilliseconds`.
    func isHopeless(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor, direction: ConvolutionDirection,
                    bestMilliseconds: Double) -> Bool {
        guard bestMilliseconds.isFinite,
              let predicted = predictedMilliseconds(algorithm, d, direction: direction) else { return false }
        return predicted > Self.pruneFactor * bestMilliseconds
    }
}
