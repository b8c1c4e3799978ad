@testable import CNNGPU
import Foundation
import XCTest

/// The reliability report's attacks as a user would run them: each crash is now a clear error
/// and a non-zero exit, and a run folder is never lost or silently replaced.
final class CLIReliabilityTests: XCTestCase {
    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-rel-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Fashion-MNIST-shaped IDX files: `train` images of `side`, `test` images of `testSide`.
    func makeDataset(in dir: URL, train: Int = 128, test: Int = 32, side: (Int, Int) = (28, 28),
                     testSide: (Int, Int)? = nil) throws {
        try TinyFashionMNIST.write(in: dir, train: train, test: test, side: side, testSide: testSide, seed: 5)
    }

    func assertFails(_ arguments: [String], mentioning expected: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, output) = try runCLI(arguments)
        XCTAssertNotEqual(status, 0, "\(arguments): \(output)", file: file, line: line)
        XCTAssertFalse(output.contains("Fatal error") || output.contains("Backtrace"), "\(arguments) crashed: \(output)", file: file, line: line)
        for text in expected {
            XCTAssertTrue(output.contains(text), "\(arguments) should mention '\(text)': \(output)", file: file, line: line)
        }
    }

    func testOverflowingFlagsAreRefusedNotCrashed() throws {
        let dir = try temporaryDirectory()
        let run = dir.appendingPathComponent("run").path
        try assertFails(["summary", "vgg16", "--batch-size", "9223372036854775807"], mentioning: ["--batch-size", "65536"])
        try assertFails(["summary", "resnet18", "--input-shape", "3x4000000000x4000000000"], mentioning: ["--input-shape", "4000000000"])
        try assertFails(["summary", "resnet18", "--image-size", "2000000000"], mentioning: ["--image-size"])
        try assertFails(["train", "lenet5", "--synthetic", "--batch-size", "461168601842738790", "--checkpoint", run],
                        mentioning: ["--batch-size must be between 1 and 65536"])
        try assertFails(["train", "alexnet", "--synthetic", "--image-size", "2000000000", "--checkpoint", run],
                        mentioning: ["--image-size"])
        try assertFails(["train", "lenet5", "--synthetic", "--epochs", "9223372036854775807", "--checkpoint", run],
                        mentioning: ["--epochs must be between 1 and 1000000"])
        try assertFails(["predict", "resnet18", "--weights", "w.safetensors", "--image-size", "100000", "x.jpg"],
                        mentioning: ["--image-size"])
        try assertFails(["train", "lenet5", "--momentum", "nan", "--checkpoint", run], mentioning: ["--momentum must be in [0, 1)"])
        try assertFails(["train", "lenet5", "--weight-decay", "inf", "--checkpoint", run], mentioning: ["--weight-decay"])
        // Within the limits but beyond this process's memory: refused before allocating.
        try assertFails(["train", "vgg16", "--synthetic", "--image-size", "4096", "--device", "cpu", "--checkpoint", run],
                        mentioning: ["out of memory", "this process may use", "cgroup"])
    }

    func testAPlanBeyondTheProcessLimitButWithinRAMIsRefused() throws {
        let dir = try temporaryDirectory()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cnn-gpu")
        // VGG-16 at 224², batch 64, plans about 6.3 GiB: more than a 5.7 GiB address-space limit.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v 6000000 && exec \"$0\" \"$@\"", binary.path, "train", "vgg16", "--synthetic",
                             "--batch-size", "64", "--device", "cpu", "--checkpoint", dir.appendingPathComponent("run").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1, output)
        XCTAssertTrue(output.contains("out of memory") && output.contains("this process may use"), output)
        // The budget is the 5,859 MiB limit, or less when less memory is free, never physical RAM.
        let budget = output.components(separatedBy: "this process may use ").last.flatMap { Int($0.prefix { $0.isNumber }) }
        XCTAssertLessThanOrEqual(budget ?? .max, 5859, output)
    }

    func testHostileWeightsAreRefusedBeforeBuildingAModel() throws {
        let dir = try temporaryDirectory()
        let image = dir.appendingPathComponent("x.png")
        try ImageFiles.png([UInt8](repeating: 100, count: 16 * 16 * 3), width: 16, height: 16).write(to: image)
        let head = dir.appendingPathComponent("head.safetensors")
        try HostileInputs.safetensors(header: #"{"fc.weight":{"dtype":"F32","shape":[3000000,0],"data_offsets":[0,0]}}"#).write(to: head)
        try assertFails(["predict", "resnet18", "--weights", head.path, "--image-size", "32", "--device", "cpu", image.path],
                        mentioning: ["'fc.weight'", "3000000×0", "512"])

        // NaN weights: named, not printed as "nan%".
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 3)
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
        var values = try store.read()
        values["layer1.0.conv1.weight"]![7] = .nan
        try store.write(values)
        let nan = dir.appendingPathComponent("nan.safetensors")
        try ModelWeights.export(store, to: nan)
        try assertFails(["predict", "resnet18", "--weights", nan.path, "--image-size", "32", "--device", "cpu", image.path],
                        mentioning: ["'layer1.0.conv1.weight'", "nan", "index 7"])

        // Sizes that overflow, duplicate keys and over-long headers: refused naming the file.
        let hostile: [(String, Data, [String])] = [
            ("overflow", HostileInputs.safetensors(
                header: #"{"fc.weight":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#), ["overflows"]),
            ("twice", HostileInputs.safetensors(
                header: #"{"fc.weight":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"fc.weight":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#),
             ["'fc.weight' twice"]),
            ("long", Data(withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) }) + Data(repeating: 0x20, count: 64),
             ["the limit is 100000000 bytes"]),
        ]
        for (name, bytes, expected) in hostile {
            let url = dir.appendingPathComponent("\(name).safetensors")
            try bytes.write(to: url)
            try assertFails(["predict", "resnet18", "--weights", url.path, "--image-size", "32", "--device", "cpu", image.path],
                            mentioning: ["\(name).safetensors"] + expected)
        }

        let bomb = dir.appendingPathComponent("bomb.png")
        try HostileInputs.png(try Data(contentsOf: image), claimingWidth: 34000, height: 34000).write(to: bomb)
        let good = dir.appendingPathComponent("good.safetensors")
        try ModelWeights.export(try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1), to: good)
        try assertFails(["predict", "resnet18", "--weights", good.path, "--image-size", "32", "--device", "cpu", bomb.path],
                        mentioning: [bomb.path, "more than the limit", "--max-image-pixels"])
        let raised = try runCLI(["predict", "resnet18", "--weights", good.path, "--image-size", "32", "--device", "cpu",
                                 "--max-image-pixels", "100", image.path])
        XCTAssertNotEqual(raised.status, 0, "a 16×16 image is over a 100-pixel limit: \(raised.output)")
        XCTAssertTrue(raised.output.contains("16×16 = 256 pixels"), raised.output)
        let cut = dir.appendingPathComponent("cut.jpg")
        try ImageFiles.jpeg([UInt8](repeating: 100, count: 16 * 16 * 3), width: 16, height: 16).prefix(20).write(to: cut)
        try assertFails(["predict", "resnet18", "--weights", good.path, "--image-size", "32", "--device", "cpu", cut.path],
                        mentioning: [cut.path])
    }

    func testTestImagesOfAnotherSizeAreAnError() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir, testSide: (32, 24))
        try assertFails(["train", "lenet5", "--data", dir.path, "--device", "cpu", "--epochs", "1",
                         "--checkpoint", dir.appendingPathComponent("run").path],
                        mentioning: ["test images are 1×32×24", "training images 1×28×28"])
    }

    func testRunFoldersAreLockedAndNeverSilentlyReplaced() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir)
        let run = dir.appendingPathComponent("run")
        let train = ["train", "lenet5", "--data", dir.path, "--device", "cpu", "--batch-size", "32", "--checkpoint", run.path]
        let first = try runCLI(train + ["--epochs", "2"])
        XCTAssertEqual(first.status, 0, first.output)

        // A second run without --resume or --overwrite leaves the two-epoch checkpoint alone.
        let checkpoint = run.appendingPathComponent("checkpoint.safetensors")
        let before = try Data(contentsOf: checkpoint)
        try assertFails(train + ["--epochs", "1"], mentioning: ["already holds a run", "--resume", "--overwrite"])
        XCTAssertEqual(try Data(contentsOf: checkpoint), before)

        // A run holding the folder (here: this process) keeps others out.
        do {
            let held = try RunFolder.open(run, resume: true, overwrite: false)
            try assertFails(train + ["--epochs", "3", "--resume"], mentioning: ["another cnn-gpu run", "process \(getpid())"])
            withExtendedLifetime(held) {}
        }

        // --overwrite discards the old run only once the new one can start.
        try assertFails(train + ["--epochs", "1", "--overwrite", "--weights", dir.appendingPathComponent("none.safetensors").path],
                        mentioning: ["none.safetensors"])
        XCTAssertEqual(try Data(contentsOf: checkpoint), before)

        // Stale temporaries of a killed writer are removed; --overwrite starts afresh.
        let stale = run.appendingPathComponent(".checkpoint.safetensors.tmp-999999")
        try Data([1, 2, 3]).write(to: stale)
        let fresh = try runCLI(train + ["--epochs", "1", "--overwrite"])
        XCTAssertEqual(fresh.status, 0, fresh.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        XCTAssertEqual(try Checkpoint.read(from: checkpoint).epochsCompleted, 1)
        try assertFails(train + ["--resume", "--overwrite"], mentioning: ["give one of them"])

        // A folder that cannot be written is found before training, in plain words.
        try assertFails(["train", "lenet5", "--data", dir.path, "--device", "cpu", "--checkpoint", "/proc/cnn-gpu-run"],
                        mentioning: ["/proc/cnn-gpu-run", "--checkpoint DIR"])
    }

    func testResumeRefusesCountersThatDoNotFitTheData() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir)
        let run = dir.appendingPathComponent("run")
        let train = ["train", "lenet5", "--data", dir.path, "--device", "cpu", "--batch-size", "32", "--checkpoint", run.path]
        XCTAssertEqual(try runCLI(train + ["--epochs", "1"]).status, 0)
        let url = run.appendingPathComponent("checkpoint.safetensors")
        let good = try Checkpoint.read(from: url)
        for (epochs, step, expected) in [(-5, 0, "cannot be negative"), (1, Int.max, "must lie in 4..<8"), (0, -1, "cannot be negative")] {
            var c = good
            c.epochsCompleted = epochs; c.step = step
            try c.write(to: url)
            try assertFails(train + ["--epochs", "3", "--resume"], mentioning: [expected])
        }
    }

    func testDivergenceStopsTheRunAndKeepsOnlyAFiniteCheckpoint() throws {
        let dir = try temporaryDirectory()
        try makeDataset(in: dir)
        for optimizer in ["adam", "sgd"] {
            let run = dir.appendingPathComponent("run-\(optimizer)")
            try assertFails(["train", "lenet5", "--data", dir.path, "--device", "cpu", "--batch-size", "32", "--epochs", "3",
                             "--optimizer", optimizer, "--lr", "1e6", "--schedule", "constant", "--checkpoint", run.path],
                            mentioning: ["training stopped", "--lr"])
            let url = run.appendingPathComponent("checkpoint.safetensors")
            if FileManager.default.fileExists(atPath: url.path) {
                XCTAssertNoThrow(try Checkpoint.read(from: url), "a saved checkpoint must be finite")
            }
        }
    }

    func testSIGTERMAndSIGHUPSaveTheEpochInProgress() throws {
        let dir = try temporaryDirectory()
        // The signal must land inside the first epoch: 16,384 steps of one image (0.7 s or more;
        // LeNet-5 at batch 8 ran 2,048 images in 40 ms, faster than the test's poll and kill).
        try makeDataset(in: dir, train: 16_384)
        for sig in [SIGTERM, SIGHUP] {
            let run = dir.appendingPathComponent("run-\(sig)")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("cnn-gpu")
            process.arguments = ["train", "lenet5", "--data", dir.path, "--device", "cpu", "--batch-size", "1", "--epochs", "50",
                                 "--checkpoint", run.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            let output = OutputCollector()
            pipe.fileHandleForReading.readabilityHandler = { output.append($0.availableData) }
            try process.run()
            // Wait until training has started (the first progress line), then ask it to stop.
            let deadline = Date().addingTimeInterval(120)
            while !output.text.contains("epoch 1/50") && Date() < deadline && process.isRunning { usleep(50_000) }
            kill(process.processIdentifier, sig)
            process.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
            XCTAssertEqual(process.terminationStatus, 128 + sig, output.text)
            XCTAssertTrue(output.text.contains("checkpoint saved"), output.text)
            let saved = try Checkpoint.read(from: run.appendingPathComponent("checkpoint.safetensors"))
            XCTAssertGreaterThan(saved.step, 0)
            XCTAssertEqual(saved.epochsCompleted, 0, "stopped within the first epoch, which is saved mid-way")
        }
    }
}

/// Output of a running process, gathered from its pipe's handler thread.
private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ chunk: Data) { lock.lock(); data.append(chunk); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
