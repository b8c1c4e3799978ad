/// The data pipeline's use of `SplitMix64` (Graph/Initializer.swift): the same generator on
/// every platform and Swift version. We never use the standard library's
/// `random(in:using:)` for floats, whose algorithm is not a documented contract, so a seed
/// replays the same epoch order and the same augmentations everywhere.
extension SplitMix64 {
    /// An independent stream for one purpose, e.g. (seed, epoch) for an epoch's order or
    /// (seed, epoch, position) for one sample's augmentation. Fixed arity so the hot loop
    /// allocates nothing.
    init(seed: UInt64, _ a: UInt64, _ b: UInt64 = 0) {
        let mixed = SplitMix64.finalize(SplitMix64.finalize(SplitMix64.finalize(seed) ^ a) ^ (b &+ 0x632B_E59B_D9B4_E019))
        self.init(seed: mixed)
    }

    static func finalize(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 random bits.
    mutating func unitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [lower, upper].
    mutating func uniformFloat(_ lower: Float, _ upper: Float) -> Float { lower + (upper - lower) * unitFloat() }

    /// Uniform integer in 0..<bound (bound > 0), by Lemire's multiply-shift; the bias
    /// (< bound / 2^64) does not matter for shuffling and augmentation.
    mutating func below(_ bound: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}
