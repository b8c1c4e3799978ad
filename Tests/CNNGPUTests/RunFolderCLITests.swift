@testable import CNNGPU
import Foundation
import XCTest

/// Run folders as a user reuses them: `train` records what the model needs, and `predict`,
/// `evaluate`, `export` and `--resume` read it; `best.safetensors`, `--early-stopping`, and
/// errors that name the path the user gave. Tiny runs: LeNet-5 on a few hundred real
/// Fashion-MNIST images.
final class RunFolderCLITests: XCTestCase {
    /// The first `train` and `test` images of the installed Fashion-MNIST, as plain IDX files
    /// in `dir` (`side` other than 28 repeats the rows/columns to make a dataset of another shape).
    func makeFashionMNIST(in dir: URL, train: Int = 320, test: Int = 96, side: Int = 28) throws {
        let source = FashionMNIST.defaultDirectory
        try XCTSkipUnless(FileManager.default.fileExists(atPath: source.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        for (prefix, count) in [("train", train), ("t10k", test)] {
            let images = try IDXFile(contentsOf: source.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"), magic: IDXFile.imagesMagic)
            let labels = try IDXFile(contentsOf: source.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"), magic: IDXFile.labelsMagic)
            var pixels = [UInt8]()
            for i in 0..<count {
                for y in 0..<side { for x in 0..<side { pixels.append(images.bytes[i * 784 + (y % 28) * 28 + x % 28]) } }
            }
            try TinyFashionMNIST.writeIDX(in: dir, prefix: prefix, images: pixels, height: side, width: side,
                                          labels: Array(labels.bytes.prefix(count)))
        }
    }

    /// Test image `index` of Fashion-MNIST as 28×28 gray bytes.
    func testImage(_ index: Int) throws -> [UInt8] {
        let images = try IDXFile(contentsOf: FashionMNIST.defaultDirectory.appendingPathComponent("t10k-images-idx3-ubyte.gz"),
                                 magic: IDXFile.imagesMagic)
        return Array(images.bytes[index * 784..<(index + 1) * 784])
    }

    /// `train lenet5` on `data` into `run` (nil: the default runs/lenet5 of `cwd`); must succeed.
    func train(_ data: URL, _ run: URL?, _ extra: [String] = [], in cwd: URL? = nil) throws -> String {
        let r = try runCLI(["train", "lenet5", "--data", data.path, "--batch-size", "32", "--device", "cpu"]
                           + (run.map { ["--checkpoint", $0.path] } ?? []) + extra, in: cwd)
        XCTAssertEqual(r.status, 0, r.output)
        return r.output
    }

    func testRunFolderIsEnoughForPredictEvaluateAndExport() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        let data = dir.appendingPathComponent("data"), run = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try makeFashionMNIST(in: data)
        let trained = try train(data, run, ["--epochs", "2"])
        XCTAssertTrue(trained.contains("test accuracy") && trained.contains("after 2 epochs"), trained)
        XCTAssertTrue(trained.contains("best: epoch"), trained)

        // The checkpoint and best.safetensors record what the model needs.
        for name in ["checkpoint.safetensors", "best.safetensors"] {
            let info = try XCTUnwrap(try Checkpoint.read(from: run.appendingPathComponent(name)).run, name)
            XCTAssertEqual(info.model, "lenet5")
            XCTAssertEqual(info.classNames, FashionMNIST.classNames)
            XCTAssertEqual(info.inputShape, [1, 28, 28])
            XCTAssertEqual(info.preprocessing, .resize)
            XCTAssertEqual(info.data.kind, "fashion-mnist")
            XCTAssertEqual(info.data.validation, .testSet)
            XCTAssertEqual(info.settings["batch-size"], "32")
            // The training images' own statistics (Fashion-MNIST's are about 0.29 and 0.35).
            XCTAssertEqual(info.mean[0], 0.29, accuracy: 0.05)
            XCTAssertEqual(info.std[0], 0.35, accuracy: 0.05)
        }

        // predict RUN FOLDER: recursive, batched, class names, a warning for an off-size image.
        let images = dir.appendingPathComponent("images")
        for i in 0..<3 { try ImageFiles.write(ImageFiles.png(try testImage(i), width: 28, height: 28, channels: 1), to: "\(i).png", in: images) }
        var rng = SeededGenerator.fresh()
        try ImageFiles.write(ImageFiles.png(ImageFiles.noise(40 * 30 * 3, &rng), width: 40, height: 30), to: "more/odd.png", in: images)
        let predicted = try runCLI(["predict", run.path, images.path, "--batch-size", "3", "--top", "2", "--device", "cpu"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        for name in ["0.png", "1.png", "2.png", "more/odd.png"] { XCTAssertTrue(predicted.output.contains(name), predicted.output) }
        XCTAssertTrue(FashionMNIST.classNames.contains { predicted.output.contains("%  " + $0) }, predicted.output)
        XCTAssertTrue(predicted.output.contains("1 of 4 images differ in size") && predicted.output.contains("odd.png (40×30)"),
                      predicted.output)

        // Its probabilities are the model's on the dataset's own normalized sample (the plain reference).
        let checkpoint = try Checkpoint.read(from: run.appendingPathComponent("checkpoint.safetensors"))
        let info = try XCTUnwrap(checkpoint.run)
        let graph = try ModelZoo.build("lenet5", input: [1, 28, 28], classes: 10)
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 0, initialize: false)
        try store.write(checkpoint.parameters)
        let reference = try Classifier(graph: graph, parameters: store)
            .probabilities(of: [try testImage(1).map { (Float($0) / 255 - info.mean[0]) / info.std[0] }])[0]
        let json = try runCLI(["predict", run.appendingPathComponent("checkpoint.safetensors").path, images.appendingPathComponent("1.png").path,
                               "--json", "--device", "cpu"])
        XCTAssertEqual(json.status, 0, json.output)
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        let probabilities = try XCTUnwrap(parsed.first?["probabilities"] as? [Double])
        XCTAssertEqual(probabilities.count, 10)
        for (p, r) in zip(probabilities, reference) { XCTAssertEqual(p, Double(r), accuracy: 1e-4) }
        let top = try XCTUnwrap((parsed.first?["top"] as? [[String: Any]])?.first?["name"] as? String)
        XCTAssertTrue(FashionMNIST.classNames.contains(top), top)

        // A training size given to predict that differs from the run's is said.
        let resized = try runCLI(["predict", run.path, images.appendingPathComponent("0.png").path, "--image-size", "32", "--device", "cpu"])
        XCTAssertEqual(resized.status, 0, resized.output)
        XCTAssertTrue(resized.output.contains("trained on 28×28 inputs"), resized.output)

        // evaluate RUN and evaluate BEST: the run's data and class names without flags.
        for model in [run.path, run.appendingPathComponent("best.safetensors").path] {
            let evaluated = try runCLI(["evaluate", model, "--device", "cpu"])
            XCTAssertEqual(evaluated.status, 0, evaluated.output)
            XCTAssertTrue(evaluated.output.contains("96 images") && evaluated.output.contains("Ankle boot"), evaluated.output)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("evaluation/confusion.png").path))
        // Data moved away since training: said, with the fix; --data points evaluate elsewhere.
        let moved = dir.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: data, to: moved)
        let gone = try runCLI(["evaluate", run.path, "--device", "cpu"])
        XCTAssertNotEqual(gone.status, 0, gone.output)
        XCTAssertTrue(gone.output.contains("\(data.path), which no longer exists: give the data with --data DIR"), gone.output)
        let elsewhere = try runCLI(["evaluate", run.path, "--data", moved.path, "--device", "cpu"])
        XCTAssertEqual(elsewhere.status, 0, elsewhere.output)

        // export RUN keeps the run information, so imported-style use still names classes.
        let exported = dir.appendingPathComponent("lenet5.safetensors")
        let export = try runCLI(["export", run.path, "-o", exported.path])
        XCTAssertEqual(export.status, 0, export.output)
        XCTAssertEqual(try RunInfo.from(metadata: SafeTensors.read(from: exported).metadata, source: "export"), info)
        let viaWeights = try runCLI(["predict", "lenet5", "--weights", exported.path, images.appendingPathComponent("2.png").path,
                                     "--device", "cpu"])
        XCTAssertEqual(viaWeights.status, 0, viaWeights.output)
        XCTAssertTrue(FashionMNIST.classNames.contains { viaWeights.output.contains("%  " + $0) }, viaWeights.output)
    }

    func testEarlyStoppingBestCheckpointAndResume() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try makeFashionMNIST(in: data, train: 128, test: 64)

        // A learning rate too small to change a prediction: no epoch beats the first.
        let stalled = dir.appendingPathComponent("stalled")
        let stopped = try train(data, stalled, ["--epochs", "6", "--lr", "1e-9", "--early-stopping", "2"])
        XCTAssertTrue(stopped.contains("early stop: test accuracy has not improved for 2 epochs since epoch 1"), stopped)
        let lines = try String(contentsOf: stalled.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, stopped)
        XCTAssertEqual(try Checkpoint.read(from: stalled.appendingPathComponent("best.safetensors")).epochsCompleted, 1)
        XCTAssertEqual(try Checkpoint.read(from: stalled.appendingPathComponent("checkpoint.safetensors")).epochsCompleted, 3)

        // --resume with no value: the latest run of the model under runs/, said.
        let cwd = dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let first = try train(data, nil, ["--epochs", "1"], in: cwd)
        XCTAssertTrue(first.contains("after 1 epoch in "), first)
        _ = try train(data, nil, ["--epochs", "1", "--checkpoint", "runs/second"], in: cwd)
        let resumed = try train(data, nil, ["--epochs", "2", "--resume"], in: cwd)
        XCTAssertTrue(resumed.contains("resume    the latest run of lenet5: ") && resumed.contains("runs/second"), resumed)
        XCTAssertTrue(resumed.contains("resumed from") && resumed.contains("epoch 2/2") && !resumed.contains("epoch 1/2"), resumed)
        XCTAssertEqual(try Checkpoint.read(from: cwd.appendingPathComponent("runs/second/checkpoint.safetensors")).epochsCompleted, 2)
        XCTAssertEqual(try Checkpoint.read(from: cwd.appendingPathComponent("runs/lenet5/checkpoint.safetensors")).epochsCompleted, 1)

        // --resume RUN: another run folder, continued in place; its optimizer step goes on.
        let other = cwd.appendingPathComponent("runs/lenet5")
        let continued = try runCLI(["train", "lenet5", "--data", data.path, "--batch-size", "32", "--device", "cpu", "--epochs", "3",
                                    "--resume", other.appendingPathComponent("checkpoint.safetensors").path])
        XCTAssertEqual(continued.status, 0, continued.output)
        XCTAssertTrue(continued.output.contains("epoch 3/3"), continued.output)
        let after = try Checkpoint.read(from: other.appendingPathComponent("checkpoint.safetensors"))
        XCTAssertEqual(after.epochsCompleted, 3)
        XCTAssertEqual(after.optimizerStep, 3 * 4)

        // Refusals: another model, another input shape, a file that is not the latest checkpoint.
        let wide = dir.appendingPathComponent("wide")
        try FileManager.default.createDirectory(at: wide, withIntermediateDirectories: true)
        try makeFashionMNIST(in: wide, train: 64, test: 32, side: 32)
        let cases: [([String], String)] = [
            (["train", "resnet18", "--data", data.path, "--resume", other.path], "is for model 'lenet5', not 'resnet18'"),
            (["train", "lenet5", "--data", wide.path, "--batch-size", "32", "--resume", other.path], "Resume with the same data and --image-size"),
            (["train", "lenet5", "--data", data.path, "--resume", stalled.appendingPathComponent("best.safetensors").path],
             "use --weights"),
            (["train", "lenet5", "--data", data.path, "--resume", other.path, "--checkpoint", stalled.path], "give one of them"),
            (["train", "lenet5", "--data", data.path, "--early-stopping", "0"], "--early-stopping must be a positive"),
            (["train", "resnet18", "--synthetic", "--image-size", "32", "--batch-size", "2", "--early-stopping", "2",
              "--checkpoint", dir.appendingPathComponent("synthetic").path], "no validation images"),
        ]
        for (arguments, expected) in cases {
            let r = try runCLI(arguments + ["--device", "cpu"])
            XCTAssertNotEqual(r.status, 0, "\(arguments): \(r.output)")
            XCTAssertTrue(r.output.contains(expected), "\(arguments) should mention '\(expected)': \(r.output)")
        }
    }

    func testImageFolderRunsCallItValidationAndKeepSubfolderNames() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        var rng = SeededGenerator.fresh()
        for (name, color) in [("cats", [200, 40, 40]), ("dogs", [40, 40, 200])] {
            for i in 0..<10 {
                let pixels = (0..<(36 * 36)).flatMap { _ in color.map { UInt8(clamping: $0 + Int.random(in: -30...30, using: &rng)) } }
                try ImageFiles.write(ImageFiles.png(pixels, width: 36, height: 36), to: "photos/\(name)/\(i).png", in: dir)
            }
        }
        let run = dir.appendingPathComponent("run")
        let output = try train(dir.appendingPathComponent("photos"), run, ["--epochs", "1", "--batch-size", "8", "--image-size", "32"])
        XCTAssertTrue(output.contains("done: validation accuracy") && output.contains("after 1 epoch in "), output)
        let info = try XCTUnwrap(try Checkpoint.read(from: run.appendingPathComponent("checkpoint.safetensors")).run)
        XCTAssertEqual(info.classNames, ["cats", "dogs"])
        XCTAssertEqual(info.inputShape, [3, 32, 32])
        XCTAssertEqual(info.preprocessing, .imageNetEvaluation)
        XCTAssertEqual(info.data.validation, .heldOut)
        XCTAssertEqual(info.mean, ChannelNormalization.imageNet.mean)
        let predicted = try runCLI(["predict", run.path, dir.appendingPathComponent("photos/dogs").path, "--device", "cpu"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        XCTAssertTrue(predicted.output.contains("%  dogs") && predicted.output.contains("9.png"), predicted.output)
        // Image folders train on crops of any size: no size warning.
        XCTAssertFalse(predicted.output.contains("differ in size"), predicted.output)
        // visualize reads the run too: its input size and class names.
        let shown = try runCLI(["visualize", run.path, dir.appendingPathComponent("photos/cats/0.png").path, "--saliency",
                                "--device", "cpu", "--output", dir.appendingPathComponent("pictures").path])
        XCTAssertEqual(shown.status, 0, shown.output)
        XCTAssertTrue(shown.output.contains("input 3×32×32, 2 classes") && shown.output.contains("cats"), shown.output)
    }

    func testPathErrorsNameThePathGiven() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        let missing = dir.appendingPathComponent("photos").path
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let file = try ImageFiles.write(Data("x".utf8), to: "notes.txt", in: dir)
        let cases: [([String], String)] = [
            (["train", "resnet18", "--data", missing], "\(missing) does not exist"),
            (["train", "resnet18", "--data", empty.path], "no class subfolders in \(empty.path)"),
            (["train", "resnet18", "--data", file.path], "\(file.path) is a file, not a folder"),
            (["train", "lenet5", "--data", empty.path], "\(empty.path) holds no dataset"),
            (["evaluate", "resnet18", "--weights", missing], "--weights \(missing) does not exist"),
            (["predict", missing, file.path], "\(missing) does not exist"),
            (["predict", empty.path, file.path], "\(empty.path) has no checkpoint.safetensors"),
            (["export", missing, "-o", file.path], "\(missing) does not exist"),
        ]
        for (arguments, expected) in cases {
            let r = try runCLI(arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments): \(r.output)")
            XCTAssertTrue(r.output.contains(expected), "\(arguments) should mention '\(expected)': \(r.output)")
            XCTAssertFalse(r.output.contains("apt-get") || r.output.contains("NSCocoaErrorDomain"), "\(arguments): \(r.output)")
        }
        // A run folder given a folder without images.
        let weights = dir.appendingPathComponent("run/checkpoint.safetensors")
        try FileManager.default.createDirectory(at: weights.deletingLastPathComponent(), withIntermediateDirectories: true)
        try oldCheckpoint().write(to: weights)
        let r = try runCLI(["predict", weights.deletingLastPathComponent().path, empty.path, "--device", "cpu"])
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("no JPEG or PNG images in \(empty.path)"), r.output)
    }

