import CImageCodecs
import Foundation

/// An 8-bit RGB image on the host: `height` rows of `width` pixels, each R, G, B.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height · width · 3` bytes, row after row, pixel after pixel (HWC).
    public var pixels: [UInt8]

    /// - Throws: `CNNError.invalidArgument` unless `pixels` holds exactly `height · width · 3` bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw CNNError.invalidArgument("an RGB image of \(width)×\(height) needs \(max(width * height * 3, 0)) bytes, got \(pixels.count)")
        }
        self.width = width; self.height = height; self.pixels = pixels
    }
}

/// Decodes JPEG (libjpeg-turbo) and PNG (libpng) files to `RGBImage`, choosing the format by
/// the file's first bytes, not its name. Conversions follow torchvision's `convert("RGB")`:
/// grayscale is replicated, palettes expanded, alpha dropped, 16-bit samples scaled to 8 bits,
/// CMYK JPEGs converted by Pillow's formula. EXIF orientation is ignored, as torchvision does.
///
/// ```swift
/// let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: "cat.jpg"))
/// ```
public enum ImageDecoder {
    public enum Format: String, Sendable { case jpeg = "JPEG", png = "PNG" }

    /// The most pixels (width × height) a decoded image may have: Pillow's decompression-bomb
    /// limit (2 × 89,478,485, about 179 megapixels, 537 MB as RGB). A larger image is refused from
    /// its header, before any memory is taken. Raise it (`--max-image-pixels`) for real huge scans.
    public static let defaultMaxPixels = 178_956_970
    nonisolated(unsafe) public static var maxPixels = defaultMaxPixels

    /// The format announced by the first bytes (JPEG: FF D8 FF; PNG: its 8-byte signature).
    public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8, zip(bytes.prefix(8), png).allSatisfy({ $0 == $1 }) { return .png }
        return nil
    }

    /// Reads and decodes one file.
    /// - Throws: `CNNError.invalidArgument` naming the file when it cannot be read, is neither
    ///   JPEG nor PNG, or is corrupt or truncated.
    public static func decode(contentsOf url: URL) throws -> RGBImage {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CNNError.invalidArgument("cannot read image \(url.path): \(error.localizedDescription)")
        }
        return try decode(data, name: url.path)
    }

    /// Decodes an encoded JPEG or PNG held in memory; `name` (a path) goes into error messages.
    public static func decode(_ data: Data, name: String) throws -> RGBImage {
        try data.withUnsafeBytes { bytes in
            guard let format = format(of: bytes) else {
                throw CNNError.invalidArgument("\(name) is not a JPEG or PNG image (its first bytes are "
                    + "\(bytes.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")), \(bytes.count) bytes in all): "
                    + "remove it from the image folder or convert it")
            }
            var image = cnn_rgb_image()
            var message = [CChar](repeating: 0, count: 256)
            let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let status = format == .jpeg
                ? cnn_decode_jpeg(base, bytes.count, UInt64(max(maxPixels, 0)), &image, &message, message.count)
                : cnn_decode_png(base, bytes.count, UInt64(max(maxPixels, 0)), &image, &message, message.count)
            guard status == 0 else {
                let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let fix = reason.contains("more than the limit")
                    ? "Shrink the image, or raise the limit with --max-image-pixels if it is genuine"
                    : "The file is corrupt or truncated: replace or remove it"
                throw CNNError.invalidArgument("cannot decode \(format.rawValue) image \(name): \(reason). \(fix)")
            }
            defer { cnn_image_free(image.pixels) }
            let count = Int(image.width) * Int(image.height) * 3
            do {
                return try RGBImage(width: Int(image.width), height: Int(image.height),
                                    pixels: Array(UnsafeBufferPointer(start: image.pixels, count: count)))
            } catch {
                throw CNNError.invalidArgument("cannot decode \(format.rawValue) image \(name): \(error)")
            }
        }
    }
}
