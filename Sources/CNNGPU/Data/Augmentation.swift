import Foundation

/// Random training-time augmentation, drawn independently for every sample from a seed, so a
/// run replays exactly. Everything is off by default; turn on what suits the data (no flips
/// for digits, say).
///
/// Per sample, the geometric steps are composed into one resampling of the source image
/// (flip, then rotation and zoom about the centre, then shift), then brightness is added.
/// Pixels that come from outside the image are 0. Normalization is not part of this: the
/// loader applies it last.
///
/// ```swift
/// let aug = Augmentation(horizontalFlip: true, shift: 4)          // CIFAR-style flip + crop
/// let out = try aug.apply(to: image, shape: [3, 32, 32], seed: 7)
/// ```
public struct Augmentation: Sendable, Equatable {
    /// Mirror left–right with probability ½.
    public var horizontalFlip: Bool
    /// Zero-pad by this many pixels on every side, then crop back to H×W at a uniformly random
    /// offset: moves the content by a whole number of pixels in -shift...shift on each axis.
    public var shift: Int
    /// Rotate by a uniform angle in -rotation...rotation degrees (bilinear, zero fill).
    public var rotation: Float
    /// Scale about the centre by a uniform factor in this range (>1 zooms in; bilinear, zero fill).
    public var zoom: ClosedRange<Float>
    /// Add a uniform delta in -brightness...brightness to every pixel, then clamp to [0, 1].
    public var brightness: Float

    public init(horizontalFlip: Bool = false, shift: Int = 0, rotation: Float = 0,
                zoom: ClosedRange<Float> = 1...1, brightness: Float = 0) {
        self.horizontalFlip = horizontalFlip
        self.shift = shift
        self.rotation = rotation
        self.zoom = zoom
        self.brightness = brightness
    }

    /// Whether every step is off, so samples pass through unchanged.
    public var isIdentity: Bool {
        !horizontalFlip && shift == 0 && rotation == 0 && zoom == 1...1 && brightness == 0
    }

    /// - Throws: `CNNError.invalidArgument` for negative or non-finite settings, or a shape
    ///   that is not `[C, H, W]`.
    public func validate(for shape: TensorShape) throws {
        guard shape.rank == 3, shape.dims.allSatisfy({ $0 > 0 }) else {
            throw CNNError.invalidArgument("augmentation works on [C, H, W] images, got shape \(shape)")
        }
        guard shift >= 0 else { throw CNNError.invalidArgument("augmentation shift must be ≥ 0 pixels, got \(shift)") }
        guard rotation.isFinite, rotation >= 0, rotation <= 180 else {
            throw CNNError.invalidArgument("augmentation rotation must be in 0...180 degrees, got \(rotation)")
        }
        guard zoom.lowerBound.isFinite, zoom.upperBound.isFinite, zoom.lowerBound > 0 else {
            throw CNNError.invalidArgument("augmentation zoom range must be positive and finite, got \(zoom)")
        }
        guard brightness.isFinite, brightness >= 0 else {
            throw CNNError.invalidArgument("augmentation brightness must be ≥ 0, got \(brightness)")
        }
    }

    /// The transform for one sample, drawn from `rng` in a fixed order.
    func draw(_ rng: inout SplitMix64) -> ImageTransform {
        var t = ImageTransform()
        if horizontalFlip { t.horizontalFlip = rng.unitFloat() < 0.5 }
        if shift > 0 {
            t.shiftY = rng.below(2 * shift + 1) - shift
            t.shiftX = rng.below(2 * shift + 1) - shift
        }
        if rotation > 0 { t.rotation = rng.uniformFloat(-rotation, rotation) }
        if zoom != 1...1 { t.scale = rng.uniformFloat(zoom.lowerBound, zoom.upperBound) }
        if brightness > 0 {
            t.brightness = rng.uniformFloat(-brightness, brightness)
            t.clamps = true
        }
        return t
    }

    /// The transform a given seed draws; `apply(to:shape:seed:)` applies exactly this.
    public func transform(seed: UInt64) -> ImageTransform {
        var rng = SplitMix64(seed: seed)
        return draw(&rng)
    }

    /// Augments one image (`shape.count` values) with the transform `seed` draws.
    /// - Throws: `CNNError.invalidArgument` for invalid settings or a size/shape mismatch.
    public func apply(to image: [Float], shape: TensorShape, seed: UInt64) throws -> [Float] {
        try validate(for: shape)
        return try transform(seed: seed).apply(to: image, shape: shape)
    }
}

/// One concrete augmentation: what `Augmentation` draws for a sample. Also usable directly,
/// e.g. for test-time augmentation with fixed flips.
public struct ImageTransform: Sendable, Equatable {
    public var horizontalFlip = false
    /// Content moves this many pixels right (negative: left).
    public var shiftX = 0
    /// Content moves this many pixels down (negative: up).
    public var shiftY = 0
    /// Degrees; positive turns the content counter-clockwise as displayed (row 0 on top).
    public var rotation: Float = 0
    /// Zoom factor about the image centre; > 1 enlarges the content.
    public var scale: Float = 1
    /// Added to every pixel.
    public var brightness: Float = 0
    /// Clamp to [0, 1] after adding brightness (always, once brightness augmentation is on).
    public var clamps = false

    public init(horizontalFlip: Bool = false, shiftX: Int = 0, shiftY: Int = 0, rotation: Float = 0,
                scale: Float = 1, brightness: Float = 0, clamps: Bool? = nil) {
        self.horizontalFlip = horizontalFlip
        self.shiftX = shiftX
        self.shiftY = shiftY
        self.rotation = rotation
        self.scale = scale
        self.brightness = brightness
        self.clamps = clamps ?? (brightness != 0)
    }

