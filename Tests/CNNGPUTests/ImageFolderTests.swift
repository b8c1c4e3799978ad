@testable import CNNGPU
import XCTest

/// Image folders on disk: listing, splits, and the batch source that decodes them.
final class ImageFolderTests: XCTestCase {
    /// root/<class>/<n>.{jpg,png}: JPEGs and PNGs alternating, 24×20 random pixels.
    private func makeFolder(_ root: URL, classes: [String: Int], _ rng: inout SeededGenerator) throws {
        for (name, count) in classes {
            for i in 0..<count {
                let pixels = ImageFiles.noise(24 * 20 * 3, &rng)
                if i.isMultiple(of: 2) {
                    try ImageFiles.write(ImageFiles.jpeg(pixels, width: 24, height: 20), to: "\(name)/\(i).jpg", in: root)
                } else {
                    try ImageFiles.write(ImageFiles.png(pixels, width: 24, height: 20), to: "\(name)/\(i).png", in: root)
                }
            }
        }
    }

    func testClassesAreSortedSubfoldersAndFilesSortedWithin() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root, classes: ["zebra": 2, "Apple": 1, "mango": 3], &rng)
        try ImageFiles.write(Data("ignored".utf8), to: "mango/.DS_Store", in: root)
        let elsewhere = try ImageFiles.write(ImageFiles.png([1, 2, 3], width: 1, height: 1), to: "outside/9.png",
                                             in: ImageFiles.temporaryFolder(self))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("mango/nested"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("mango/nested/9.png"), withDestinationURL: elsewhere)
        let folder = try ImageFolder(directory: root)
        XCTAssertEqual(folder.classes, ["Apple", "mango", "zebra"], "code-point order, as Python sorts")
        XCTAssertEqual(folder.labels, [0, 1, 1, 1, 1, 2, 2])
        XCTAssertEqual(folder.files.map { $0.path.replacingOccurrences(of: root.path + "/", with: "") },
                       ["Apple/0.jpg", "mango/0.jpg", "mango/1.png", "mango/2.jpg", "mango/nested/9.png", "zebra/0.jpg", "zebra/1.png"])
        XCTAssertEqual(try folder.image(4).pixels, [1, 2, 3], "links to files are followed")
    }

    func testMissingOrEmptyFoldersAreClearErrors() throws {
        let root = try ImageFiles.temporaryFolder(self)
        XCTAssertTrue((assertThrowsCNNError { _ = try ImageFolder(directory: root) } ?? "").contains("no class subfolders"))
        let missing = root.appendingPathComponent("nowhere")
        XCTAssertTrue((assertThrowsCNNError { _ = try ImageFolder(directory: missing) } ?? "").contains(missing.path))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("cats/empty-inside"), withIntermediateDirectories: true)
        let message = assertThrowsCNNError { _ = try ImageFolder(directory: root) } ?? ""
        XCTAssertTrue(message.contains("\(root.path)/cats") && message.contains("holds no files"), message)
    }

    func testTrainAndValSubfoldersAreUsedWhenPresent() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root.appendingPathComponent("train"), classes: ["a": 3, "b": 2, "c": 2], &rng)
        try makeFolder(root.appendingPathComponent("val"), classes: ["b": 1, "c": 2], &rng)
        let (train, validation) = try ImageFolder.splits(at: root)
        XCTAssertEqual(train.count, 7)
        XCTAssertEqual(validation.classes, ["a", "b", "c"], "validation is labelled with the training classes")
        XCTAssertEqual(validation.labels, [1, 2, 2])
        XCTAssertTrue(ImageFolder.isImageFolder(root))
        try FileManager.default.moveItem(at: root.appendingPathComponent("val"), to: root.appendingPathComponent("elsewhere"))
        let (heldOutTrain, heldOut) = try ImageFolder.splits(at: root, validationFraction: 0.5, seed: 1)
        XCTAssertEqual(heldOutTrain.classes, ["a", "b", "c"], "without val/, the split is held out from train/")
        XCTAssertEqual(heldOut.count, 4, "round(1.5) + round(1) + round(1)")
        try FileManager.default.moveItem(at: root.appendingPathComponent("elsewhere"), to: root.appendingPathComponent("val"))
        try makeFolder(root.appendingPathComponent("val"), classes: ["d": 1], &rng)
        let message = assertThrowsCNNError { _ = try ImageFolder.splits(at: root) } ?? ""
        XCTAssertTrue(message.contains("val/d"), message)
    }

    func testHeldOutSplitIsSeededPerClassAndDisjoint() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root, classes: ["a": 10, "b": 20, "c": 1], &rng)
        let (train, validation) = try ImageFolder.splits(at: root, validationFraction: 0.2, seed: 4)
        XCTAssertEqual(validation.labels.filter { $0 == 0 }.count, 2)
        XCTAssertEqual(validation.labels.filter { $0 == 1 }.count, 4)
        XCTAssertEqual(train.labels.filter { $0 == 2 }.count, 1, "a class of one stays in training")
        XCTAssertEqual(Set(train.files).intersection(validation.files), [])
        XCTAssertEqual(Set(train.files).union(validation.files), Set(try ImageFolder(directory: root).files))
        XCTAssertEqual(try ImageFolder.splits(at: root, validationFraction: 0.2, seed: 4).validation.files, validation.files)
        let others = try (5..<10).map { try ImageFolder.splits(at: root, validationFraction: 0.2, seed: UInt64($0)).validation.files }
        XCTAssertTrue(others.contains { $0 != validation.files }, "the seed picks the held-out files")
        assertThrowsCNNError { _ = try ImageFolder.splits(at: root, validationFraction: 1) }
    }

    func testBatchesHaveFixedShapeAndDoNotDependOnThreads() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root, classes: ["a": 4, "b": 3], &rng)
        let folder = try ImageFolder(directory: root)
        let transform = try ImageNetTransform.training(size: 16)
        func epoch(workers: Int, skipping: Int = 0) throws -> [TrainingBatch] {
            let source = try ImageFolderSource(folder: folder, transform: transform, batchSize: 3, seed: 8, workers: workers)
            return Array(source.batches(epoch: 2, skipping: skipping))
        }
        let serial = try epoch(workers: 0), threaded = try epoch(workers: 3)
        XCTAssertEqual(serial.map(\.count), [3, 3, 1])
        for (a, b) in zip(serial, threaded) {
            XCTAssertEqual(a.images.count, 3 * 3 * 16 * 16, "every batch is [3, 3, 16, 16]")
            XCTAssertEqual(a.images, b.images)
            XCTAssertEqual(a.labels, b.labels)
        }
        XCTAssertTrue(serial[2].images[(3 * 16 * 16)...].allSatisfy { $0 == 0 }, "the short batch is zero-padded")
        XCTAssertEqual(serial.flatMap { $0.labels.prefix($0.count) }.sorted(), [0, 0, 0, 0, 1, 1, 1])
        XCTAssertEqual(try epoch(workers: 2, skipping: 1).map(\.images), serial.dropFirst().map(\.images))
        let source = try ImageFolderSource(folder: folder, transform: transform, batchSize: 3, seed: 8)
        XCTAssertEqual(try source.batch(1, epoch: 2).images, serial[1].images)
        XCTAssertNotEqual(try source.batch(1, epoch: 3).images, serial[1].images)
    }

    func testACorruptFileStopsTheEpochWithItsPath() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root, classes: ["a": 3, "b": 3], &rng)
        let bad = try ImageFiles.write(Data("not an image".utf8), to: "b/readme.txt", in: root)
        let folder = try ImageFolder(directory: root)
        let source = try ImageFolderSource(folder: folder, transform: .evaluation(size: 8), batchSize: 2, shuffle: false, workers: 2)
        let iterator = source.batches(epoch: 0, skipping: 0)
        let delivered = Array(IteratorSequence(iterator))
        XCTAssertLessThan(delivered.count, source.batchesPerEpoch)
        XCTAssertNil(iterator.next(), "asking again after the error ends at once")
        let message = (source.iterationError as? CNNError)?.description ?? ""
        XCTAssertTrue(message.contains(bad.path) && message.contains("not a JPEG or PNG"), message)
        XCTAssertTrue((assertThrowsCNNError { _ = try source.batch(3, epoch: 0) } ?? "").contains(bad.path))
        _ = Array(source.batches(epoch: 0, skipping: 0).prefix(1))
        XCTAssertNil(source.iterationError, "a new iteration starts without the old error")
    }

    func testTrainingStopsWithTheUnreadableFilesPath() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root, classes: ["a": 4, "b": 4], &rng)
        let bad = try ImageFiles.write(Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00]), to: "b/cut.jpg", in: root)
        let source = try ImageFolderSource(folder: ImageFolder(directory: root), transform: .training(size: 8), batchSize: 3,
                                           seed: 2, dropLast: true, workers: 1)
        let graph = try Sequential(input: [3, 8, 8]) { Conv2D(2, kernel: 3, padding: .same); ReLU(); Flatten(); Dense(2) }
        var config = TrainingConfig()
        config.epochs = 1; config.batchSize = 3
        let trainer = try Trainer(graph: graph, backend: TestBackends.cpu, config: config,
                                  reporter: ProgressReporter(isTerminal: false, output: { _ in }))
        let message = assertThrowsCNNError { _ = try trainer.fit(train: source, validation: nil) } ?? ""
        XCTAssertTrue(message.contains(bad.path), message)
    }

    func testSkipCorruptReplacesAndReportsTheFile() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        try makeFolder(root, classes: ["a": 3, "b": 2], &rng)
        let jpeg = try Data(contentsOf: root.appendingPathComponent("a/0.jpg"))
        let bad = try ImageFiles.write(jpeg.prefix(jpeg.count / 2), to: "b/truncated.jpg", in: root)
        let folder = try ImageFolder(directory: root)
        let source = try ImageFolderSource(folder: folder, transform: .evaluation(size: 8), batchSize: 2, shuffle: false,
                                           workers: 2, skipCorrupt: true)
        let batches = Array(source.batches(epoch: 0, skipping: 0))
        XCTAssertNil(source.iterationError)
        XCTAssertEqual(batches.map(\.count), [2, 2, 2])
        XCTAssertEqual(source.skippedFiles, [bad.path])
        // The truncated file (last in order) is replaced by the first file, wrapping around.
        XCTAssertEqual(Array(batches[2].images[192..<384]), Array(batches[0].images[0..<192]))
        XCTAssertEqual(batches[2].labels[1], 0)
    }

    func testSyntheticBatchesAreSeededAndImageNetShaped() throws {
        let source = try SyntheticSource(sampleCount: 10, batchSize: 4, imageSize: 8, classes: 5, seed: 3, workers: 2)
        let batches = Array(source.batches(epoch: 1, skipping: 0))
        XCTAssertEqual(batches.count, 2, "whole batches only")
        for (i, batch) in batches.enumerated() {
            XCTAssertEqual(batch.images.count, 4 * 3 * 8 * 8)
            XCTAssertTrue(batch.images.allSatisfy { (-2..<2).contains($0) })
            XCTAssertTrue(batch.labels.allSatisfy { (0..<5).contains($0) })
            XCTAssertEqual(batch.images, source.batch(i, epoch: 1).images)
        }
        XCTAssertNotEqual(batches[0].images, batches[1].images)
        XCTAssertNotEqual(source.batch(0, epoch: 2).images, batches[0].images)
        assertThrowsCNNError { _ = try SyntheticSource(sampleCount: 3, batchSize: 4) }
    }
}
