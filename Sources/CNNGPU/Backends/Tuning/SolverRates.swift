import Foundation

/// Fast tuning's prior: the highest rate (GFLOP/s) each solver has reached in each direction
/// on one device so far in this process, per class of channel count (the smaller of the input
/// channels per group and the output channels, by powers of two). A candidate that would still
/// take `pruneFactor` times the best time measured for a problem if it ran at the best rate its
/// solver has shown on a problem of the same class is not run at all. On PoCL (Zen 5) the direct and im2col + CLBlast solvers took half
/// of a cold fast tune of ResNet-50 (their one run per problem, 50–800 ms each, against winners
/// of 1–20 ms) and won none of its 69 problems (Benchmarks/NOTES-opencl-solvers.md, twenty-first
/// session). The rate is the solver's best over shapes, so the prediction errs towards running a
/// candidate: a solver is skipped only where even its best showing would lose clearly. The
/// first problems of a session, with no rates yet, time every candidate. Why the classes: the
/// GEMM-like solvers run a layer of few channels at a small fraction of their rate on wider
/// ones, so LeNet-5's first layer (1 → 6 channels) taught a rate of 7 GFLOP/s for the
/// channels-last solver, which then skipped the second layer's (6 → 16) input gradient at a
/// predicted 11 ms where it runs 1.0 ms and wins.
///
/// The rates persist in the tuning database per device (`TuningDatabase.solverRates`), so a
/// second model or batch size starts with what the first taught, marked with `stamp` (a hash of
/// the kernel sources): a rate measured with other kernels is dropped, since a solver made
/// faster would otherwise be skipped on its old showing.
final class SolverRates: @unchecked Sendable {
    /// How many times the best time so far a candidate's predicted time may be and still run.
    static let pruneFactor = 2.0

    /// What the rates were measured with; rates stored under another stamp are not used.
    let stamp: String
    private let lock = NSLock()
    private var gflops: [String: Double] = [:]

    init(stamp: String = "") { self.stamp = stamp }

    /// The best rates, keyed solver/direction/channel class, as the database stores them.
    var snapshot: [String: Double] {
        lock.lock(); defer { lock.unlock() }
        return gflops
    }

    /// Takes in rates stored earlier (each the best of both).
    func absorb(_ stored: [String: Double]) {
        lock.lock(); defer { lock.unlock() }
        gflops.merge(stored.filter { $0.value > 0 && $0.value.isFinite }, uniquingKeysWith: max)
    }

    private static func key(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor,
                            _ direction: ConvolutionDirection) -> String {
        let channels = max(1, min(d.inChannels / max(1, d.groups), d.outChannels))
        return "\(algorithm.rawValue)/\(direction.rawValue)/\(Int.bitWidth - 1 - channels.leadingZeroBitCount)"
    }

    /// Notes that `algorithm` ran `d` in `direction` in `milliseconds`.
    func record(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor, direction: ConvolutionDirection,
                milliseconds: Double) {
        guard milliseconds > 0, milliseconds.isFinite else { return }
        let rate = d.flops / milliseconds / 1e6
        lock.lock(); defer { lock.unlock() }
        let k = Self.key(algorithm, d, direction)
        gflops[k] = max(gflops[k] ?? 0, rate)
    }

    /// The milliseconds `algorithm` would take on `d` at the best rate it has shown on a problem
    /// of `d`'s channel class, if it has run one.
    func predictedMilliseconds(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor,
                               direction: ConvolutionDirection) -> Double? {
        lock.lock(); defer { lock.unlock() }
        return gflops[Self.key(algorithm, d, direction)].map { d.flops / $0 / 1e6 }
    }

    /// Whether `algorithm` is not worth running on `d` against a best time of `bestMilliseconds`.
    func isHopeless(_ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor, direction: ConvolutionDirection,
                    bestMilliseconds: Double) -> Bool {
        guard bestMilliseconds.isFinite,
              let predicted = predictedMilliseconds(algorithm, d, direction: direction) else { return false }
        return predicted > Self.pruneFactor * bestMilliseconds
    }
}
