import Foundation

/// How a parameter starts. Random initializers draw from a seeded generator, so a run is
/// reproducible from its seed.
public enum Initializer: Hashable, Sendable {
    case zeros
    case ones
    case constant(Float)
    /// Glorot/Xavier uniform: U(−a, a), a = sqrt(6 / (fanIn + fanOut)).
    case glorotUniform
    /// Glorot/Xavier normal: N(0, 2 / (fanIn + fanOut)).
    case glorotNormal
    /// He/Kaiming normal for ReLU: N(0, 2 / fanIn).
    case heNormal
    /// He normal truncated at two standard deviations (redrawn beyond), as Keras'
    /// `he_normal` (with its 0.8796 correction so the variance stays 2 / fanIn).
    case heTruncatedNormal
    /// He/Kaiming uniform: U(−a, a), a = sqrt(6 / fanIn).
    case heUniform

    /// Values for a parameter of `shape`; fan-in and fan-out follow PyTorch: for weights
    /// `[out, in, k…]`, fanIn = in·k…, fanOut = out·k….
    public func values(shape: [Int], generator: inout SplitMix64) -> [Float] {
        let count = shape.reduce(1, *)
        let receptive = shape.dropFirst(2).reduce(1, *)
        let fanIn = shape.count >= 2 ? shape[1] * receptive : count
        let fanOut = shape.count >= 2 ? shape[0] * receptive : count
        switch self {
        case .zeros: return [Float](repeating: 0, count: count)
        case .ones: return [Float](repeating: 1, count: count)
        case .constant(let v): return [Float](repeating: v, count: count)
        case .glorotUniform:
            let a = (6.0 / Double(fanIn + fanOut)).squareRoot()
            return (0..<count).map { _ in Float(generator.uniform(-a, a)) }
        case .heUniform:
            let a = (6.0 / Double(fanIn)).squareRoot()
            return (0..<count).map { _ in Float(generator.uniform(-a, a)) }
        case .glorotNormal:
            let s = (2.0 / Double(fanIn + fanOut)).squareRoot()
            return (0..<count).map { _ in Float(generator.normal() * s) }
        case .heNormal:
            let s = (2.0 / Double(fanIn)).squareRoot()
            return (0..<count).map { _ in Float(generator.normal() * s) }
        case .heTruncatedNormal:
            let s = (2.0 / Double(fanIn)).squareRoot() / 0.879_625_661_034_239_8
            return (0..<count).map { _ in
                var z = generator.normal()
                while abs(z) > 2 { z = generator.normal() }
                return Float(z * s)
            }
        }
    }
}

/// SplitMix64: small, fast, seedable, and its whole state is one integer, so it can be saved
/// in a checkpoint and resumed exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) * 0x1p-53
    }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(0, 1), 1e-300), u2 = uniform(0, 1)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
