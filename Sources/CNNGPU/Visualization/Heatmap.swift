/// Colour maps and the conversions from tensors to pictures that every visualization shares.
public enum Colormap: String, Sendable, CaseIterable {
    /// Black → purple → orange → pale yellow: perceptually ordered, readable in grey print.
    case inferno
    /// Black → white.
    case gray
    /// Blue (negative) → white (zero) → red (positive), for signed values such as filters.
    case diverging

    private var anchors: [(Double, Double, Double)] {
        switch self {
        case .inferno: return [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)]
        case .gray: return [(0, 0, 0), (255, 255, 255)]
        case .diverging: return [(33, 102, 172), (255, 255, 255), (178, 24, 43)]
        }
    }

    /// The colour of `t` in [0, 1] (clamped; NaN is black), interpolated linearly between anchors.
    public func color(_ t: Double) -> Canvas.Color {
        guard t.isFinite else { return .black }
        let a = anchors
        let x = min(max(t, 0), 1) * Double(a.count - 1)
        let i = min(Int(x), a.count - 2)
        let f = x - Double(i)
        func mix(_ p: Double, _ q: Double) -> UInt8 { UInt8((p + (q - p) * f).rounded()) }
        return Canvas.Color(mix(a[i].0, a[i + 1].0), mix(a[i].1, a[i + 1].1), mix(a[i].2, a[i + 1].2))
    }
}

/// How values became pixel brightness: printed next to every picture of raw numbers, since a
/// picture alone hides whether black meant 0 or the minimum.
public struct DisplayScaling: Sendable, Equatable, CustomStringConvertible {
    public var low: Float
    public var high: Float

    /// Min–max of `values` (a constant map gets a unit range, so it draws as flat black).
    public init(fitting values: some Collection<Float>) {
        let finite = values.filter(\.isFinite)
        low = finite.min() ?? 0; high = finite.max() ?? 1
        if high <= low { high = low + 1 }
    }

    /// Symmetric about zero: ±max|v|, so zero is the middle grey (or white on a diverging map).
    public init(symmetric values: some Collection<Float>) {
        let m = values.filter(\.isFinite).map(abs).max() ?? 0
        low = -max(m, .leastNormalMagnitude); high = max(m, .leastNormalMagnitude)
    }

    public init(low: Float, high: Float) { self.low = low; self.high = high }

    public func unit(_ v: Float) -> Double { Double((v - low) / (high - low)) }

    public var description: String { String(format: "%.4g → 0, %.4g → 1", low, high) }
}

extension Canvas {
    /// One `height`×`width` plane of values as colours through `colormap`.
    public init(plane values: ArraySlice<Float>, width: Int, height: Int, colormap: Colormap = .gray,
                scaling: DisplayScaling? = nil) {
        precondition(values.count == width * height, "a \(width)×\(height) plane needs \(width * height) values")
        let s = scaling ?? DisplayScaling(fitting: values)
        self.init(width: width, height: height)
        let base = values.startIndex
        for y in 0..<height {
            for x in 0..<width { self[x, y] = colormap.color(s.unit(values[base + y * width + x])) }
        }
    }

    /// A CHW image tensor (1 or 3 channels, values in [0, 1] after `denormalize`) as a picture.
    public init(chw values: [Float], channels: Int, width: Int, height: Int, scaling: DisplayScaling? = nil) {
        precondition(channels == 1 || channels == 3, "only 1- or 3-channel tensors are pictures")
        precondition(values.count == channels * width * height, "a \(channels)×\(height)×\(width) tensor needs more values")
        let s = scaling ?? DisplayScaling(low: 0, high: 1)
        self.init(width: width, height: height)
        let plane = width * height
        func byte(_ v: Float) -> UInt8 { UInt8((min(max(s.unit(v), 0), 1) * 255).rounded()) }
        for i in 0..<plane {
            let r = values[i], g = values[(channels == 3 ? plane : 0) + i], b = values[(channels == 3 ? 2 * plane : 0) + i]
            self[i % width, i / width] = Color(byte(r), byte(g), byte(b))
        }
    }

    /// `heat` (values in [0, 1], one per pixel of this canvas) blended over the picture with
    /// weight `alpha`, through `colormap`: the usual saliency and Grad-CAM overlay.
    public func overlaid(heat: [Float], colormap: Colormap = .inferno, alpha: Double = 0.5) -> Canvas {
        precondition(heat.count == width * height, "the heat map must have one value per pixel")
        var out = self
        for y in 0..<height {
            for x in 0..<width {
                let h = colormap.color(Double(heat[y * width + x])), p = self[x, y]
                func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) * (1 - alpha) + Double(b) * alpha).rounded()) }
                out[x, y] = Color(mix(p.r, h.r), mix(p.g, h.g), mix(p.b, h.b))
            }
        }
        return out
    }
}

/// Bilinear resampling of one plane with half-pixel centres (PyTorch's `interpolate(mode:
/// "bilinear", align_corners: false)`): how Grad-CAM maps a 7×7 map onto a 224×224 image.
public func bilinearResize(_ plane: [Float], width: Int, height: Int, toWidth outW: Int, toHeight outH: Int) -> [Float] {
    precondition(plane.count == width * height, "a \(width)×\(height) plane needs \(width * height) values")
    var out = [Float](repeating: 0, count: outW * outH)
    func source(_ o: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Float) {
        let s = max((Float(o) + 0.5) * Float(inSize) / Float(outSize) - 0.5, 0)
        let i0 = min(Int(s), inSize - 1)
        return (i0, min(i0 + 1, inSize - 1), s - Float(i0))
    }
    for y in 0..<outH {
        let (y0, y1, fy) = source(y, height, outH)
        for x in 0..<outW {
            let (x0, x1, fx) = source(x, width, outW)
            let top = plane[y0 * width + x0] * (1 - fx) + plane[y0 * width + x1] * fx
            let bottom = plane[y1 * width + x0] * (1 - fx) + plane[y1 * width + x1] * fx
            out[y * outW + x] = top * (1 - fy) + bottom * fy
        }
    }
    return out
}
