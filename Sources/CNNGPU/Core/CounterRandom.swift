/// Counter-based uniform random numbers for dropout: the value at `index` depends only on
/// `(seed, index)`, so any element can be drawn independently, in any order, on any device.
///
/// `hash` is the SplitMix64 finalizer of `seed + (index + 1)·γ` (γ = 0x9E3779B97F4A7C15), i.e.
/// the `index + 1`-th output of a SplitMix64 generator started at `seed`; `uniform` keeps its
/// top 24 bits, so the Float is exact and lies in [0, 1).
///
/// The OpenCL kernels carry the same function (`counter_hash` / `counter_uniform` in
/// Kernels/dropout.cl). The two must stay bit-identical, since the same seed must give the
/// same dropout mask on every backend: change both or neither.
enum CounterRandom {
    static func hash(seed: UInt64, index: UInt64) -> UInt64 {
        var z = seed &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    static func uniform(seed: UInt64, index: Int) -> Float {
        Float(UInt32(truncatingIfNeeded: hash(seed: seed, index: UInt64(index)) >> 40)) * (1 / 16_777_216)
    }
}
