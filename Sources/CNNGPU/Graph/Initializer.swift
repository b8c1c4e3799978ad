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
    /// He/Kaiming normal scaled by fan-out: N(0, 2 / fanOut), PyTorch's
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")` (torchvision's ResNet and VGG).
    case heNormalFanOut
    /// N(0, std²), whatever the fans (torchvision's VGG classifier: std 0.01).
    case normal(std: Float)
    /// N(0, std²) with values outside [−limit, limit] redrawn. The limit is absolute, not in
    /// standard deviations, as in PyTorch's `trunc_normal_(std=, a=−limit, b=limit)`
    /// (torchvision's GoogLeNet: std 0.01, limit 2). `limit` must be positive.
    case truncatedNormal(std: Float, limit: Float)
    /// PyTorch's default for `Conv2d` and `Linear`, weights and biases alike: U(−b, b),
    /// b = 1 / sqrt(fanIn). For the weight this is `kaiming_uniform_(a=√5)`; a bias takes the
    /// fan-in of its layer's weight, which its `ParameterSpec.fanShape` gives.
    case pytorchDefault

    /// Values for a parameter of `shape`. Fan-in and fan-out come from `fanShape` (the
    /// parameter's own shape when nil) and follow PyTorch: for weights `[out, in, k…]`,
    /// fanIn = in·k…, fanOut = out·k…; for a vector, both are its length.
    public func values(shape: [Int], fanShape: [Int]? = nil, generator: inout SplitMix64) -> [Float] {
        let count = shape.reduce(1, *)
        let fans = fanShape ?? shape
        let receptive = fans.dropFirst(2).reduce(1, *)
        let fanIn = fans.count >= 2 ? fans[1] * receptive : fans.reduce(1, *)
        let fanOut = fans.count >= 2 ? fans[0] * receptive : fans.reduce(1, *)
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
        case .heNormalFanOut:
            let s = (2.0 / Double(fanOut)).squareRoot()
            return (0..<count).map { _ in Float(generator.normal() * s) }
        case .normal(let std):
            return (0..<count).map { _ in Float(generator.normal() * Double(std)) }
        case .truncatedNormal(let std, let limit):
            precondition(limit > 0, "a truncated normal needs a positive limit, got \(limit)")
            return (0..<count).map { _ in
                var x = generator.normal() * Double(std)
                while abs(x) > Double(limit) { x = generator.normal() * Double(std) }
                return Float(x)
            }
        case .pytorchDefault:
            let b = 1 / Double(fanIn).squareRoot()
            return (0..<count).map { _ in Float(generator.uniform(-b, b)) }
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
