@testable import CNNGPU
import XCTest

/// Augmentation and normalization: each step checked against a direct per-pixel statement of
/// what it should do.
final class DataAugmentationTests: XCTestCase {
    /// Pixel (c, y, x) of a [C, H, W] image.
    func at(_ image: [Float], _ shape: TensorShape, _ c: Int, _ y: Int, _ x: Int) -> Float {
        let (_, h, w) = (shape.dims[0], shape.dims[1], shape.dims[2])
        guard y >= 0, y < h, x >= 0, x < w else { return 0 }
        return image[(c * h + y) * w + x]
    }

    func testEveryAugmentationKeepsShapeAndRangeAndIsReproducible() throws {
        var rng = SeededGenerator.fresh()
        let shape: TensorShape = [3, 7, 5]
        let image = rng.floats(shape.count, in: 0...1)
        let all = [
            Augmentation(horizontalFlip: true), Augmentation(shift: 2), Augmentation(rotation: 30),
            Augmentation(zoom: 0.8...1.25), Augmentation(brightness: 0.3),
            Augmentation(horizontalFlip: true, shift: 3, rotation: 15, zoom: 0.9...1.1, brightness: 0.2),
        ]
        for aug in all {
            var outputs = Set<[Float]>()
            for seed in UInt64(0)..<16 {
                let out = try aug.apply(to: image, shape: shape, seed: seed &+ rng.seed)
                XCTAssertEqual(out.count, image.count, "\(aug)")
                XCTAssertTrue(out.allSatisfy { $0 >= 0 && $0 <= 1 + 1e-6 }, "\(aug) leaves [0, 1], seed \(rng.seed)")
                XCTAssertEqual(out, try aug.apply(to: image, shape: shape, seed: seed &+ rng.seed), "same seed, same result: \(aug)")
                outputs.insert(out)
            }
            XCTAssertGreaterThan(outputs.count, 1, "\(aug) never varies over 16 seeds (seed \(rng.seed))")
        }
        XCTAssertTrue(Augmentation().isIdentity)
        XCTAssertEqual(try Augmentation().apply(to: image, shape: shape, seed: 1), image)
    }

    func testFlipIsExact() throws {
        var rng = SeededGenerator.fresh()
        let shape: TensorShape = [3, 4, 7]
        let image = rng.floats(shape.count, in: 0...1)
        let flipped = try ImageTransform(horizontalFlip: true).apply(to: image, shape: shape)
        for c in 0..<3 { for y in 0..<4 { for x in 0..<7 {
            XCTAssertEqual(at(flipped, shape, c, y, x), at(image, shape, c, y, 6 - x))
        } } }
        XCTAssertEqual(try ImageTransform(horizontalFlip: true).apply(to: flipped, shape: shape), image)

        // The random flip is either the identity or exactly this, about half the time each.
        var flips = 0
        for seed in UInt64(0)..<200 {
            let out = try Augmentation(horizontalFlip: true).apply(to: image, shape: shape, seed: seed)
            XCTAssertTrue(out == image || out == flipped)
            if out == flipped { flips += 1 }
        }
        XCTAssertTrue((60...140).contains(flips), "\(flips) flips in 200")
    }

