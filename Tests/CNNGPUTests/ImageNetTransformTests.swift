@testable import CNNGPU
import XCTest

/// torchvision's ImageNet training and evaluation transforms, checked on images whose output is known.
final class ImageNetTransformTests: XCTestCase {
    private func randomImage(width: Int, height: Int, _ rng: inout SeededGenerator) throws -> RGBImage {
        try RGBImage(width: width, height: height, pixels: ImageFiles.noise(width * height * 3, &rng))
    }

    /// The `[3, h, w]` tensor of `image`'s window at (`x`, `y`) scaled to [0, 1], optionally mirrored.
    private func plainCrop(_ image: RGBImage, x: Int, y: Int, size: Int, mirrored: Bool = false) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * size * size)
        for c in 0..<3 {
            for row in 0..<size {
                for col in 0..<size {
                    let sourceCol = x + (mirrored ? size - 1 - col : col)
                    out[(c * size + row) * size + col] = Float(image.pixels[((y + row) * image.width + sourceCol) * 3 + c]) / 255
                }
            }
        }
        return out
    }

    func testOutputSizesAndDeterminism() throws {
        var rng = SeededGenerator.fresh()
        let image = try randomImage(width: 50, height: 37, &rng)
        for transform in [try ImageNetTransform.training(size: 32), try ImageNetTransform.evaluation(size: 32)] {
            let a = transform.apply(image, seed: 5, epoch: 2, index: 9)
            XCTAssertEqual(a.count, 3 * 32 * 32)
            XCTAssertTrue(a.allSatisfy(\.isFinite))
            XCTAssertEqual(a, transform.apply(image, seed: 5, epoch: 2, index: 9), "same (seed, epoch, index), same sample")
        }
        let training = try ImageNetTransform.training(size: 32)
        let draws = Set((0..<8).map { training.apply(image, seed: 5, epoch: $0, index: 9) })
        XCTAssertGreaterThan(draws.count, 1, "each epoch draws a new crop")
        let evaluation = try ImageNetTransform.evaluation(size: 32)
        XCTAssertEqual(evaluation.apply(image, seed: 5, epoch: 0, index: 0), evaluation.apply(image, seed: 9, epoch: 3, index: 7),
                       "evaluation has no randomness")
    }

    func testCenterCropIsExact() throws {
        // 256×256 resized to 256 is unchanged; the 224 center crop starts at (16, 16).
        var rng = SeededGenerator.fresh()
        let image = try randomImage(width: 256, height: 256, &rng)
        let transform = try ImageNetTransform.evaluation(size: 224, normalization: nil)
        assertClose(transform.apply(image, seed: 0, epoch: 0, index: 0), plainCrop(image, x: 16, y: 16, size: 224), tolerance: 1e-6)
        // A 300×256 image keeps its height; the crop starts at x = round(76 / 2) = 38.
        let wide = try randomImage(width: 300, height: 256, &rng)
        assertClose(transform.apply(wide, seed: 0, epoch: 0, index: 0), plainCrop(wide, x: 38, y: 16, size: 224), tolerance: 1e-6)
    }

    func testHorizontalFlipIsExact() throws {
        var rng = SeededGenerator.fresh()
        let image = try randomImage(width: 16, height: 16, &rng)
        let whole = ImageNetTransform.Geometry.randomResizedCrop(scale: 1...1, ratio: 1...1)
        let flipped = try ImageNetTransform(size: 16, geometry: whole, horizontalFlipProbability: 1, normalization: nil)
        let kept = try ImageNetTransform(size: 16, geometry: whole, horizontalFlipProbability: 0, normalization: nil)
        assertClose(flipped.apply(image, seed: 1, epoch: 0, index: 0), plainCrop(image, x: 0, y: 0, size: 16, mirrored: true), tolerance: 1e-6)
        assertClose(kept.apply(image, seed: 1, epoch: 0, index: 0), plainCrop(image, x: 0, y: 0, size: 16), tolerance: 1e-6)
        // With p = 0.5 both outcomes occur, about equally often.
        let half = try ImageNetTransform(size: 16, geometry: whole, horizontalFlipProbability: 0.5, normalization: nil)
        let mirroredCount = (0..<200).filter { half.apply(image, seed: 3, epoch: 0, index: $0) == flipped.apply(image, seed: 0, epoch: 0, index: 0) }.count
        XCTAssertTrue((60...140).contains(mirroredCount), "\(mirroredCount) of 200 flipped")
    }

    func testNormalizationUsesImageNetStatistics() throws {
        let pixel: [UInt8] = [255, 0, 128]
        let image = try RGBImage(width: 8, height: 8, pixels: Array([[UInt8]](repeating: pixel, count: 64).joined()))
        let out = try ImageNetTransform.evaluation(size: 4).apply(image, seed: 0, epoch: 0, index: 0)
        let mean: [Double] = [0.485, 0.456, 0.406], std: [Double] = [0.229, 0.224, 0.225]
        for c in 0..<3 {
            let expected = (Double(pixel[c]) / 255 - mean[c]) / std[c]
            assertClose(Array(out[c * 16..<(c + 1) * 16]), [Double](repeating: expected, count: 16), tolerance: 1e-5)
        }
    }

    func testEvaluationMatchesPillow() throws {
        // Pillow 13: Image.fromarray(a).resize((5, 4), BILINEAR).crop((0, 0, 4, 4)) — torchvision's
        // Resize(4 · 256/224 = 4) + CenterCrop(4) — for the 9×7 image below, as CHW bytes.
        let pillow: [Float] = [68, 117, 158, 118, 129, 88, 120, 137, 118, 138, 96, 120, 122, 98, 137, 111,
                               116, 167, 152, 104, 125, 116, 146, 154, 149, 140, 117, 137, 127, 127, 156, 122,
                               155, 131, 148, 112, 108, 128, 132, 160, 167, 126, 116, 133, 125, 174, 138, 100]
        var pixels = [UInt8]()
        for y in 0..<7 { for x in 0..<9 { for c in 0..<3 { pixels.append(UInt8((x * 37 + y * 91 + c * 53) % 256)) } } }
        let out = try ImageNetTransform.evaluation(size: 4, normalization: nil)
            .apply(RGBImage(width: 9, height: 7, pixels: pixels), seed: 0, epoch: 0, index: 0)
        // Pillow rounds to 8 bits after each of its two passes; we round nowhere.
        let worst = zip(out, pillow).map { abs($0 * 255 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1, "\(out.map { $0 * 255 })")
    }

    func testBilinearWeightsFollowPIL() {
        // Halving 4 pixels: output 0 is centred at 1.0 with a triangle of half-width 2, so it takes
        // pixels 0, 1, 2 with weights 0.75, 0.75, 0.25 (÷ 1.75); output 1 takes pixels 1, 2, 3.
        let axis = ResampleAxis(start: 0, length: 4, output: 2, window: 0..<2)
        XCTAssertEqual(axis.first, [0, 1])
        XCTAssertEqual(axis.count, [3, 3])
        assertClose(Array(axis.weights[0..<3]), [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75], tolerance: 1e-6)
        assertClose(Array(axis.weights[axis.taps..<axis.taps + 3]), [0.25 / 1.75, 0.75 / 1.75, 0.75 / 1.75], tolerance: 1e-6)
        // Doubling: plain bilinear with half-pixel centres, edges clamped.
        let up = ResampleAxis(start: 0, length: 2, output: 4, window: 0..<4)
        XCTAssertEqual(up.first, [0, 0, 0, 1])
        assertClose(Array(up.weights[up.taps..<up.taps + 2]), [0.75, 0.25], tolerance: 1e-6)
    }

    func testRandomResizedCropBoxesStayInsideAndInRange() {
        var rng = SplitMix64(seed: 11, 0)
        for _ in 0..<500 {
            let box = ImageNetTransform.randomResizedCropBox(width: 500, height: 375, scale: 0.08...1, ratio: 0.75...(4.0 / 3),
                                                             rng: &rng)
            XCTAssertTrue(box.x >= 0 && box.y >= 0 && box.x + box.width <= 500 && box.y + box.height <= 375, "\(box)")
            let area = Double(box.width * box.height) / (500 * 375)
            XCTAssertTrue((0.07...1).contains(area), "\(box)")
            let ratio = Double(box.width) / Double(box.height)
            XCTAssertTrue((0.7...1.4).contains(ratio), "\(box)")
        }
        // A 10:1 strip never fits a ratio ≤ 4/3 at large area: the fallback crops to 4/3, centred.
        var strip = SplitMix64(seed: 1, 0)
        let box = ImageNetTransform.randomResizedCropBox(width: 1000, height: 100, scale: 0.9...1, ratio: 0.75...(4.0 / 3),
                                                         rng: &strip)
        XCTAssertEqual(box.width, 133)
        XCTAssertEqual(box.height, 100)
        XCTAssertEqual(box.x, (1000 - 133) / 2)
    }

    func testInvalidSettingsAreRejected() {
        assertThrowsCNNError { _ = try ImageNetTransform.training(size: 0) }
        assertThrowsCNNError { _ = try ImageNetTransform(size: 8, geometry: .randomResizedCrop(scale: 0...1, ratio: 1...1)) }
        assertThrowsCNNError { _ = try ImageNetTransform(size: 8, geometry: .resizeAndCenterCrop(shorterSide: 7)) }
        assertThrowsCNNError { _ = try ImageNetTransform.training(size: 8, normalization: .mnist) }
    }
}