    /// Transforms one `[C, H, W]` image.
    /// - Throws: `CNNError.invalidArgument` if `image` does not hold `shape.count` values or
    ///   `shape` is not `[C, H, W]`, or the scale is not positive.
    public func apply(to image: [Float], shape: TensorShape) throws -> [Float] {
        guard let (c, h, w) = shape.chw, c > 0, h > 0, w > 0 else {
            throw CNNError.invalidArgument("image transform works on [C, H, W] images, got shape \(shape)")
        }
        guard image.count == shape.count else {
            throw CNNError.invalidArgument("image transform: \(image.count) values do not make one \(shape) image")
        }
        guard scale.isFinite, scale > 0, rotation.isFinite, brightness.isFinite else {
            throw CNNError.invalidArgument("image transform: scale must be positive, all values finite (got \(self))")
        }
        var out = [Float](repeating: 0, count: image.count)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                apply(from: src.baseAddress!, to: dst.baseAddress!, channels: c, height: h, width: w)
            }
        }
        return out
    }

    /// The hot path: writes the transformed image to `dst` (which must not overlap `src`)
    /// without allocating.
    func apply(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>,
               channels: Int, height: Int, width: Int) {
        if rotation == 0 && scale == 1 {
            shiftAndFlip(from: src, to: dst, channels: channels, height: height, width: width)
        } else {
            resample(from: src, to: dst, channels: channels, height: height, width: width)
        }
        if brightness != 0 || clamps {
            let delta = brightness
            for i in 0..<channels * height * width { dst[i] = min(max(dst[i] + delta, 0), 1) }
        }
    }

    /// Whole-pixel moves are exact copies: no interpolation, rows copied in one go.
    private func shiftAndFlip(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>,
                              channels: Int, height: Int, width: Int) {
        // Output columns x whose source column x - shiftX lies inside the image.
        let x0 = max(0, shiftX), x1 = min(width, width + shiftX)
        for c in 0..<channels {
            let plane = c * height * width
            for y in 0..<height {
                let row = dst + plane + y * width
                let sy = y - shiftY
                guard sy >= 0, sy < height, x0 < x1 else {
                    row.update(repeating: 0, count: width)
                    continue
                }
                let srcRow = src + plane + sy * width
                row.update(repeating: 0, count: x0)
                (row + x1).update(repeating: 0, count: width - x1)
                if horizontalFlip {
                    // out[x] = flipped[x - shiftX] = src[width - 1 - (x - shiftX)]
                    let base = width - 1 + shiftX
                    for x in x0..<x1 { row[x] = srcRow[base - x] }
                } else {
                    (row + x0).update(from: srcRow + (x0 - shiftX), count: x1 - x0)
                }
            }
        }
    }

    /// Rotation and zoom: each output pixel maps back through the inverse transform to a
    /// source point, sampled bilinearly, 0 outside the image.
    private func resample(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>,
                          channels: Int, height: Int, width: Int) {
        let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
        let theta = rotation * .pi / 180
        let cosT = cos(theta) / scale, sinT = sin(theta) / scale
        // Source point for output (x, y): undo the shift, then the rotation/zoom about the
        // centre (u' = cos·u - sin·v, v' = sin·u + cos·v, divided by scale), then the flip.
        let flip: Float = horizontalFlip ? -1 : 1
        let flipOffset: Float = horizontalFlip ? Float(width - 1) : 0
        let plane = height * width
        // Along a row the source point moves by a constant step, so it is affine in x.
        let stepX = flip * cosT, stepY = sinT
        for y in 0..<height {
            let v = Float(y - shiftY) - cy
            let u0 = Float(-shiftX) - cx
            let rowX = flipOffset + flip * (cx + cosT * u0 - sinT * v)
            let rowY = cy + sinT * u0 + cosT * v
            for x in 0..<width {
                let sx = rowX + Float(x) * stepX, sy = rowY + Float(x) * stepY
                // floor by truncation after clamping to ≥ -2 (cheaper than floorf); a clamped
                // point lies wholly outside, where the weights no longer matter.
                let ix = Int(max(min(sx, Float(width + 1)), -2) + 2) - 2
                let iy = Int(max(min(sy, Float(height + 1)), -2) + 2) - 2
                let ax = sx - Float(ix), ay = sy - Float(iy)
                let w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay, w11 = ax * ay
                let out = dst + y * width + x
                if ix >= 0 && ix < width - 1 && iy >= 0 && iy < height - 1 {
                    // All four neighbours inside: the common case, no per-tap checks.
                    let i = iy * width + ix
                    for c in 0..<channels {
                        let p = src + c * plane + i
                        out[c * plane] = w00 * p[0] + w01 * p[1] + w10 * p[width] + w11 * p[width + 1]
                    }
                    continue
                }
                // Near or past the border: taps outside the image count as 0.
                let inX0 = ix >= 0 && ix < width, inX1 = ix + 1 >= 0 && ix + 1 < width
                let inY0 = iy >= 0 && iy < height, inY1 = iy + 1 >= 0 && iy + 1 < height
                for c in 0..<channels {
                    let p = src + c * plane
                    var value: Float = 0
                    if inY0 {
                        if inX0 { value += w00 * p[iy * width + ix] }
                        if inX1 { value += w01 * p[iy * width + ix + 1] }
                    }
                    if inY1 {
                        if inX0 { value += w10 * p[(iy + 1) * width + ix] }
                        if inX1 { value += w11 * p[(iy + 1) * width + ix + 1] }
                    }
                    out[c * plane] = value
                }
            }
        }
    }
}
