import Foundation

extension ChannelNormalization {
    /// The ImageNet statistics torchvision's models are trained with (RGB, values in [0, 1]).
    public static let imageNet = try! ChannelNormalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
}

/// The torchvision ImageNet transforms, from a decoded `RGBImage` to a normalized Float32
/// `[3, size, size]` tensor:
/// - `training`: RandomResizedCrop(size, scale 0.08–1, ratio 3/4–4/3, bilinear) →
///   RandomHorizontalFlip → ToTensor → Normalize;
/// - `evaluation`: Resize(shorter side to ⌊size · 256/224⌋) → CenterCrop(size) → ToTensor → Normalize.
///
/// Randomness comes only from (seed, epoch, index), so a sample looks the same in every run
/// and on every thread. Resizing uses PIL's bilinear filter (a triangle kernel widened by the
/// reduction factor, so downscaling averages instead of aliasing); it computes in Float32
/// where PIL rounds to 8 bits between its horizontal and vertical passes.
///
/// ```swift
/// let transform = ImageNetTransform.training(size: 224)
/// let tensor = transform.apply(image, seed: 1, epoch: 0, index: 17)   // 3 · 224 · 224 values
/// ```
public struct ImageNetTransform: Sendable, Equatable {
    public enum Geometry: Sendable, Equatable {
        /// torchvision's `RandomResizedCrop`: a random area fraction in `scale` and aspect ratio
        /// (width / height, drawn log-uniformly) in `ratio`, resized to size × size.
        case randomResizedCrop(scale: ClosedRange<Double>, ratio: ClosedRange<Double>)
        /// `Resize(shorterSide)` then `CenterCrop(size)`.
        case resizeAndCenterCrop(shorterSide: Int)
    }

    /// Output height and width.
    public let size: Int
    public let geometry: Geometry
    /// Chance of mirroring left–right after the crop.
    public let horizontalFlipProbability: Double
    /// Applied to values scaled to [0, 1] (ToTensor); nil leaves them there.
    public let normalization: ChannelNormalization?

    /// - Throws: `CNNError.invalidArgument` for a size < 1, a scale range outside (0, 1], a
    ///   non-positive ratio, a shorter side smaller than the crop, a flip probability outside
    ///   [0, 1], or a normalization without 3 channels.
    public init(size: Int, geometry: Geometry, horizontalFlipProbability: Double = 0,
                normalization: ChannelNormalization? = .imageNet) throws {
        guard size >= 1 else { throw CNNError.invalidArgument("image size must be at least 1, got \(size)") }
        switch geometry {
        case let .randomResizedCrop(scale, ratio):
            guard scale.lowerBound > 0, scale.upperBound <= 1 else {
                throw CNNError.invalidArgument("RandomResizedCrop scale \(scale) must lie in (0, 1]")
            }
            guard ratio.lowerBound > 0, ratio.upperBound.isFinite else {
                throw CNNError.invalidArgument("RandomResizedCrop ratio \(ratio) must be positive and finite")
            }
        case let .resizeAndCenterCrop(shorterSide):
            guard shorterSide >= size else {
                throw CNNError.invalidArgument("resizing the shorter side to \(shorterSide) leaves too little for a \(size)-pixel center crop")
            }
        }
        guard (0...1).contains(horizontalFlipProbability) else {
            throw CNNError.invalidArgument("flip probability must lie in [0, 1], got \(horizontalFlipProbability)")
        }
        if let normalization, normalization.mean.count != 3 {
            throw CNNError.invalidArgument("RGB images need a 3-channel normalization, got \(normalization.mean.count) channels")
        }
        self.size = size
        self.geometry = geometry
        self.horizontalFlipProbability = horizontalFlipProbability
        self.normalization = normalization
    }

    /// RandomResizedCrop(size) + RandomHorizontalFlip + Normalize(ImageNet), torchvision's training recipe.
    public static func training(size: Int = 224, normalization: ChannelNormalization? = .imageNet) throws -> ImageNetTransform {
        try ImageNetTransform(size: size, geometry: .randomResizedCrop(scale: 0.08...1, ratio: 3.0 / 4.0...4.0 / 3.0),
                           horizontalFlipProbability: 0.5, normalization: normalization)
    }

