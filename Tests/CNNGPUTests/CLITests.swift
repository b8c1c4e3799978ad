@testable import CNNGPU
import Foundation
import XCTest

/// The `cnn-gpu` command as a user runs it: exit codes, messages, and the files a run leaves.
final class CLITests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) { try runCLI(arguments) }

    /// A tiny Fashion-MNIST-shaped dataset (plain IDX files) whose classes a model can tell apart.
    func makeDataset(in dir: URL, train: Int = 256, test: Int = 64) throws {
        try TinyFashionMNIST.write(in: dir, train: train, test: test, seed: 3)
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testTrainWritesCheckpointMetricsAndCurvesOnEveryDevice() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir)
        for device in ["cpu"] + (TestBackends.openCL != nil ? ["opencl"] : []) {
            let out = dir.appendingPathComponent("run-\(device)")
            let (status, output) = try run(["train", "lenet5", "--data", dir.path, "--epochs", "1", "--batch-size", "32",
                                            "--device", device, "--checkpoint", out.path])
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.contains("epoch 1/1"), output)
            // The device compiler's diagnostics stay off the user's terminal (ProgramCache's -w).
            XCTAssertFalse(output.contains("warnings generated") || output.contains("warning:"), output)
            for file in ["checkpoint.safetensors", "metrics.jsonl", "curves.svg"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(device): \(file)")
            }
            let resumed = try run(["train", "lenet5", "--data", dir.path, "--epochs", "2", "--batch-size", "32",
                                   "--device", device, "--checkpoint", out.path, "--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.output)
            XCTAssertTrue(resumed.output.contains("resumed from") && resumed.output.contains("epoch 2/2"), resumed.output)
        }
        // Export the CPU run's weights and fine-tune from them with the backbone frozen.
        let weights = dir.appendingPathComponent("lenet5.safetensors")
        let exported = try run(["export", dir.appendingPathComponent("run-cpu").path, "-o", weights.path])
        XCTAssertEqual(exported.status, 0, exported.output)
        let tuned = try run(["train", "lenet5", "--data", dir.path, "--epochs", "1", "--batch-size", "32", "--device", "cpu",
                             "--weights", weights.path, "--freeze", "backbone", "--checkpoint", dir.appendingPathComponent("tuned").path])
        XCTAssertEqual(tuned.status, 0, tuned.output)
        XCTAssertTrue(tuned.output.contains("10 tensors from"), tuned.output)
        try TestBackends.skipUnlessCrossChecked("training through the CLI on OpenCL")
    }

    func testUserErrorsExitNonZeroWithTheCauseAndTheFix() throws {
        let dir = try temporaryDirectory()
        let cases: [([String], String)] = [
            (["train", "resnet9000"], "Known models: lenet5"),
            (["train", "lenet5", "--data", dir.path], dir.path),
            (["train", "lenet5", "--device", "opencl:42"], "opencl:42"),
            (["train", "lenet5", "--device", "tpu"], "unknown device 'tpu'"),
            (["train", "lenet5", "--optimizer", "lamb", "--data", dir.path], "unknown optimizer 'lamb'"),
            (["train", "lenet5", "--epochs", "0"], "--epochs must be positive"),
            (["summary", "lenet5", "--input-shape", "1x4x4"], "larger than the padded input"),
            (["summary", "vgg16", "--image-size", "31"], "VGG takes images of 32 pixels a side or more"),
            (["train", "lenet5", "--checkpoint", dir.appendingPathComponent("none").path, "--resume"], "--resume"),
        ]
        for (arguments, expected) in cases {
            let (status, output) = try run(arguments)
            XCTAssertNotEqual(status, 0, "\(arguments): \(output)")
            XCTAssertTrue(output.contains(expected), "\(arguments) should mention '\(expected)': \(output)")
            XCTAssertFalse(output.contains("Fatal error"), "\(arguments) crashed: \(output)")
        }
    }

    func testNumClassesSizesTheSyntheticDataAndMustMatchRealData() throws {
        let dir = try temporaryDirectory()
        // resnet18 at 32×32 keeps a synthetic epoch (20 steps of 4) to seconds.
        let synthetic = ["train", "resnet18", "--synthetic", "--num-classes", "10", "--image-size", "32", "--batch-size", "4",
                         "--epochs", "1", "--device", "cpu"]
        let plain = try run(synthetic + ["--checkpoint", dir.appendingPathComponent("plain").path])
        XCTAssertEqual(plain.status, 0, plain.output)
        XCTAssertTrue(plain.output.contains("11,181,642 parameters"), "a 10-class head: \(plain.output)")
        XCTAssertTrue(plain.output.contains("10 classes (throughput only)"), plain.output)

        // Weights whose head has 4 classes: the backbone loads, the 10-class head starts fresh.
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 4)
        let weights = dir.appendingPathComponent("r18-4.safetensors")
        try ModelWeights.export(try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 2), to: weights)
        let tuned = try run(synthetic + ["--weights", weights.path, "--checkpoint", dir.appendingPathComponent("tuned").path])
        XCTAssertEqual(tuned.status, 0, tuned.output)
        XCTAssertTrue(tuned.output.contains("new head: fc.weight, fc.bias"), tuned.output)

        try makeDataset(in: dir)
        for (arguments, expected) in [
            (["--data", dir.path, "--num-classes", "5"], ["--num-classes 5 does not match", "which has 10 classes", "Drop --num-classes",
                                                          "--data"]),
            (["--num-classes", "0"], ["--num-classes must be positive, got 0"]),
            (["--synthetic", "--num-classes=-3"], ["--num-classes must be positive, got -3"]),
        ] {
            let (status, output) = try run(["train", "lenet5", "--device", "cpu", "--checkpoint",
                                            dir.appendingPathComponent("bad").path] + arguments)
            XCTAssertNotEqual(status, 0, "\(arguments): \(output)")
            for text in expected { XCTAssertTrue(output.contains(text), "\(arguments) should mention '\(text)': \(output)") }
        }
    }

    func testCorruptDatasetIsAClearError() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir)
        let images = dir.appendingPathComponent("train-images-idx3-ubyte")
        let data = try Data(contentsOf: images)
        try data.prefix(data.count / 2).write(to: images)
        let (status, output) = try run(["train", "lenet5", "--data", dir.path, "--device", "cpu"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("train-images-idx3-ubyte"), output)
        XCTAssertTrue(output.lowercased().contains("truncated"), output)
    }

    func testDevicesAndSummary() throws {
        let devices = try run(["devices"])
        XCTAssertEqual(devices.status, 0, devices.output)
        XCTAssertTrue(devices.output.contains("cpu") && devices.output.contains("--device auto selects"), devices.output)
        let summary = try run(["summary", "lenet5"])
        XCTAssertEqual(summary.status, 0)
        XCTAssertTrue(summary.output.contains("Total params: 61,706"), summary.output)
        // VGG below 224 pixels: the adaptive pool spreads its 2×2 features over 7×7.
        let vgg = try run(["summary", "vgg16", "--image-size", "64", "--num-classes", "10"])
        XCTAssertEqual(vgg.status, 0, vgg.output)
        XCTAssertTrue(vgg.output.contains("Total params: 134,301,514"), vgg.output)
    }
}

