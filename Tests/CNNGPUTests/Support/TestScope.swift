import Foundation

/// How much of the slowest combinatorial checks a run does. By default a sample, drawn from the
/// run's seed (so a replay with CNNGPU_TEST_SEED repeats it and other seeds cover the rest);
/// with CNNGPU_TEST_EXHAUSTIVE=1 all of it: every pooling shape with every tunable set, every
/// VGG variant through a training step. The full products took a third of CI's 30 minutes on
/// 2 cores (Benchmarks/NOTES-ci.md).
enum TestScope {
    static let exhaustive = ProcessInfo.processInfo.environment["CNNGPU_TEST_EXHAUSTIVE"] == "1"

    /// One of `choices`, the same for the whole run (from the run's seed) unless `salt` differs.
    static func pick<T>(_ choices: [T], salt: UInt64 = 0) -> T {
        var rng = SeededGenerator(seed: SeededGenerator.sessionSeed ^ salt)
        return choices[Int(rng.next() % UInt64(choices.count))]
    }
}
