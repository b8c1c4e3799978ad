@testable import CNNGPU
import Foundation
import XCTest

/// The dataset readers: IDX (plain and gzipped), CIFAR-10 binary batches, and the clear
/// errors every kind of bad file gets.
final class DataTests: XCTestCase {
    // MARK: Fixtures

    /// A fresh directory, removed when the test ends.
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnngpu-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Random IDX images and labels: `count` images of rows × cols.
    struct IDXFixture {
        var pixels: [UInt8]
        var labels: [UInt8]
        var rows: Int, cols: Int
        var count: Int { labels.count }

        init(count: Int, rows: Int, cols: Int, classes: Int = 10, rng: inout SeededGenerator) {
            self.rows = rows
            self.cols = cols
            pixels = (0..<count * rows * cols).map { _ in UInt8.random(in: 0...255, using: &rng) }
            pixels[0] = 0
            pixels[1] = 255  // both ends of the range
            labels = (0..<count).map { _ in UInt8.random(in: 0..<UInt8(classes), using: &rng) }
        }

        var imageFile: [UInt8] { try! IDXFile(dims: [count, rows, cols], bytes: pixels).encoded(magic: IDXFile.imagesMagic) }
        var labelFile: [UInt8] { try! IDXFile(dims: [count], bytes: labels).encoded(magic: IDXFile.labelsMagic) }

        /// Writes `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte`, gzipped or plain.
        func write(to dir: URL, prefix: String, gzip: Bool) throws {
            let suffix = gzip ? ".gz" : ""
            try DataTests.write(gzip ? try Gzip.compress(imageFile) : imageFile, dir.appendingPathComponent("\(prefix)-images-idx3-ubyte\(suffix)"))
            try DataTests.write(gzip ? try Gzip.compress(labelFile) : labelFile, dir.appendingPathComponent("\(prefix)-labels-idx1-ubyte\(suffix)"))
        }

        func check(_ d: Dataset, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(d.count, count, message, file: file, line: line)
            XCTAssertEqual(d.sampleShape, [1, rows, cols], message, file: file, line: line)
            XCTAssertEqual(d.images, pixels.map { Float($0) / 255 }, message, file: file, line: line)
            XCTAssertEqual(d.labels, labels.map(Int32.init), message, file: file, line: line)
        }
    }

    static func write(_ bytes: [UInt8], _ url: URL) throws { try Data(bytes).write(to: url) }
    func write(_ bytes: [UInt8], _ url: URL) throws { try Data(bytes).write(to: url) }

    // MARK: IDX

    func testIDXReadsBackExactlyGzippedAndPlain() throws {
        var rng = SeededGenerator.fresh()
        let dir = try temporaryDirectory()
        let train = IDXFixture(count: 9, rows: 7, cols: 5, rng: &rng)
        let test = IDXFixture(count: 4, rows: 7, cols: 5, rng: &rng)
        try train.write(to: dir, prefix: "train", gzip: true)
        try test.write(to: dir, prefix: "t10k", gzip: false)

        let loadedTrain = try FashionMNIST.load(split: .train, directory: dir)
        train.check(loadedTrain, "gzipped train, seed \(rng.seed)")
        XCTAssertEqual(loadedTrain.classes, 10)
        XCTAssertEqual(loadedTrain.classNames, FashionMNIST.classNames)
        XCTAssertEqual(loadedTrain.className(9), "Ankle boot")
        test.check(try FashionMNIST.load(split: .test, directory: dir), "plain test, seed \(rng.seed)")
        test.check(try MNIST.load(split: .test, directory: dir), "MNIST reads the same format, seed \(rng.seed)")
    }

    func testIDXAcceptsDottedNamesAndGzipByContent() throws {
        var rng = SeededGenerator.fresh()
        let dir = try temporaryDirectory()
        let fixture = IDXFixture(count: 3, rows: 2, cols: 4, rng: &rng)
        // Some MNIST mirrors spell the names with a dot; a gzipped file without .gz is still read.
        try write(try Gzip.compress(fixture.imageFile), dir.appendingPathComponent("train-images.idx3-ubyte"))
        try write(fixture.labelFile, dir.appendingPathComponent("train-labels.idx1-ubyte"))
        fixture.check(try MNIST.load(split: .train, directory: dir), "seed \(rng.seed)")
    }