    /// Resize(⌊size · 256/224⌋) + CenterCrop(size) + Normalize(ImageNet), torchvision's evaluation recipe.
    public static func evaluation(size: Int = 224, normalization: ChannelNormalization? = .imageNet) throws -> ImageNetTransform {
        try ImageNetTransform(size: size, geometry: .resizeAndCenterCrop(shorterSide: size * 256 / 224), normalization: normalization)
    }

    /// Values in one output sample: 3 · size · size.
    public var sampleCount: Int { 3 * size * size }

    /// Sample `index` of `epoch` as a `[3, size, size]` tensor (CHW).
    public func apply(_ image: RGBImage, seed: UInt64, epoch: Int, index: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: sampleCount) { out, initialized in
            apply(image, seed: seed, epoch: epoch, index: index, into: out.baseAddress!)
            initialized = sampleCount
        }
    }

    /// Writes all `sampleCount` values of the sample to `out`.
    func apply(_ image: RGBImage, seed: UInt64, epoch: Int, index: Int, into out: UnsafeMutablePointer<Float>) {
        var rng = SplitMix64(seed: seed, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)))
        let horizontal: ResampleAxis, vertical: ResampleAxis
        switch geometry {
        case let .randomResizedCrop(scale, ratio):
            let box = ImageNetTransform.randomResizedCropBox(width: image.width, height: image.height,
                                                          scale: scale, ratio: ratio, rng: &rng)
            horizontal = ResampleAxis(start: box.x, length: box.width, output: size, window: 0..<size)
            vertical = ResampleAxis(start: box.y, length: box.height, output: size, window: 0..<size)
        case let .resizeAndCenterCrop(shorterSide):
            let (width, height) = ImageNetTransform.resizedSize(width: image.width, height: image.height, shorterSide: shorterSide)
            let left = ImageNetTransform.centerOffset(width - size), top = ImageNetTransform.centerOffset(height - size)
            horizontal = ResampleAxis(start: 0, length: image.width, output: width, window: left..<left + size)
            vertical = ResampleAxis(start: 0, length: image.height, output: height, window: top..<top + size)
        }
        let flip = horizontalFlipProbability > 0 && rng.unitDouble() < horizontalFlipProbability
        // ToTensor and Normalize folded into one multiply-add per value.
        var scale = [Float](repeating: 1 / 255, count: 3), bias = [Float](repeating: 0, count: 3)
        if let normalization {
            for c in 0..<3 {
                scale[c] = 1 / (255 * normalization.std[c])
                bias[c] = -normalization.mean[c] / normalization.std[c]
            }
        }
        Resampler.resample(image, horizontal: horizontal, vertical: vertical, flip: flip,
                           scale: scale, bias: bias, into: out)
    }

    /// torchvision's `RandomResizedCrop.get_params`: ten tries at a random area and aspect ratio
    /// that fit, else the whole image cropped to the nearest allowed ratio, centered.
    static func randomResizedCropBox(width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                                     rng: inout SplitMix64) -> (x: Int, y: Int, width: Int, height: Int) {
        let area = Double(width * height)
        let logRatio = (log(ratio.lowerBound), log(ratio.upperBound))
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * rng.unitDouble())
            let aspect = exp(logRatio.0 + (logRatio.1 - logRatio.0) * rng.unitDouble())
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0, w <= width, h > 0, h <= height {
                let y = rng.below(height - h + 1), x = rng.below(width - w + 1)
                return (x, y, w, h)
            }
        }
        let inputRatio = Double(width) / Double(height)
        var w = width, h = height
        if inputRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inputRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return ((width - w) / 2, (height - h) / 2, w, h)
    }

    /// torchvision's `Resize(int)`: the shorter side becomes `shorterSide`, the longer keeps the
    /// aspect ratio, truncated.
    static func resizedSize(width: Int, height: Int, shorterSide: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (shorterSide, Int(Double(shorterSide) * Double(height) / Double(width)))
        }
        return (Int(Double(shorterSide) * Double(width) / Double(height)), shorterSide)
    }

    /// torchvision's `CenterCrop` offset: `int(round(excess / 2))`, ties to even as Python rounds.
    static func centerOffset(_ excess: Int) -> Int { Int((Double(excess) / 2).rounded(.toNearestOrEven)) }
}

extension SplitMix64 {
    /// Uniform in [0, 1), 53 random bits: crop areas and ratios need more than `unitFloat`'s 24.
    mutating func unitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}
