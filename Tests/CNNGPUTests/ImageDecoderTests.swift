@testable import CNNGPU
import XCTest

/// Decoding real JPEG and PNG files to RGB, and clear errors for files that are not.
final class ImageDecoderTests: XCTestCase {
    private func decode(_ data: Data, _ name: String = "sample") throws -> RGBImage { try ImageDecoder.decode(data, name: name) }

    func testRGBPNGDecodesExactly() throws {
        var rng = SeededGenerator.fresh()
        let pixels = ImageFiles.noise(7 * 5 * 3, &rng)
        let image = try decode(ImageFiles.png(pixels, width: 7, height: 5))
        XCTAssertEqual(image, try RGBImage(width: 7, height: 5, pixels: pixels), "seed \(rng.seed)")
    }

    func testGrayPNGIsReplicatedIntoRGB() throws {
        let gray: [UInt8] = [0, 50, 100, 150, 200, 255]
        let image = try decode(ImageFiles.png(gray, width: 3, height: 2, channels: 1))
        XCTAssertEqual(image.pixels, gray.flatMap { [$0, $0, $0] })
    }

    func testAlphaIsDroppedNotComposited() throws {
        let rgba: [UInt8] = [10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255]
        XCTAssertEqual(try decode(ImageFiles.png(rgba, width: 3, height: 1, channels: 4)).pixels,
                       [10, 20, 30, 40, 50, 60, 70, 80, 90])
        let grayAlpha: [UInt8] = [7, 0, 200, 99]
        XCTAssertEqual(try decode(ImageFiles.png(grayAlpha, width: 2, height: 1, channels: 2)).pixels, [7, 7, 7, 200, 200, 200])
    }

    func testSixteenBitPNGIsScaledToEightBits() throws {
        // 257 · k is exactly k in 8 bits; 0x8000 lies between 127 and 128 and rounds to 128.
        let rgb: [UInt16] = [0, 257 * 1, 257 * 254, 65535, 257 * 100, 0x8000]
        XCTAssertEqual(try decode(ImageFiles.png16(rgb, width: 2, height: 1, channels: 3)).pixels, [0, 1, 254, 255, 100, 128])
        let gray: [UInt16] = [257 * 3, 65535]
        XCTAssertEqual(try decode(ImageFiles.png16(gray, width: 2, height: 1, channels: 1)).pixels, [3, 3, 3, 255, 255, 255])
    }

    func testJPEGDecodesCloseToTheOriginal() throws {
        // A smooth gradient survives quality-100 JPEG within a few levels.
        let (width, height) = (32, 24)
        var pixels = [UInt8]()
        for y in 0..<height { for x in 0..<width { pixels += [UInt8(x * 8), UInt8(y * 10), 128] } }
        let image = try decode(ImageFiles.jpeg(pixels, width: width, height: height, quality: 100))
        XCTAssertEqual(image.width, width)
        XCTAssertEqual(image.height, height)
        let worst = zip(image.pixels, pixels).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(worst, 8)
    }

    func testGrayJPEGBecomesRGB() throws {
        let gray = [UInt8](repeating: 90, count: 16 * 16)
        let image = try decode(ImageFiles.jpeg(gray, width: 16, height: 16, channels: 1, quality: 100))
        XCTAssertEqual(image.pixels.count, 16 * 16 * 3)
        XCTAssertTrue(image.pixels.allSatisfy { abs(Int($0) - 90) <= 1 })
    }

    func testCMYKJPEGIsConvertedAsPillowDoes() throws {
        // Stored Adobe-inverted: 255 is no ink. Pixels: white, magenta (full M), half K, cyan at half K.
        let stored: [[UInt8]] = [[255, 255, 255, 255], [255, 0, 255, 255], [255, 255, 255, 127], [0, 255, 255, 127]]
        let expected: [[Int]] = [[255, 255, 255], [255, 0, 255], [127, 127, 127], [0, 127, 127]]
        for (ink, rgb) in zip(stored, expected) {
            let pixels = Array([[UInt8]](repeating: ink, count: 16 * 16).joined())
            let image = try decode(ImageFiles.jpeg(pixels, width: 16, height: 16, channels: 4, quality: 100))
            for c in 0..<3 {
                XCTAssertLessThanOrEqual(abs(Int(image.pixels[c]) - rgb[c]), 2, "ink \(ink): got \(image.pixels[0..<3])")
            }
        }
    }

    func testFormatComesFromTheBytesNotTheName() throws {
        let png = try ImageFiles.png([1, 2, 3], width: 1, height: 1)
        let folder = try ImageFiles.temporaryFolder(self)
        let url = try ImageFiles.write(png, to: "actually-a-png.jpg", in: folder)
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url).pixels, [1, 2, 3])
    }

    func testBadFilesGiveAnErrorNamingTheFile() throws {
        var rng = SeededGenerator.fresh()
        let pixels = ImageFiles.noise(40 * 30 * 3, &rng)
        let jpeg = try ImageFiles.jpeg(pixels, width: 40, height: 30)
        let png = try ImageFiles.png(pixels, width: 40, height: 30)
        var corrupt = jpeg
        corrupt.replaceSubrange(20..<jpeg.count - 2, with: [UInt8](repeating: 0x55, count: jpeg.count - 22))
        let cases: [(String, Data, String)] = [
            ("truncated.jpg", jpeg.prefix(jpeg.count / 2), "cannot decode JPEG"),
            ("truncated.png", png.prefix(png.count / 2), "cannot decode PNG"),
            ("corrupt.jpg", corrupt, "cannot decode JPEG"),
            ("notes.jpg", Data("just some text".utf8), "not a JPEG or PNG"),
            ("empty.png", Data(), "not a JPEG or PNG"),
        ]
        let folder = try ImageFiles.temporaryFolder(self)
        for (name, data, expected) in cases {
            let url = try ImageFiles.write(data, to: name, in: folder)
            let message = assertThrowsCNNError({ _ = try ImageDecoder.decode(contentsOf: url) }, name) ?? ""
            XCTAssertTrue(message.contains(url.path), "\(name): \(message)")
            XCTAssertTrue(message.contains(expected), "\(name): \(message)")
        }
        let missing = folder.appendingPathComponent("missing.jpg")
        XCTAssertTrue((assertThrowsCNNError { _ = try ImageDecoder.decode(contentsOf: missing) } ?? "").contains(missing.path))
    }
}
