import CImageCodecs
import Foundation
import XCTest

/// Real JPEG and PNG files for image-folder tests, encoded with the same libraries the decoder uses.
enum ImageFiles {
    /// `pixels`: height · width · channels bytes; channels 1 (gray), 3 (RGB) or 4 (Adobe-inverted CMYK).
    static func jpeg(_ pixels: [UInt8], width: Int, height: Int, channels: Int = 3, quality: Int = 95) throws -> Data {
        try encoded { out, size, error, errorSize in
            cnn_encode_jpeg(pixels, Int32(width), Int32(height), Int32(channels), Int32(quality), out, size, error, errorSize)
        }
    }

    /// 8-bit PNG; channels 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    static func png(_ pixels: [UInt8], width: Int, height: Int, channels: Int = 3) throws -> Data {
        try encoded { out, size, error, errorSize in
            cnn_encode_png(pixels, Int32(width), Int32(height), Int32(channels), 8, out, size, error, errorSize)
        }
    }

    /// 16-bit PNG.
    static func png16(_ samples: [UInt16], width: Int, height: Int, channels: Int) throws -> Data {
        try encoded { out, size, error, errorSize in
            cnn_encode_png(samples, Int32(width), Int32(height), Int32(channels), 16, out, size, error, errorSize)
        }
    }

    private static func encoded(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                           UnsafeMutablePointer<CChar>, Int) -> Int32) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        guard encode(&out, &size, &message, message.count) == 0, let out else {
            throw NSError(domain: "ImageFiles", code: 1, userInfo: [NSLocalizedDescriptionKey: String(cString: message)])
        }
        defer { cnn_image_free(out) }
        return Data(bytes: out, count: size)
    }

    /// A fresh empty folder under the temporary directory, removed when the test ends.
    static func temporaryFolder(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-gpu-images-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Writes `data` to `root/relativePath`, creating folders on the way.
    @discardableResult
    static func write(_ data: Data, to relativePath: String, in root: URL) throws -> URL {
        let url = root.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        return url
    }

    /// `count` random bytes.
    static func noise(_ count: Int, _ rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
}
