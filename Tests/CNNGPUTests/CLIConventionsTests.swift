@testable import CNNGPU
import Foundation
import XCTest

/// What torchvision, timm and Keras users expect of the command line: --version, a published
/// model from a bare `summary`, --device gpu, and the training flags of the reference scripts.
final class CLIConventionsTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-conv-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Fashion-MNIST-shaped IDX files with a learnable pattern (a bright row band per class).
    private func makeDataset(in dir: URL, train: Int = 256, test: Int = 64) throws {
        try TinyFashionMNIST.write(in: dir, train: train, test: test, seed: 5)
    }

    func testVersionComesFromTheLibrary() throws {
        let run = try runCLI(["--version"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertEqual(run.output.trimmingCharacters(in: .whitespacesAndNewlines), CNNGPUVersion.string)
        XCTAssertNotNil(CNNGPUVersion.string.range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression))
    }

    func testBareSummaryIsThePublishedModel() throws {
        let resnet = try runCLI(["summary", "resnet50"])
        XCTAssertEqual(resnet.status, 0, resnet.output)
        for expected in ["input 3×224×224, 1000 classes", "Total params: 25,557,032", "Trainable params: 25,557,032",
                         "Non-trainable params: 0", "Buffers (batch-norm running statistics, saved with the weights): 53,120",
                         "Multiply-adds per image: 4.09 G", "Estimated size for one image: parameters 97.7 MiB"] {
            XCTAssertTrue(resnet.output.contains(expected), "\(expected) missing:\n\(resnet.output)")
        }
        // LeNet-5's published head is 10 digits; its multiply-adds by hand: conv1 28²·6·25,
        // conv2 10²·16·150, then 400·120 + 120·84 + 84·10.
        let lenet = try runCLI(["summary", "lenet5", "--device", "cpu"])
        XCTAssertEqual(lenet.status, 0, lenet.output)
        XCTAssertTrue(lenet.output.contains("Total params: 61,706") && lenet.output.contains("Multiply-adds per image: 416.52 K"),
                      lenet.output)
        XCTAssertFalse(lenet.output.contains("Buffers"), lenet.output)
        XCTAssertTrue(try runCLI(["summary", "resnet18", "--num-classes", "10"]).output.contains("Total params: 11,181,642"))
        let bad = try runCLI(["summary", "lenet5", "--device", "tpu"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("unknown device 'tpu'"), bad.output)
    }

    func testGraphCountsMultiplyAddsOfConvolutionsAndDenseLayers() throws {
        let graph = try Sequential(input: [3, 8, 8]) {
            Conv2D(4, kernel: 3, padding: .same); ReLU(); Conv2D(8, kernel: 1, stride: 2); Flatten(); Dense(5)
        }
        XCTAssertEqual(graph.multiplyAdds, 8 * 8 * 4 * 3 * 9 + 4 * 4 * 8 * 4 + 128 * 5)
    }

    func testDeviceGPUFailsClearlyWithoutAnOpenCLGPU() throws {
        XCTAssertEqual(try DeviceSelection(parsing: "GPU"), .gpu)
        let gpus = ((try? OpenCLDevice.all()) ?? []).filter { $0.info.kind == .gpu || $0.info.kind == .accelerator }
        guard gpus.isEmpty else { throw XCTSkip("this machine has an OpenCL GPU: --device gpu opens it") }
        let run = try runCLI(["train", "lenet5", "--device", "gpu", "--epochs", "1"])
        XCTAssertNotEqual(run.status, 0, run.output)
        for expected in ["--device gpu", "no", "--device opencl", "--device cpu"] {
            XCTAssertTrue(run.output.contains(expected), "\(expected) missing: \(run.output)")
        }
        XCTAssertFalse(run.output.contains("epoch 1/1"), run.output)
    }

    func testReferenceScriptFlagsShapeTheRun() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir)
        let out = dir.appendingPathComponent("run")
        let run = try runCLI(["train", "lenet5", "--data", dir.path, "--epochs", "3", "-b", "32", "--device", "cpu",
                              "--optimizer", "adamw", "--lr", "0.004", "--label-smoothing", "0.1", "--warmup-epochs", "1",
                              "--lr-step-size", "1", "--lr-gamma", "0.5", "--workers", "0", "--checkpoint", out.path])
        XCTAssertEqual(run.status, 0, run.output)
        for expected in ["AdamW", "weight decay 0.01", "lr 0.004 (step ×0.5 every 1 epoch, 1 warm-up epoch)", "label smoothing 0.1",
                         "requested with --device cpu"] {
            XCTAssertTrue(run.output.contains(expected), "\(expected) missing:\n\(run.output)")
        }
        // 8 steps per epoch: the warm-up ends at the base rate, the schedule then halves it every epoch.
        let log = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let epochs = log.split(separator: "\n").compactMap { EpochMetrics.parse(String($0)) }
        XCTAssertEqual(epochs.map(\.learningRate), [0.004, 0.004, 0.002].map { Double(Float($0)) }, log)
        let rates = epochs[0].stepLearningRates ?? []
        XCTAssertEqual(rates.count, 8)
        XCTAssertEqual(rates.first ?? 0, 0.0005, accuracy: 1e-7)   // 1/8 of the rate at the first step
        XCTAssertEqual(epochs[0].stepLosses?.count, 8)
        // The smoothed loss never reaches zero: at ε = 0.1 over 10 classes its floor is about 0.5.
        XCTAssertTrue(epochs.allSatisfy { $0.trainLoss > 0.3 }, log)

        let rmsprop = try runCLI(["train", "lenet5", "--data", dir.path, "--epochs", "1", "-b", "32", "--device", "cpu",
                                  "--optimizer", "rmsprop", "--momentum", "0.5", "--checkpoint", dir.appendingPathComponent("rms").path])
        XCTAssertEqual(rmsprop.status, 0, rmsprop.output)
        XCTAssertTrue(rmsprop.output.contains("RMSprop (alpha 0.99, momentum 0.5)") && rmsprop.output.contains("lr 0.001"),
                      rmsprop.output)
    }

    func testConflictingTrainingFlagsAreRefusedBeforeAnythingRuns() throws {
        for (arguments, mentioning) in [
            (["--lr-gamma", "0.5", "--schedule", "cosine"], "--lr-step-size and --lr-gamma"),
            (["--warmup-epochs", "1", "--warmup-steps", "5"], "--warmup-epochs or --warmup-steps"),
            (["--warmup-epochs", "2", "--epochs", "2"], "--warmup-epochs 2 leaves no epoch"),
            (["--optimizer", "adamw", "--momentum", "0.9"], "--momentum applies to sgd and rmsprop"),
            (["--optimizer", "lamb"], "use sgd, adam, adamw or rmsprop"),
            (["--label-smoothing", "1"], "--label-smoothing must be in [0, 1)"),
            (["--workers", "-1"], "--workers"),
            (["--lr-gamma", "0"], "--lr-gamma must be in (0, 1]"),
        ] as [([String], String)] {
            let run = try runCLI(["train", "lenet5", "--device", "cpu"] + arguments)
            XCTAssertNotEqual(run.status, 0, "\(arguments): \(run.output)")
            XCTAssertTrue(run.output.contains(mentioning), "\(arguments): \(run.output)")
        }
    }

    /// `--workers` sets the image-decoding threads; how many never changes what is trained
    /// (batches are built in order whatever thread decodes them).
    func testWorkersDecodeImageFoldersWithTheSameResult() throws {
        let root = try ImageFiles.temporaryFolder(self)
        var rng = SeededGenerator.fresh()
        for label in ["cat", "dog"] {
            for i in 0..<10 {
                try ImageFiles.write(try ImageFiles.png(ImageFiles.noise(20 * 20 * 3, &rng), width: 20, height: 20),
                                     to: "\(label)/\(i).png", in: root)
            }
        }
        var losses: [Double] = []
        let runs = try temporaryDirectory()   // outside the image folder, whose subfolders are classes
        for workers in ["0", "3"] {
            let out = runs.appendingPathComponent("run-\(workers)")
            let run = try runCLI(["train", "resnet18", "--data", root.path, "--image-size", "16", "--epochs", "1", "-b", "4",
                                  "--device", "cpu", "--workers", workers, "--checkpoint", out.path])
            XCTAssertEqual(run.status, 0, run.output)
            let log = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            losses.append(try XCTUnwrap(EpochMetrics.parse(String(log.split(separator: "\n")[0]))).trainLoss)
        }
        XCTAssertEqual(losses[0], losses[1], "--workers 0 and 3 trained differently")
    }
}