    func testShiftMovesPixelsByTheOffsetWithZeroFill() throws {
        var rng = SeededGenerator.fresh()
        let shape: TensorShape = [2, 5, 6]
        let image = rng.floats(shape.count, in: 0.1...1)
        for (dx, dy, flip) in [(2, -1, false), (-3, 2, false), (0, 0, true), (1, 1, true), (6, 0, false), (-2, -5, true)] {
            let out = try ImageTransform(horizontalFlip: flip, shiftX: dx, shiftY: dy).apply(to: image, shape: shape)
            for c in 0..<2 { for y in 0..<5 { for x in 0..<6 {
                let sx = x - dx
                let expected = flip ? (sx < 0 || sx >= 6 ? 0 : at(image, shape, c, y - dy, 5 - sx)) : at(image, shape, c, y - dy, sx)
                XCTAssertEqual(at(out, shape, c, y, x), expected, "shift (\(dx), \(dy)) flip \(flip) at \(c),\(y),\(x)")
            } } }
        }

        // A random shift of at most P is one of these exact moves, and every offset occurs.
        var seen = Set<[Int]>()
        for seed in UInt64(0)..<300 {
            let t = Augmentation(shift: 2).transform(seed: seed)
            XCTAssertTrue(abs(t.shiftX) <= 2 && abs(t.shiftY) <= 2)
            XCTAssertEqual(try Augmentation(shift: 2).apply(to: image, shape: shape, seed: seed),
                           try ImageTransform(shiftX: t.shiftX, shiftY: t.shiftY).apply(to: image, shape: shape))
            seen.insert([t.shiftX, t.shiftY])
        }
        XCTAssertEqual(seen.count, 25, "all 5×5 offsets in 300 draws")
    }

    func testRotationByNinetyDegreesMovesRightToTop() throws {
        var rng = SeededGenerator.fresh()
        let shape: TensorShape = [1, 5, 5]
        let image = rng.floats(shape.count, in: 0...1)
        let out = try ImageTransform(rotation: 90).apply(to: image, shape: shape)
        // Counter-clockwise as displayed: out[y][x] = in[x][4 - y].
        var expected = [Float](repeating: 0, count: 25)
        for y in 0..<5 { for x in 0..<5 { expected[y * 5 + x] = at(image, shape, 0, x, 4 - y) } }
        assertClose(out, expected, tolerance: 1e-5, "rotation 90°, seed \(rng.seed)")
    }

    /// Bilinear sampling reproduces a linear ramp exactly, so any rotation and zoom of a ramp
    /// has a closed form wherever the source point lies inside the image.
    func testRotationAndZoomResampleBilinearly() throws {
        var rng = SeededGenerator.fresh()
        let (h, w) = (9, 11)
        let shape: TensorShape = [1, h, w]
        let (a, b, k) = (Float.random(in: -0.03...0.03, using: &rng), Float.random(in: -0.03...0.03, using: &rng), Float(0.5))
        var ramp = [Float](repeating: 0, count: h * w)
        for y in 0..<h { for x in 0..<w { ramp[y * w + x] = k + a * Float(x) + b * Float(y) } }
        let (cx, cy) = (Float(w - 1) / 2, Float(h - 1) / 2)
        for _ in 0..<10 {
            let t = ImageTransform(horizontalFlip: Bool.random(using: &rng), shiftX: Int.random(in: -1...1, using: &rng),
                                   rotation: Float.random(in: -40...40, using: &rng), scale: Float.random(in: 0.7...1.4, using: &rng))
            let out = try t.apply(to: ramp, shape: shape)
            let theta = t.rotation * .pi / 180
            var checked = 0
            for y in 0..<h { for x in 0..<w {
                // Inverse of: flip, then rotate/zoom about the centre, then shift.
                let u = Float(x - t.shiftX) - cx, v = Float(y - t.shiftY) - cy
                var sx = cx + (cos(theta) * u - sin(theta) * v) / t.scale
                let sy = cy + (sin(theta) * u + cos(theta) * v) / t.scale
                if t.horizontalFlip { sx = Float(w - 1) - sx }
                if sx >= 0, sx <= Float(w - 1), sy >= 0, sy <= Float(h - 1) {
                    XCTAssertEqual(out[y * w + x], k + a * sx + b * sy, accuracy: 1e-5, "\(t) at \(y),\(x), seed \(rng.seed)")
                    checked += 1
                } else if sx < -1 || sx > Float(w) || sy < -1 || sy > Float(h) {
                    XCTAssertEqual(out[y * w + x], 0, "outside the image is zero: \(t) at \(y),\(x)")
                }
            } }
            XCTAssertGreaterThan(checked, h * w / 3, "\(t)")
        }
    }

