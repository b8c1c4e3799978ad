import Foundation

/// SplitMix64: a tiny, seeded generator so a failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    let seed: UInt64

    init(seed: UInt64) { self.state = seed; self.seed = seed }

    /// A generator with a fresh seed each run; the seed goes into failure messages.
    static func fresh() -> SeededGenerator { SeededGenerator(seed: UInt64.random(in: 0...UInt64.max)) }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` values uniform in `range`.
    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }

    mutating func ints(_ count: Int, below bound: Int) -> [Int32] {
        (0..<count).map { _ in Int32(Int.random(in: 0..<bound, using: &self)) }
    }
}
