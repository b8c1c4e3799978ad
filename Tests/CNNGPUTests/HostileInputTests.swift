@testable import CNNGPU
import Foundation
import XCTest

/// The crashing and silently-accepted inputs of the reliability report, each now refused with
/// a message that names the problem.
final class HostileInputTests: XCTestCase {
    func assertRefused(_ expected: [String], file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for e in expected { XCTAssertTrue(text.contains(e), "'\(e)' missing from: \(text)", file: file, line: line) }
        }
    }

    func testSafetensorsSizesOverflowingAreRefused() {
        assertRefused(["'w'", "overflows"]) {
            _ = try SafeTensors.decode(HostileInputs.safetensors(
                header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#))
        }
    }

    func testSafetensorsDuplicateKeysGapsAndTrailingBytesAreRefused() {
        let four = HostileInputs.floats([1, 2, 3, 4])
        assertRefused(["'w'", "twice"]) {
            _ = try SafeTensors.decode(HostileInputs.safetensors(
                header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                data: Array(four.prefix(8))))
        }
        assertRefused(["twice"]) {   // the same key spelled with an escape
            _ = try SafeTensors.decode(HostileInputs.safetensors(
                header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\u0077":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                data: Array(four.prefix(8))))
        }
        assertRefused(["bytes 4..<16", "belong to no tensor"]) {
            _ = try SafeTensors.decode(HostileInputs.safetensors(
                header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: four))
        }
        assertRefused(["bytes 0..<4", "before tensor 'w'"]) {
            _ = try SafeTensors.decode(HostileInputs.safetensors(
                header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Array(four.prefix(8))))
        }
        assertRefused(["overlap"]) {
            _ = try SafeTensors.decode(HostileInputs.safetensors(
                header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                data: Array(four.prefix(12))))
        }
    }

    func testSafetensorsHeaderLimitsFailFastAndSayTheLimit() {
        var long = Data(withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) })
        long.append(contentsOf: [UInt8](repeating: 0x20, count: 16))
        assertRefused(["the limit is 100000000 bytes"]) { _ = try SafeTensors.decode(long) }

        let entries = (0...SafeTensors.maxEntries).map { #""t\#($0)":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}"# }
        let start = Date()
        assertRefused(["more than \(SafeTensors.maxEntries) entries"]) {
            _ = try SafeTensors.decode(HostileInputs.safetensors(header: "{" + entries.joined(separator: ",") + "}"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "refused while scanning, not after parsing")
        assertRefused(["does not start with '{'"]) { _ = try SafeTensors.decode(HostileInputs.safetensors(header: "[1]")) }
    }

    func testNonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let b = GraphBuilder(input: [2])
        let graph = try b.build(output: b.add(Dense(2), b.input, name: "fc"))
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-nan-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors(tensors: ["fc.weight": .init(shape: [2, 2], values: [1, .nan, 3, 4]),
                                  "fc.bias": .init(shape: [2], values: [0, 0])]).write(to: url)
        assertRefused(["'fc.weight'", "nan", "index 1"]) { try ModelWeights.load(url, into: store) }
    }

    func testCheckpointCountersAndValuesAreChecked() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-ckpt-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        func checkpoint(epochs: Int = 1, step: Int = 4, state: [Float] = [0, 0]) -> Checkpoint {
            Checkpoint(model: "m", epochsCompleted: epochs, step: step, seed: 1, optimizerStep: max(step, 0),
                       parameters: ["w": [1, 2]], parameterShapes: ["w": [2]], optimizerState: [state],
                       history: [], batchSize: 2, settings: "")
        }
        for (epochs, step, field) in [(1, -1, "step"), (-5, 0, "epochs_completed")] {
            try checkpoint(epochs: epochs, step: step).write(to: url)
            assertRefused([field, "cannot be negative"]) { _ = try Checkpoint.read(from: url) }
        }
        // Resume checks the counters against the data: 4 steps per epoch.
        XCTAssertNoThrow(try Checkpoint.validateCounters(epochsCompleted: 1, step: 6, stepsPerEpoch: 4, source: nil))
        XCTAssertNoThrow(try Checkpoint.validateCounters(epochsCompleted: 3, step: 12, stepsPerEpoch: 4, source: nil))
        assertRefused(["must lie in 4..<8"]) { try Checkpoint.validateCounters(epochsCompleted: 1, step: Int.max, stepsPerEpoch: 4, source: nil) }
        assertRefused(["must lie in 4..<8"]) { try Checkpoint.validateCounters(epochsCompleted: 1, step: 2, stepsPerEpoch: 4, source: nil) }
        assertRefused(["corrupt"]) { try Checkpoint.validateCounters(epochsCompleted: Int.max, step: 0, stepsPerEpoch: 4, source: nil) }
        // A diverged optimizer state is never written.
        assertRefused(["optimizer.state0", "inf", "diverged"]) { try checkpoint(state: [0, .infinity]).write(to: url) }
    }

    func testDecompressionBombsAndBrokenHeadersNameTheFile() throws {
        let pixels = [UInt8](repeating: 90, count: 8 * 8 * 3)
        let png = try ImageFiles.png(pixels, width: 8, height: 8)
        assertRefused(["bomb.png", "34000×34000", "more than the limit of 178956970", "--max-image-pixels"]) {
            _ = try ImageDecoder.decode(HostileInputs.png(png, claimingWidth: 34000, height: 34000), name: "bomb.png")
        }
        let jpeg = try ImageFiles.jpeg(pixels, width: 8, height: 8)
        assertRefused(["bomb.jpg", "34000×34000"]) {
            _ = try ImageDecoder.decode(HostileInputs.jpeg(jpeg, claimingWidth: 34000, height: 34000), name: "bomb.jpg")
        }
        assertRefused(["zero.jpg"]) {
            _ = try ImageDecoder.decode(HostileInputs.jpeg(jpeg, claimingWidth: 0, height: 8), name: "zero.jpg")
        }
        for cut in [4, 20, 100] {
            assertRefused(["cut.jpg"]) { _ = try ImageDecoder.decode(jpeg.prefix(cut), name: "cut.jpg") }
        }
        // The limit is a setting: raised, a genuine image of that size is allowed again.
        let saved = ImageDecoder.maxPixels
        defer { ImageDecoder.maxPixels = saved }
        ImageDecoder.maxPixels = 63
        assertRefused(["8×8 = 64 pixels"]) { _ = try ImageDecoder.decode(png, name: "small.png") }
        ImageDecoder.maxPixels = 64
        XCTAssertNoThrow(try ImageDecoder.decode(png, name: "small.png"))
    }

    func testIDXSizesThatOverflowAreRefused() {
        let header: [UInt8] = [0, 0, 8, 3] + [UInt8](repeating: 0xFF, count: 12)
        assertRefused(["fuzz.idx"]) { _ = try IDXFile(parsing: header, magic: IDXFile.imagesMagic, source: "fuzz.idx") }
    }

    func testGzipBombsStopAtTheLimit() throws {
        let bomb = try Gzip.compress([UInt8](repeating: 0, count: 4 << 20))
        XCTAssertLessThan(bomb.count, 16_384)
        assertRefused(["bomb.gz", "more than 1048576 bytes"]) { _ = try Gzip.decompress(bomb, source: "bomb.gz", limit: 1 << 20) }
        XCTAssertEqual(try Gzip.decompress(bomb, source: "bomb.gz", limit: 4 << 20).count, 4 << 20)
    }

    func testResizingBeyondMemoryIsRefusedBeforeAllocating() throws {
        let small = try Dataset(name: "tiny", sampleShape: [1, 2, 2], classes: 2, images: [Float](repeating: 0.5, count: 8),
                                labels: [0, 1])
        assertRefused(["tiny", "use a smaller --image-size"]) { _ = try small.resized(to: 60_000, channels: 3) }
        XCTAssertEqual(try small.resized(to: 4, channels: 3).sampleShape, [3, 4, 4])
    }

    func testCheckedSizesAndLimits() {
        XCTAssertNil(CheckedSize.product([1 << 32, 1 << 32]))
        XCTAssertNil(CheckedSize.product([-1, 2]))
        XCTAssertEqual(CheckedSize.product([3, 0, 1 << 62]), 0)
        assertRefused(["--batch-size must be between 1 and 65536"]) { try InputLimits.checkBatchSize(Int.max) }
        assertRefused(["--image-size"]) { try InputLimits.checkSampleShape([3, 2_000_000_000, 2_000_000_000], flag: "--image-size") }
        assertRefused(["values per sample"]) { try InputLimits.checkSampleShape([65536, 65536, 65536], flag: "--input-shape") }
        XCTAssertGreaterThan(HostMemory.limitBytes, 0)
        XCTAssertGreaterThan(HostMemory.residentBytes(), 1 << 20, "VmRSS is read (its line has a tab)")
        XCTAssertLessThanOrEqual(HostMemory.availableBytes, HostMemory.limitBytes)
    }
}