    func testZoomOutShrinksTowardTheCentre() throws {
        let shape: TensorShape = [1, 9, 9]
        let ones = [Float](repeating: 1, count: 81)
        let out = try ImageTransform(scale: 0.5).apply(to: ones, shape: shape)
        XCTAssertEqual(out[4 * 9 + 4], 1, "centre stays")
        XCTAssertEqual(out[0], 0, "corner now outside the content")
        XCTAssertEqual(out.reduce(0, +), 25, accuracy: 1e-4, "content covers the middle 5×5")
        XCTAssertEqual(try ImageTransform(scale: 2).apply(to: ones, shape: shape), ones, "zoom in keeps a flat image")
    }

    func testBrightnessAddsAndClamps() throws {
        let shape: TensorShape = [1, 1, 4]
        let image: [Float] = [0, 0.2, 0.7, 1]
        assertClose(try ImageTransform(brightness: 0.5).apply(to: image, shape: shape), [0.5, 0.7, 1, 1])
        assertClose(try ImageTransform(brightness: -0.5).apply(to: image, shape: shape), [0, 0, 0.2, 0.5])
        for seed in UInt64(0)..<50 {
            let t = Augmentation(brightness: 0.4).transform(seed: seed)
            XCTAssertTrue(abs(t.brightness) <= 0.4 && t.clamps)
            let out = try Augmentation(brightness: 0.4).apply(to: image, shape: shape, seed: seed)
            XCTAssertEqual(out, image.map { min(max($0 + t.brightness, 0), 1) })
        }
    }

    func testBadSettingsAreRejected() {
        let shape: TensorShape = [1, 4, 4]
        let image = [Float](repeating: 0, count: 16)
        for aug in [Augmentation(shift: -1), Augmentation(rotation: -5), Augmentation(rotation: .nan),
                    Augmentation(zoom: 0...2), Augmentation(brightness: -0.1), Augmentation(zoom: 1...Float.infinity)] {
            assertThrowsCNNError({ _ = try aug.apply(to: image, shape: shape, seed: 0) }, "\(aug)")
        }
        assertThrowsCNNError({ _ = try Augmentation().apply(to: image, shape: [16], seed: 0) }, "not an image")
        assertThrowsCNNError({ _ = try Augmentation().apply(to: image, shape: [1, 3, 3], seed: 0) }, "wrong size")
        assertThrowsCNNError({ _ = try ImageTransform(scale: 0).apply(to: image, shape: shape) })
    }

    func testChannelNormalization() throws {
        var rng = SeededGenerator.fresh()
        let images = rng.floats(6 * 2 * 3 * 4, in: 0...1)
        let d = try Dataset(name: "d", sampleShape: [2, 3, 4], classes: 1, images: images, labels: [Int32](repeating: 0, count: 6))
        let norm = try ChannelNormalization(fittedTo: d)
        for c in 0..<2 {
            var values = [Double]()
            for n in 0..<6 { values += images[(n * 2 + c) * 12..<(n * 2 + c + 1) * 12].map(Double.init) }
            let mean: Double = values.reduce(0, +) / Double(values.count)
            let squares: [Double] = values.map { ($0 - mean) * ($0 - mean) }
            let std: Double = (squares.reduce(0, +) / Double(values.count)).squareRoot()
            XCTAssertEqual(Double(norm.mean[c]), mean, accuracy: 1e-6, "seed \(rng.seed)")
            XCTAssertEqual(Double(norm.std[c]), std, accuracy: 1e-6, "seed \(rng.seed)")
        }
        assertThrowsCNNError({ _ = try ChannelNormalization(mean: [0.5], std: [0]) })
        assertThrowsCNNError({ _ = try ChannelNormalization(mean: [0.5, 0.5], std: [1]) })
        assertThrowsCNNError({ _ = try ChannelNormalization(mean: [], std: []) })
        XCTAssertEqual(ChannelNormalization.cifar10.mean.count, 3)
    }
}
