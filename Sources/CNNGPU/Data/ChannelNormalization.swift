/// Per-channel standardization `(x - mean[c]) · (1 / std[c])`, the last step before a batch goes to
/// the model.
///
/// ```swift
/// let norm = ChannelNormalization.fashionMNIST            // or ChannelNormalization(fittedTo: train)
/// ```
public struct ChannelNormalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    /// - Throws: `CNNError.invalidArgument` unless there is one positive, finite std per mean.
    public init(mean: [Float], std: [Float]) throws {
        guard !mean.isEmpty, mean.count == std.count else {
            throw CNNError.invalidArgument("normalization needs one mean and one std per channel, got "
                + "\(mean.count) means and \(std.count) stds")
        }
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw CNNError.invalidArgument("normalization means must be finite and stds positive, got mean \(mean), std \(std)")
        }
        self.mean = mean
        self.std = std
    }

    /// The training set's statistics, computed in Double over every pixel of each channel.
    public init(fittedTo dataset: Dataset) throws {
        let (c, h, w) = dataset.sampleShape.chw!
        let plane = h * w
        var sum = [Double](repeating: 0, count: c), squares = sum
        dataset.images.withUnsafeBufferPointer { images in
            for n in 0..<dataset.count {
                for ch in 0..<c {
                    var s = 0.0, q = 0.0
                    for v in images[(n * c + ch) * plane..<(n * c + ch + 1) * plane] {
                        s += Double(v)
                        q += Double(v) * Double(v)
                    }
                    sum[ch] += s
                    squares[ch] += q
                }
            }
        }
        let n = Double(max(dataset.count * plane, 1))
        let mean = sum.map { $0 / n }
        let std = zip(squares, mean).map { (max($0 / n - $1 * $1, 0)).squareRoot() }
        try self.init(mean: mean.map(Float.init), std: std.map { Float(max($0, 1e-6)) })
    }

    /// Fashion-MNIST training-set statistics.
    public static let fashionMNIST = try! ChannelNormalization(mean: [0.2860], std: [0.3530])
    /// MNIST training-set statistics.
    public static let mnist = try! ChannelNormalization(mean: [0.1307], std: [0.3081])
    /// CIFAR-10 training-set statistics (per channel R, G, B).
    public static let cifar10 = try! ChannelNormalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

    /// Writes the normalized `[C, H, W]` image `src` to `dst`: the unaugmented fast path, one
    /// pass instead of a copy and a pass.
    func apply(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, channels: Int, plane: Int) {
        for c in 0..<channels {
            let m = mean[c], scale = 1 / std[c]
            let s = src + c * plane, d = dst + c * plane
            for i in 0..<plane { d[i] = (s[i] - m) * scale }
        }
    }

    /// Normalizes one `[C, H, W]` image in place.
    func apply(_ pixels: UnsafeMutablePointer<Float>, channels: Int, plane: Int) {
        for c in 0..<channels {
            let m = mean[c], scale = 1 / std[c]
            let p = pixels + c * plane
            for i in 0..<plane { p[i] = (p[i] - m) * scale }
        }
    }
}
