import CNNGPU
import Foundation
import XCTest

/// `cnn-gpu filters`, `visualize` and `evaluate` as a user runs them, on a PNG and a JPEG.
final class VisualizationCLITests: XCTestCase {
    /// A folder with LeNet-5 weights (random, seeded), a PNG and a JPEG of a bright object on black.
    private func fixtures() throws -> (dir: URL, weights: String, png: String, jpeg: String) {
        let dir = try ImageFiles.temporaryFolder(self)
        let graph = try ModelZoo.build("lenet5", input: [1, 28, 28], classes: 10)
        let weights = dir.appendingPathComponent("lenet5.safetensors")
        try ModelWeights.export(ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 11), to: weights)
        var rng = SeededGenerator(seed: 4)
        let (w, h) = (40, 36)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 8..<30 { for x in 10..<32 { for c in 0..<3 { pixels[(y * w + x) * 3 + c] = UInt8.random(in: 150...255, using: &rng) } } }
        let png = try ImageFiles.write(ImageFiles.png(pixels, width: w, height: h), to: "shirt.png", in: dir)
        let jpeg = try ImageFiles.write(ImageFiles.jpeg(pixels, width: w, height: h), to: "boot.jpg", in: dir)
        return (dir, weights.path, png.path, jpeg.path)
    }

    private func assertPNG(_ path: URL, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try ImageDecoder.decode(contentsOf: path), path.path, file: file, line: line)
    }

    func testFiltersWritesEveryFilterWithItsArithmetic() throws {
        let f = try fixtures()
        let out = f.dir.appendingPathComponent("filters")
        for (image, device) in [(f.jpeg, "cpu"), (f.png, "opencl")] where device == "cpu" || TestBackends.openCL != nil {
            let json = f.dir.appendingPathComponent("filters.json")
            let r = try runCLI(["filters", image, "--device", device, "--stride", "2", "--padding", "1", "--kernel", "1,0;0,-1",
                                "--output", out.path, "--json", json.path] + (device == "opencl" ? ["--color"] : []))
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssert(r.output.contains("height floor((36 + 2*1 - 3)/2) + 1 = 18, width floor((40 + 2*1 - 3)/2) + 1 = 20"), r.output)
            XCTAssert(r.output.contains("height (36 + 2*1 - 2)/2 + 1 = 19"), r.output)
            for name in ["sobel-x", "sobel-y", "sobel-magnitude", "prewitt-x", "prewitt-y", "gaussian-sigma1", "box-3x3", "laplacian",
                         "sharpen", "emboss", "custom", "contact-sheet"] {
                assertPNG(out.appendingPathComponent("\(name).png"))
            }
            XCTAssertEqual(try ImageDecoder.decode(contentsOf: out.appendingPathComponent("sobel-x.png")).width, 20)
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
            let custom = (report["filters"] as! [[String: Any]]).first { $0["name"] as? String == "custom" }!
            XCTAssertEqual(custom["output_width"] as? Int, 21)
            XCTAssertEqual(custom["channels"] as? Int, device == "opencl" ? 3 : 1)
        }
    }

    func testFiltersNamesBadKernelsAndNonImages() throws {
        let f = try fixtures()
        let ragged = try runCLI(["filters", f.png, "--kernel", "1,2;3", "--device", "cpu", "--output", f.dir.path])
        XCTAssertNotEqual(ragged.status, 0)
        XCTAssert(ragged.output.contains("is not rectangular"), ragged.output)
        let text = try ImageFiles.write(Data("not an image".utf8), to: "notes.png", in: f.dir)
        let notImage = try runCLI(["filters", text.path, "--device", "cpu", "--output", f.dir.path])
        XCTAssertNotEqual(notImage.status, 0)
        XCTAssert(notImage.output.contains("notes.png is not a JPEG or PNG image"), notImage.output)
    }

    func testVisualizeDrawsEveryKindOfPictureOnBothBackends() throws {
        let f = try fixtures()
        var tops: [[Double]] = []
        for device in ["cpu"] + (TestBackends.openCL != nil ? ["opencl"] : []) {
            let out = f.dir.appendingPathComponent("viz-\(device)")
            let json = f.dir.appendingPathComponent("\(device).json")
            let r = try runCLI(["visualize", "lenet5", f.png, f.jpeg, "--weights", f.weights, "--device", device, "--saliency",
                                "--guided-backprop", "--grad-cam", "auto", "--feature-maps", "conv1", "--filters", "first",
                                "--class-model", "3", "--steps", "5", "--output", out.path, "--json", json.path])
            XCTAssertEqual(r.status, 0, r.output)
            for stem in ["shirt", "boot"] {
                for kind in ["saliency", "guided-backprop", "grad-cam-pool2", "feature-maps-conv1"] {
                    assertPNG(out.appendingPathComponent("\(stem)-\(kind).png"))
                }
            }
            assertPNG(out.appendingPathComponent("filters-conv1.png"))
            assertPNG(out.appendingPathComponent("class-model-3.png"))
            let results = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [[String: Any]]
            tops.append((results[0]["top"] as! [[String: Any]]).map { $0["probability"] as! Double })
        }
        if tops.count == 2 { assertClose(tops[0].map(Float.init), tops[1], tolerance: 1e-4) }
    }

    func testVisualizeNamesUnknownLayersAndClasses() throws {
        let f = try fixtures()
        let layer = try runCLI(["visualize", "lenet5", f.png, "--weights", f.weights, "--device", "cpu", "--feature-maps", "conv7"])
        XCTAssertNotEqual(layer.status, 0)
        XCTAssert(layer.output.contains("no layer 'conv7'") && layer.output.contains("conv1, relu1, pool1"), layer.output)
        let range = try runCLI(["visualize", "lenet5", f.png, "--weights", f.weights, "--device", "cpu", "--saliency", "--class", "10"])
        XCTAssertNotEqual(range.status, 0)
        XCTAssert(range.output.contains("--class 10 is out of range: the model has 10 classes"), range.output)
    }

    func testEvaluateReportsAndDrawsTheConfusionMatrix() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.path) else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        let f = try fixtures()
        let json = f.dir.appendingPathComponent("eval.json")
        let out = f.dir.appendingPathComponent("eval")
        let r = try runCLI(["evaluate", "lenet5", "--weights", f.weights, "--device", "cpu", "--json", json.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.output)
        for text in ["top-1", "top-5", "precision", "9 Ankle boot", "confusion matrix"] { XCTAssert(r.output.contains(text), text) }
        assertPNG(out.appendingPathComponent("confusion.png"))
        assertPNG(out.appendingPathComponent("mistakes.png"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        XCTAssertEqual(report["samples"] as? Int, 10_000)
        XCTAssertEqual((report["confusion"] as! [[Int]]).joined().reduce(0, +), 10_000)
    }
}
