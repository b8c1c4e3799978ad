@testable import CNNGPU
import COpenCL
import Foundation
import XCTest

/// The tuning database's file: round trip, keys that separate devices, drivers and problems,
/// corrupt files; the tuner's use of it; and the on-disk program binary cache.
final class TuningDatabaseTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-gpu-tuning-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    static func device(_ name: String, driver: String) -> DeviceInfo {
        DeviceInfo(backend: "OpenCL", name: name, vendor: "v", kind: .gpu, computeUnits: 1, clockMHz: 1,
                   globalMemoryBytes: 1, maxBufferBytes: 1, maxIndexableElements: Int(Int32.max), platform: "p",
                   driverVersion: driver, peakGFLOPS: nil)
    }

    func testRoundTripAndKeying() throws {
        let url = folder.appendingPathComponent("tuning.json")
        let d = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 64, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let gpu = Self.device("GPU A", driver: "1.0")
        let choice = TunedChoice(solver: "implicitGEMM", parameters: ["TM": 64, "KSPLIT": 4], milliseconds: 1.5)
        try TuningDatabase(url: url).record(choice, device: gpu, problem: ConvolutionProblemKey(d, direction: .forward))

        let reopened = TuningDatabase(url: url)
        XCTAssertEqual(reopened.choice(device: gpu, problem: ConvolutionProblemKey(d, direction: .forward)), choice)
        // Another direction, driver, device, or any size of the problem is another key.
        XCTAssertNil(reopened.choice(device: gpu, problem: ConvolutionProblemKey(d, direction: .backwardData)))
        XCTAssertNil(reopened.choice(device: Self.device("GPU A", driver: "1.1"),
                                     problem: ConvolutionProblemKey(d, direction: .forward)))
        XCTAssertNil(reopened.choice(device: Self.device("GPU B", driver: "1.0"),
                                     problem: ConvolutionProblemKey(d, direction: .forward)))
        var other = d
        other.dilationW = 2
        XCTAssertNil(reopened.choice(device: gpu, problem: ConvolutionProblemKey(other, direction: .forward)))
        other = d
        other.groups = 2
        XCTAssertNil(reopened.choice(device: gpu, problem: ConvolutionProblemKey(other, direction: .forward)))
        XCTAssertEqual(ConvolutionProblemKey(d, direction: .forward).description,
                       "forward n8-c64-h56-w56-k64-r3-s3 pad1,1,1,1 stride1x1 dil1x1 g1 float32")
    }

    func testWritesMergeWithOtherProcessesEntries() throws {
        let url = folder.appendingPathComponent("tuning.json")
        let d = try Conv2DDescriptor(batch: 1, inChannels: 1, inH: 4, inW: 4, outChannels: 1, kernelH: 3, kernelW: 3)
        let dev = Self.device("X", driver: "1")
        let first = TuningDatabase(url: url), second = TuningDatabase(url: url)
        let a = TunedChoice(solver: "implicitGEMM", parameters: [:], milliseconds: 1)
        try first.record(a, device: dev, problem: ConvolutionProblemKey(d, direction: .forward))
        try second.record(a, device: dev, problem: ConvolutionProblemKey(d, direction: .backwardData))
        let merged = TuningDatabase(url: url)
        XCTAssertNotNil(merged.choice(device: dev, problem: ConvolutionProblemKey(d, direction: .forward)))
        XCTAssertNotNil(merged.choice(device: dev, problem: ConvolutionProblemKey(d, direction: .backwardData)))
    }

    func testCorruptFileIsIgnoredAndRewritten() throws {
        let url = folder.appendingPathComponent("tuning.json")
        try Data("{ not json".utf8).write(to: url)
        let db = TuningDatabase(url: url)
        let d = try Conv2DDescriptor(batch: 1, inChannels: 1, inH: 4, inW: 4, outChannels: 1, kernelH: 3, kernelW: 3)
        let dev = Self.device("X", driver: "1")
        XCTAssertNil(db.choice(device: dev, problem: ConvolutionProblemKey(d, direction: .forward)))
        let c = TunedChoice(solver: "implicitGEMM", parameters: ["TK": 8], milliseconds: 2)
        try db.record(c, device: dev, problem: ConvolutionProblemKey(d, direction: .forward))
        XCTAssertEqual(TuningDatabase(url: url).choice(device: dev, problem: ConvolutionProblemKey(d, direction: .forward)), c)
        // A well-formed file of another version is ignored too.
        try Data(#"{"version": 99, "devices": {}}"#.utf8).write(to: url)
        XCTAssertNil(TuningDatabase(url: url).choice(device: dev, problem: ConvolutionProblemKey(d, direction: .forward)))
    }

    func testTunerStoresItsChoiceAndReusesIt() throws {
        let cl = try TestBackends.requireOpenCL()
        let db = TuningDatabase(url: folder.appendingPathComponent("tuning.json"))
        let d = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 8, inW: 8, outChannels: 5, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        for direction in ConvolutionDirection.allCases {
            let choice = try cl.tuneConvolution(d, direction: direction, database: db, runs: 1)
            let candidates = cl.convolutionCandidates(d, direction: direction)
            XCTAssertTrue(candidates.contains { $0.solver.rawValue == choice.solver && $0.parameters == choice.parameters })
            XCTAssertEqual(db.choice(device: cl.info, problem: ConvolutionProblemKey(d, direction: direction)), choice)
            // The second call answers from the database (same measured time: nothing re-timed).
            XCTAssertEqual(try cl.tuneConvolution(d, direction: direction, database: db), choice)
        }
    }

    /// The CPU backend tunes too: its choice is one of the solutions it offers, remembered under
    /// a key naming the processor, its vector ISA and the worker count, so that a run with
    /// another worker count (or a copied cache on another machine) times its own.
    func testCPUTunerStoresItsChoicePerProcessorAndWorkerCount() throws {
        let db = TuningDatabase(url: folder.appendingPathComponent("tuning.json"))
        let (one, two) = (CPUBackend(threads: 1), CPUBackend(threads: 2))
        let key = TuningDatabase.deviceKey(two.info)
        XCTAssertNotEqual(TuningDatabase.deviceKey(one.info), key)
        XCTAssert(key.contains(two.info.name) && key.contains(two.info.platform) && key.contains("2 workers"), key)
        let d = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 9, inW: 9, outChannels: 32, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        for direction in ConvolutionDirection.allCases {
            let choice = try two.tuneConvolution(d, direction: direction, database: db)
            let solution = ConvolutionSolution(try XCTUnwrap(ConvolutionAlgorithm(rawValue: choice.solver)),
                                               parameters: choice.parameters)
            XCTAssert(two.convolutionSolutions(for: d, direction: direction).contains(solution), "\(choice)")
            XCTAssertEqual(db.choice(device: two.info, problem: ConvolutionProblemKey(d, direction: direction)), choice)
            XCTAssertNil(db.choice(device: one.info, problem: ConvolutionProblemKey(d, direction: direction)))
            XCTAssertEqual(try two.tuneConvolution(d, direction: direction, database: db), choice)
        }
    }

    func testProgramBinaryCacheRejectsStaleAndCorruptEntries() throws {
        let cl = try TestBackends.requireOpenCL()
        let cache = ProgramBinaryCache(directory: folder, device: cl.device.deviceID, deviceName: cl.info.name,
                                       driverVersion: cl.info.driverVersion)
        let source = "__kernel void k(__global float* x) { x[get_global_id(0)] = VALUE; }"
        let options = "-DVALUE=2.0f"
        var status: cl_int = 0
        let program: cl_program? = source.withCString { cstr in
            var ptr: UnsafePointer<CChar>? = cstr
            var length = strlen(cstr)
            return clCreateProgramWithSource(cl.context, 1, &ptr, &length, &status)
        }
        var dev: cl_device_id? = cl.device.deviceID
        XCTAssertEqual(clBuildProgram(try XCTUnwrap(program), 1, &dev, options, nil, nil), CL_SUCCESS)
        cache.store(program!, source: source, options: options)
        clReleaseProgram(program!)

        let loaded = cache.load(context: cl.context, source: source, options: options, buildOptions: options)
        XCTAssertNotNil(loaded, "a fresh entry loads")
        loaded.map { _ = clReleaseProgram($0) }
        // Other options or an edited source are other keys: never served the old binary.
        XCTAssertNil(cache.load(context: cl.context, source: source, options: "-DVALUE=3.0f", buildOptions: ""))
        XCTAssertNil(cache.load(context: cl.context, source: source + " ", options: options, buildOptions: options))
        // A truncated or altered binary is treated as absent, never handed to the driver.
        let file = cache.url(for: cache.key(source: source, options: options))
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(bytes.count - 7).write(to: file)
        XCTAssertNil(cache.load(context: cl.context, source: source, options: options, buildOptions: options))
        var flipped = bytes
        flipped[flipped.count - 10] ^= 0x40
        try flipped.write(to: file)
        XCTAssertNil(cache.load(context: cl.context, source: source, options: options, buildOptions: options))
        try (Data(cache.key(source: source, options: options).utf8) + Data(repeating: 0x5a, count: 256)).write(to: file)
        XCTAssertNil(cache.load(context: cl.context, source: source, options: options, buildOptions: options))
        try bytes.write(to: file)
        let restored = cache.load(context: cl.context, source: source, options: options, buildOptions: options)
        XCTAssertNotNil(restored, "the intact entry still loads")
        restored.map { _ = clReleaseProgram($0) }
    }
}