    /// A LeNet-5 checkpoint as written before run information was recorded.
    func oldCheckpoint() throws -> Checkpoint {
        let graph = try ModelZoo.build("lenet5", input: [1, 28, 28], classes: 10)
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 5)
        let shapes = Dictionary(uniqueKeysWithValues: store.entries.map { ($0.name, $0.spec.shape) })
        return Checkpoint(model: "lenet5", epochsCompleted: 1, step: 10, seed: 1, optimizerStep: 10, parameters: try store.read(),
                          parameterShapes: shapes, optimizerState: [], history: [], batchSize: 32, settings: "")
    }

    func testCheckpointsWithoutRunInformationStillLoad() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        let run = dir.appendingPathComponent("old")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try oldCheckpoint().write(to: run.appendingPathComponent("checkpoint.safetensors"))
        XCTAssertNil(try Checkpoint.read(from: run.appendingPathComponent("checkpoint.safetensors")).run)
        // The header alone tells which model a checkpoint holds (how a bare --resume picks a run).
        let file = run.appendingPathComponent("checkpoint.safetensors")
        XCTAssertEqual(try SafeTensors.metadata(of: file)["model"], "lenet5")
        let cut = dir.appendingPathComponent("cut.safetensors")
        try Data(try Data(contentsOf: file).prefix(40)).write(to: cut)
        XCTAssertThrowsError(try SafeTensors.metadata(of: cut)) { XCTAssertTrue("\($0)".contains("cut.safetensors"), "\($0)") }
        XCTAssertEqual(RunFolder.latest(of: "lenet5", in: dir)?.standardizedFileURL.path, run.standardizedFileURL.path)
        XCTAssertNil(RunFolder.latest(of: "resnet18", in: dir))
        let image = try ImageFiles.write(ImageFiles.png(try testImage(0), width: 28, height: 28, channels: 1), to: "a.png", in: dir)
        let predicted = try runCLI(["predict", run.path, image.path, "--top", "1", "--device", "cpu"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        XCTAssertTrue(predicted.output.contains("predates recorded run information") && predicted.output.contains("%  class "),
                      predicted.output)
        let exported = try runCLI(["export", run.path, "-o", dir.appendingPathComponent("w.safetensors").path])
        XCTAssertEqual(exported.status, 0, exported.output)
        XCTAssertTrue(exported.output.contains("predates recorded run information"), exported.output)
    }

    func testRunInformationRoundTripsAndCorruptEntriesAreNamed() throws {
        let info = RunInfo(model: "resnet18", classNames: ["a", "b"], inputShape: [3, 64, 64], normalization: .imageNet,
                           preprocessing: .imageNetEvaluation, data: .init(kind: "imagefolder", path: "/d", validation: .heldOut),
                           settings: ["lr": "0.1"])
        XCTAssertEqual(try RunInfo.from(metadata: [RunInfo.metadataKey: info.json()], source: "f"), info)
        XCTAssertNil(try RunInfo.from(metadata: [:], source: "f"))
        XCTAssertThrowsError(try RunInfo.from(metadata: [RunInfo.metadataKey: "{"], source: "f.safetensors")) {
            XCTAssertTrue("\($0)".contains("f.safetensors") && "\($0)".contains("corrupt"), "\($0)")
        }
        var inconsistent = info
        inconsistent.mean = [0.5]
        XCTAssertThrowsError(try RunInfo.from(metadata: [RunInfo.metadataKey: inconsistent.json()], source: "g")) {
            XCTAssertTrue("\($0)".contains("inconsistent"), "\($0)")
        }
        var nonFinite = info
        nonFinite.std = [1, .nan, 1]
        XCTAssertThrowsError(try RunInfo.from(metadata: [RunInfo.metadataKey: nonFinite.json()], source: "h"))
        XCTAssertEqual(RunInfo.ValidationSplit.testSet.word, "test")
        XCTAssertEqual(RunInfo.ValidationSplit.heldOut.word, "validation")
    }
}