    func testGzipFromTheGzipCommandAndConcatenatedMembers() throws {
        let gzip = URL(fileURLWithPath: "/usr/bin/gzip")
        guard FileManager.default.isExecutableFile(atPath: gzip.path) else { throw XCTSkip("no /usr/bin/gzip") }
        var rng = SeededGenerator.fresh()
        let dir = try temporaryDirectory()
        let fixture = IDXFixture(count: 6, rows: 3, cols: 3, rng: &rng)
        try fixture.write(to: dir, prefix: "train", gzip: false)
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
            let process = Process()
            process.executableURL = gzip
            process.arguments = ["-9", dir.appendingPathComponent(name).path]  // replaces it with name.gz
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
        }
        fixture.check(try FashionMNIST.load(split: .train, directory: dir), "gzip -9 output, seed \(rng.seed)")

        // `cat a.gz b.gz` is a valid gzip file of both contents.
        let bytes = (0..<5000).map { _ in UInt8.random(in: 0...3, using: &rng) }
        let joined = try Gzip.compress(Array(bytes[..<1234])) + Gzip.compress(Array(bytes[1234...]))
        XCTAssertEqual(try Gzip.decompress(joined, source: "joined"), bytes)
        XCTAssertEqual(try Gzip.decompress(Gzip.compress([]), source: "empty"), [])
    }

    func testMissingFilesNameEveryPathAndTheFix() throws {
        let dir = try temporaryDirectory()
        let message = assertThrowsCNNError({ _ = try FashionMNIST.load(split: .train, directory: dir) }) ?? ""
        for name in ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images.idx3-ubyte.gz",
                     "train-images.idx3-ubyte", "train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte",
                     "train-labels.idx1-ubyte.gz", "train-labels.idx1-ubyte"] {
            XCTAssertTrue(message.contains(dir.appendingPathComponent(name).path), "\(name) not in: \(message)")
        }
        XCTAssertTrue(message.contains("apt-get install dataset-fashion-mnist"), message)
        XCTAssertTrue(message.contains("--data DIR"), message)

        // Images present, labels missing: the message names the label file.
        var rng = SeededGenerator.fresh()
        try write(IDXFixture(count: 2, rows: 2, cols: 2, rng: &rng).imageFile,
                  dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        let labels = assertThrowsCNNError({ _ = try FashionMNIST.load(split: .test, directory: dir) }) ?? ""
        XCTAssertTrue(labels.contains("t10k-labels-idx1-ubyte.gz"), labels)
        XCTAssertFalse(labels.contains("t10k-images"), "only the missing file is listed: \(labels)")
    }

    /// Writes the fixture, lets `damage` change the image file, and returns the load error.
    func loadError(damage: (inout [UInt8]) throws -> Void, gzip: Bool = false, labels: [UInt8]? = nil) throws -> String {
        var rng = SeededGenerator.fresh()
        let dir = try temporaryDirectory()
        var fixture = IDXFixture(count: 5, rows: 4, cols: 3, rng: &rng)
        if let labels { fixture.labels = labels }
        var images = IDXFixture(count: 5, rows: 4, cols: 3, rng: &rng).imageFile
        if gzip { images = try Gzip.compress(images) }
        try damage(&images)
        try write(images, dir.appendingPathComponent("train-images-idx3-ubyte" + (gzip ? ".gz" : "")))
        try write(fixture.labelFile, dir.appendingPathComponent("train-labels-idx1-ubyte"))
        return assertThrowsCNNError({ _ = try FashionMNIST.load(split: .train, directory: dir) }) ?? ""
    }

    func testTruncatedFilesAreReported() throws {
        let body = try loadError { $0.removeLast(7) }
        XCTAssertTrue(body.contains("truncated") && body.contains("5×4×3 = 60 values"), body)
        let header = try loadError { $0.removeLast($0.count - 9) }
        XCTAssertTrue(header.contains("header") && header.contains("truncated"), header)
        let empty = try loadError { $0 = [] }
        XCTAssertTrue(empty.contains("shorter than the 4-byte magic number"), empty)
        let gzipped = try loadError(damage: { $0.removeLast(20) }, gzip: true)
        XCTAssertTrue(gzipped.contains("corrupt gzip") && gzipped.contains("truncated"), gzipped)
        let trailing = try loadError { $0 += [1, 2, 3] }
        XCTAssertTrue(trailing.contains("3 bytes follow"), trailing)
    }

    func testWrongMagicNumbersAreReported() throws {
        var rng = SeededGenerator.fresh()
        let labelFile = IDXFixture(count: 5, rows: 4, cols: 3, rng: &rng).labelFile
        let swapped = try loadError { $0 = labelFile }
        XCTAssertTrue(swapped.contains("0x00000801, expected 0x00000803") && swapped.contains("swapped"), swapped)
        let garbage = try loadError { $0[2] = 0x0D }
        XCTAssertTrue(garbage.contains("magic number is 0x00000D03"), garbage)
        XCTAssertTrue(garbage.contains("train-images-idx3-ubyte"), "names the file: \(garbage)")
    }

    func testCorruptGzipIsReported() throws {
        let notGzip = try loadError(damage: { $0 = [0x1F, 0x8B, 0x08, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9] })
        XCTAssertTrue(notGzip.contains("corrupt gzip"), notGzip)
        // Damage inside the deflate stream or its CRC: zlib must notice.
        let flipped = try loadError(damage: { bytes in
            for i in stride(from: 12, to: bytes.count - 8, by: 3) { bytes[i] ^= 0x5A }
        }, gzip: true)
        XCTAssertTrue(flipped.contains("corrupt gzip"), flipped)
        let crc = try loadError(damage: { $0[$0.count - 6] ^= 0xFF }, gzip: true)
        XCTAssertTrue(crc.contains("corrupt gzip") && crc.contains("check"), crc)
        let named = try loadError(damage: { $0 = Array("hello".utf8) }, gzip: true)
        XCTAssertTrue(named.contains("corrupt gzip"), "a .gz that is not gzip: \(named)")
    }

    func testCountMismatchAndBadLabelsAreReported() throws {
        let mismatch = try loadError(damage: { _ in }, labels: [1, 2, 3, 4])
        XCTAssertTrue(mismatch.contains("holds 5 images") && mismatch.contains("holds 4 labels"), mismatch)
        let label = try loadError(damage: { _ in }, labels: [1, 2, 10, 4, 0])
        XCTAssertTrue(label.contains("label 10 of sample 2"), label)
    }

    func testDatasetChecksItsParts() {
        XCTAssertNoThrow(try Dataset(name: "ok", sampleShape: [1, 2, 2], classes: 3, images: .init(repeating: 0, count: 8), labels: [0, 2]))
        let size = assertThrowsCNNError({
            _ = try Dataset(name: "d", sampleShape: [1, 2, 2], classes: 3, images: [0, 0, 0], labels: [0])
        }) ?? ""
        XCTAssertTrue(size.contains("3 image values do not make 1 images"), size)
        let label = assertThrowsCNNError({
            _ = try Dataset(name: "d", sampleShape: [1, 1, 1], classes: 3, images: [0, 0], labels: [0, 3])
        }) ?? ""
        XCTAssertTrue(label.contains("label 3 of sample 1"), label)
        assertThrowsCNNError({ _ = try Dataset(name: "d", sampleShape: [4], classes: 3, images: [0, 0, 0, 0], labels: [0]) })
        assertThrowsCNNError({ _ = try Dataset(name: "d", sampleShape: [1, 1, 1], classes: 2, classNames: ["a"], images: [0], labels: [0]) })
    }

    func testSubsetKeepsSamplesTogether() throws {
        let d = try Dataset(name: "d", sampleShape: [1, 1, 2], classes: 3,
                            images: [0, 0.1, 0.2, 0.3, 0.4, 0.5], labels: [0, 1, 2])
        let s = try d.subset(1..<3)
        XCTAssertEqual(s.images, [0.2, 0.3, 0.4, 0.5])
        XCTAssertEqual(s.labels, [1, 2])
        XCTAssertEqual(s.count, 2)
        assertThrowsCNNError({ _ = try d.subset(2..<4) })
    }

    // MARK: CIFAR-10

    /// Records of random CIFAR-10 samples: label byte + 3072 pixel bytes each.
    func cifarRecords(_ count: Int, _ rng: inout SeededGenerator) -> [UInt8] {
        (0..<count * CIFAR10.recordSize).map { i in
            i % CIFAR10.recordSize == 0 ? UInt8.random(in: 0...9, using: &rng) : UInt8.random(in: 0...255, using: &rng)
        }
    }

    func checkCIFAR(_ d: Dataset, _ records: [UInt8], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let n = records.count / CIFAR10.recordSize
        XCTAssertEqual(d.count, n, message, file: file, line: line)
        XCTAssertEqual(d.sampleShape, [3, 32, 32], message, file: file, line: line)
        XCTAssertEqual(d.labels, (0..<n).map { Int32(records[$0 * CIFAR10.recordSize]) }, message, file: file, line: line)
        let pixels = (0..<n).flatMap { records[($0 * CIFAR10.recordSize + 1)..<(($0 + 1) * CIFAR10.recordSize)] }
        XCTAssertEqual(d.images, pixels.map { Float($0) / 255 }, message, file: file, line: line)
    }

    func testCIFAR10ReadsBackExactly() throws {
        var rng = SeededGenerator.fresh()
        let root = try temporaryDirectory()
        let dir = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var all = [UInt8]()
        for (i, n) in [2, 1, 3, 1, 2].enumerated() {
            let records = cifarRecords(n, &rng)
            all += records
            try write(records, dir.appendingPathComponent("data_batch_\(i + 1).bin"))
        }
        let test = cifarRecords(3, &rng)
        try write(test, dir.appendingPathComponent("test_batch.bin"))

        let train = try CIFAR10.load(split: .train, directory: dir)
        checkCIFAR(train, all, "train in file order, seed \(rng.seed)")
        XCTAssertEqual(train.classNames[3], "cat")
        checkCIFAR(try CIFAR10.load(split: .test, directory: root), test, "found in cifar-10-batches-bin/, seed \(rng.seed)")
    }

    func testCIFAR10BadFilesAreReported() throws {
        var rng = SeededGenerator.fresh()
        let dir = try temporaryDirectory()
        let missing = assertThrowsCNNError({ _ = try CIFAR10.load(split: .train, directory: dir) }) ?? ""
        for i in 1...5 {
            XCTAssertTrue(missing.contains(dir.appendingPathComponent("data_batch_\(i).bin").path), missing)
        }
        XCTAssertTrue(missing.contains("--data DIR"), missing)

        var records = cifarRecords(2, &rng)
        records.removeLast(100)
        try write(records, dir.appendingPathComponent("test_batch.bin"))
        let size = assertThrowsCNNError({ _ = try CIFAR10.load(split: .test, directory: dir) }) ?? ""
        XCTAssertTrue(size.contains("6046 bytes") && size.contains("3073-byte records"), size)

        try write([], dir.appendingPathComponent("test_batch.bin"))
        assertThrowsCNNError({ _ = try CIFAR10.load(split: .test, directory: dir) }, "empty file")

        records = cifarRecords(2, &rng)
        records[CIFAR10.recordSize] = 10
        try write(records, dir.appendingPathComponent("test_batch.bin"))
        let label = assertThrowsCNNError({ _ = try CIFAR10.load(split: .test, directory: dir) }) ?? ""
        XCTAssertTrue(label.contains("record 1 has label 10"), label)
    }

    // MARK: The real Fashion-MNIST package

    func testInstalledFashionMNISTLoads() throws {
        guard InstalledFashionMNIST.isInstalled else { throw XCTSkip("dataset-fashion-mnist is not installed") }
        for (split, count) in [(DatasetSplit.train, 60_000), (.test, 10_000)] {
            let d = split == .train ? try InstalledFashionMNIST.train.get() : try FashionMNIST.load(split: split)
            XCTAssertEqual(d.count, count)
            XCTAssertEqual(d.sampleShape, [1, 28, 28])
            XCTAssertEqual(d.images.count, count * 784)
            XCTAssertEqual(d.images.min(), 0)
            XCTAssertEqual(d.images.max(), 1)
            // Fashion-MNIST is balanced: every class has a tenth of each split.
            var perClass = [Int](repeating: 0, count: 10)
            for label in d.labels { perClass[Int(label)] += 1 }
            XCTAssertEqual(perClass, [Int](repeating: count / 10, count: 10), "\(split)")
        }
    }
}

/// The installed Fashion-MNIST training set, loaded once per test process (decoding 60,000
/// images takes seconds in a debug build).
enum InstalledFashionMNIST {
    static var isInstalled: Bool { FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.path) }
    static let train = Result { try FashionMNIST.load(split: .train) }
}