final class PredictCLITests: XCTestCase {
    func testPredictPrintsTopClassesAndJSON() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        // A resnet18 with 4 classes, exported as its weights file.
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 4)
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 9)
        let weights = dir.appendingPathComponent("r18.safetensors")
        try ModelWeights.export(store, to: weights)
        var rng = SeededGenerator.fresh()
        let jpeg = try ImageFiles.write(ImageFiles.jpeg(ImageFiles.noise(40 * 30 * 3, &rng), width: 40, height: 30),
                                        to: "a.jpg", in: dir)
        let png = try ImageFiles.write(ImageFiles.png(ImageFiles.noise(50 * 50 * 3, &rng), width: 50, height: 50),
                                       to: "b.png", in: dir)
        let labels = dir.appendingPathComponent("labels.txt")
        try "cat\ndog\nbird\nfish\n".write(to: labels, atomically: true, encoding: .utf8)
        let text = try runCLI(["predict", "resnet18", "--weights", weights.path, "--image-size", "32", "--labels",
                                labels.path, "--top", "3", "--device", "cpu", jpeg.path, png.path])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertEqual(text.output.components(separatedBy: "%").count - 1, 6, text.output)
        let json = try runCLI(["predict", "resnet18", "--weights", weights.path, "--image-size", "32", "--json",
                                "--device", "cpu", jpeg.path])
        XCTAssertEqual(json.status, 0, json.output)
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        let probabilities = try XCTUnwrap(parsed.first?["probabilities"] as? [Double])
        XCTAssertEqual(probabilities.count, 4)
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertEqual((parsed.first?["top"] as? [Any])?.count, 4)
        // Bad input: a non-image, and weights of another model.
        let bogus = try ImageFiles.write(Data("not an image".utf8), to: "c.jpg", in: dir)
        let bad = try runCLI(["predict", "resnet18", "--weights", weights.path, "--device", "cpu", bogus.path])
        XCTAssertNotEqual(bad.status, 0); XCTAssertTrue(bad.output.contains("c.jpg"), bad.output)
        let wrong = try runCLI(["predict", "googlenet", "--weights", weights.path, "--device", "cpu", jpeg.path])
        XCTAssertNotEqual(wrong.status, 0); XCTAssertTrue(wrong.output.contains("fc.weight") || wrong.output.contains("lacks"), wrong.output)
    }

    /// `--mean`/`--std` change what predict feeds the model (torchvision's pretrained GoogLeNet
    /// needs 0.5/0.5); malformed values, and the flags on data that brings its own statistics,
    /// are refused.
    func testNormalizationFlags() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 3)
        let weights = dir.appendingPathComponent("r18.safetensors")
        try ModelWeights.export(try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 4), to: weights)
        var rng = SeededGenerator.fresh()
        let png = try ImageFiles.write(ImageFiles.png(ImageFiles.noise(40 * 40 * 3, &rng), width: 40, height: 40),
                                       to: "a.png", in: dir)
        func probabilities(_ extra: [String]) throws -> [Double] {
            let r = try runCLI(["predict", "resnet18", "--weights", weights.path, "--image-size", "32", "--json",
                                "--device", "cpu", png.path] + extra)
            XCTAssertEqual(r.status, 0, r.output)
            let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [[String: Any]])
            return try XCTUnwrap(parsed.first?["probabilities"] as? [Double])
        }
        let imageNet = try probabilities([])
        XCTAssertEqual(try probabilities(["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]), imageNet)
        XCTAssertNotEqual(try probabilities(["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]), imageNet)

        let cases: [([String], String)] = [
            (["predict", "resnet18", "--weights", weights.path, png.path, "--std", "1,2"], "three comma-separated"),
            (["predict", "resnet18", "--weights", weights.path, png.path, "--std", "1,0,1"], "must be positive"),
            (["predict", "resnet18", "--weights", weights.path, png.path, "--mean", "a,b,c"], "--mean"),
            (["train", "lenet5", "--mean", "0.5,0.5,0.5"], "apply to image folders"),
            (["train", "resnet18", "--std", "0.5,0.5,0.5"], "apply to image folders"),
        ]
        for (arguments, expected) in cases {
            let r = try runCLI(arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments): \(r.output)")
            XCTAssertTrue(r.output.contains(expected), "\(arguments) should mention '\(expected)': \(r.output)")
        }
    }
}

/// `--profile` as a user runs it.
final class ProfileCLITests: XCTestCase {
    func testBenchProfilePrintsTopOpsAndWritesATrace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-profile-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("trace.json")
        let (status, output) = try runCLI(["bench", "--profile", "resnet18", "--devices", "cpu", "--batch-size", "2",
                                           "--image-size", "32", "--profile-file", trace.path])
        XCTAssertEqual(status, 0, output)
        XCTAssert(output.contains("conv2d"), output)
        XCTAssert(output.contains("per step:"), output)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: trace)) as? [String: Any]
        let names = (json?["traceEvents"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        for kind in ["conv2d", "batchnorm+relu", "batchnorm+relu backward", "add+relu"] {
            XCTAssert(names.contains { $0.hasSuffix(" " + kind) }, "\(kind) is not in the trace")
        }
        let bad = try runCLI(["bench", "--profile", "resnet999", "--devices", "cpu"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("resnet18"), bad.output)
    }
}
