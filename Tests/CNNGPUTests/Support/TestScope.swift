import Foundation

/// How much of the slowest combinatorial checks a run does. By default a sample, drawn from the
/// run's seed (so a replay with CNNGPU_TEST_SEED repeats it and other seeds cover the rest);
/// with CNNGPU_TEST_EXHAUSTIVE=1 all of it: every pooling shape with every tunable set, every
/// convolution candidate on every problem, every VGG variant through a training step. The full
/// products took a third of CI's 30 minutes on 2 cores (Benchmarks/NOTES-ci.md).
enum TestScope {
    static let exhaustive = ProcessInfo.processInfo.environment["CNNGPU_TEST_EXHAUSTIVE"] == "1"

    /// One of `choices`, the same for the whole run (from the run's seed) unless `salt` differs.
    static func pick<T>(_ choices: [T], salt: UInt64 = 0) -> T {
        var rng = SeededGenerator(seed: SeededGenerator.sessionSeed ^ salt)
        return choices[Int(rng.next() % UInt64(choices.count))]
    }

    /// One VGG without batch norm and one with, drawn from the run's seed (`salt` for the
    /// first, `salt + 1` for the second); all eight when exhaustive.
    static func vggNames(salt: UInt64 = 0) -> [String] {
        let depths = [11, 13, 16, 19]
        return exhaustive ? depths.flatMap { ["vgg\($0)", "vgg\($0)_bn"] }
            : ["vgg\(pick(depths, salt: salt))", "vgg\(pick(depths, salt: salt + 1))_bn"]
    }
}

/// Takes `count` items of each list it is given, in turn: the next call starts where the last
/// one ended, the first at a place drawn from the run's seed. Over a test's calls every item
/// of an equally long list comes up once the counts taken reach its length. All of every list
/// with CNNGPU_TEST_EXHAUSTIVE=1.
struct SampleRotation {
    private var next: Int?

    mutating func take<T>(_ items: [T], count: Int) -> [T] {
        guard !TestScope.exhaustive, items.count > count else { return items }
        let start = next ?? Int(SeededGenerator.sessionSeed % UInt64(items.count))
        next = start + count
        return (start..<start + count).map { items[$0 % items.count] }
    }
}
