import CImageCodecs
import Foundation

/// An 8-bit RGB picture being drawn: the surface every visualization renders onto before it
/// is written as a PNG.
///
/// ```swift
/// var canvas = Canvas(width: 120, height: 40, background: .white)
/// canvas.draw(text: "Sobel x", x: 4, y: 4, color: .black)
/// try canvas.writePNG(to: URL(fileURLWithPath: "label.png"))
/// ```
public struct Canvas: Sendable, Equatable {
    public struct Color: Sendable, Equatable {
        public var r: UInt8, g: UInt8, b: UInt8
        public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
        public static let white = Color(255, 255, 255)
        public static let black = Color(0, 0, 0)
        public static let gray = Color(128, 128, 128)
        public static let red = Color(220, 30, 30)
        public static let green = Color(20, 150, 40)

        /// A grey level from a value in [0, 1] (clamped).
        public init(gray v: Double) {
            let b = UInt8((min(max(v, 0), 1) * 255).rounded())
            self.init(b, b, b)
        }
    }

    public let width: Int
    public let height: Int
    /// `height · width · 3` bytes, row after row (the layout of `RGBImage`).
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = .white) {
        precondition(width > 0 && height > 0, "a canvas needs a positive size")
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, color: background)
    }

    public init(_ image: RGBImage) {
        width = image.width; height = image.height; pixels = image.pixels
    }

    public var image: RGBImage { try! RGBImage(width: width, height: height, pixels: pixels) }

    public subscript(x: Int, y: Int) -> Color {
        get { let i = (y * width + x) * 3; return Color(pixels[i], pixels[i + 1], pixels[i + 2]) }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            pixels[i] = newValue.r; pixels[i + 1] = newValue.g; pixels[i + 2] = newValue.b
        }
    }

    /// Fills a rectangle; the parts outside the canvas are clipped.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        for yy in max(y, 0)..<max(min(y + h, height), max(y, 0)) {
            for xx in max(x, 0)..<max(min(x + w, width), max(x, 0)) { self[xx, yy] = color }
        }
    }

    /// A one-pixel rectangle outline.
    public mutating func stroke(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        fill(x: x, y: y, width: w, height: 1, color: color)
        fill(x: x, y: y + h - 1, width: w, height: 1, color: color)
        fill(x: x, y: y, width: 1, height: h, color: color)
        fill(x: x + w - 1, y: y, width: 1, height: h, color: color)
    }

    /// Copies `other` with its top-left corner at (x, y), each pixel drawn as a `scale`×`scale`
    /// block (nearest neighbour, so small feature maps stay crisp rather than blurred).
    public mutating func draw(_ other: Canvas, x: Int, y: Int, scale: Int = 1) {
        for sy in 0..<other.height * scale {
            for sx in 0..<other.width * scale { self[x + sx, y + sy] = other[sx / scale, sy / scale] }
        }
    }

    /// `image` resized to `width`×`height` by nearest neighbour.
    public func resized(width w: Int, height h: Int) -> Canvas {
        var out = Canvas(width: w, height: h)
        for y in 0..<h {
            for x in 0..<w { out[x, y] = self[x * width / w, y * height / h] }
        }
        return out
    }

    /// The encoded PNG (8-bit RGB).
    public func pngData() throws -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeBytes {
            cnn_encode_png($0.baseAddress, Int32(width), Int32(height), 3, 8, &out, &size, &message, message.count)
        }
        guard status == 0, let out else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CNNError.invalidArgument("cannot encode a \(width)×\(height) PNG: \(reason)")
        }
        defer { cnn_image_free(out) }
        return Data(bytes: out, count: size)
    }

    /// Writes the PNG to `url`, creating its folder.
    public func writePNG(to url: URL) throws {
        let data = try pngData()
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw CNNError.invalidArgument("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}

extension Canvas {
    /// The picture as a CHW tensor of R, G, B planes with values in [0, 1] (ToTensor).
    public var chwUnit: [Float] {
        let n = width * height
        var out = [Float](repeating: 0, count: 3 * n)
        for i in 0..<n {
            for c in 0..<3 { out[c * n + i] = Float(pixels[i * 3 + c]) / 255 }
        }
        return out
    }

    /// Shrunk (nearest neighbour) so its longer side is at most `side`; small pictures stay as they are.
    public func fitting(side: Int) -> Canvas {
        let longer = max(width, height)
        guard longer > side else { return self }
        return resized(width: max(1, width * side / longer), height: max(1, height * side / longer))
    }
}
