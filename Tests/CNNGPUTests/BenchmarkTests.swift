@testable import CNNGPU
import Foundation
import XCTest

/// `cnn-gpu bench` on a tiny suite: the JSON's structure, the report and chart, the device
/// list. No timing is asserted, only that every number a reader relies on is there and sane.
final class BenchmarkTests: XCTestCase {
    private static let devices = "cpu" + (TestBackends.openCL == nil ? "" : ",opencl:0")

    /// Runs once for the tests that read results.
    private static let results: Result<BenchmarkResults, Error> = Result {
        var suite = try BenchmarkSuite.tiny()
        suite.models.append(ModelBenchmark(model: "not_in_the_zoo", input: [3, 32, 32], batches: [2]))
        return try BenchmarkRunner(suite: suite).run(on: try BenchmarkDevice.parse(devices))
    }

    func testJSONStructureOfTinySuite() throws {
        let results = try Self.results.get()
        let data = try results.jsonData()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["format", "date", "suite", "quick", "machine", "devices", "totalSeconds"])
        XCTAssertEqual(object["format"] as? Int, BenchmarkResults.currentFormat)
        let machine = try XCTUnwrap(object["machine"] as? [String: Any])
        XCTAssertEqual(Set(machine.keys), ["cpu", "cores", "memoryBytes", "operatingSystem"])

        let devices = try XCTUnwrap(object["devices"] as? [[String: Any]])
        XCTAssertEqual(devices.map { $0["id"] as? String }, Self.devices.split(separator: ",").map(String.init))
        let opCount = try BenchmarkSuite.tiny().ops.count
        for device in devices {
            let id = device["id"] as? String ?? "?"
            XCTAssertEqual(Set(device.keys), ["id", "backend", "name", "vendor", "platform", "driver", "computeUnits",
                                              "deviceTimestamps", "setupSeconds", "calibration", "ops", "models", "notes"])
            XCTAssertEqual(device["deviceTimestamps"] as? Bool, id.hasPrefix("opencl"), id)
            let calibration = try XCTUnwrap(device["calibration"] as? [String: Any])
            XCTAssertGreaterThan(calibration["gemmGFLOPS"] as? Double ?? 0, 0, id)
            // The GEMM reference is the faster of the BLAS SGEMM and the same product as a 1×1
            // convolution, and says which it was.
            let blas = try XCTUnwrap(calibration["blasGEMMGFLOPS"] as? Double, id)
            let asConvolution = try XCTUnwrap(calibration["convolutionGEMMGFLOPS"] as? Double, id)
            XCTAssertEqual(calibration["gemmGFLOPS"] as? Double, max(blas, asConvolution), id)
            let path = try XCTUnwrap(calibration["gemmPath"] as? String, id)
            XCTAssertTrue(path.hasPrefix(blas >= asConvolution ? "BLAS SGEMM" : "1×1 convolution"), "\(id): \(path)")
            XCTAssertGreaterThan(calibration["bandwidthGBps"] as? Double ?? 0, 0, id)

            let ops = try XCTUnwrap(device["ops"] as? [[String: Any]])
            XCTAssertEqual(ops.count, opCount, "\(id): every op ran (notes: \(device["notes"] ?? ""))")
            for op in ops {
                XCTAssertEqual(Set(op.keys), ["group", "name", "direction", "shape", "algorithm", "bound", "work",
                                              "wall", "device", "rate", "shareOfCalibrated"])
                XCTAssertFalse((op["algorithm"] as? String ?? "").isEmpty)
                XCTAssertGreaterThan(op["rate"] as? Double ?? 0, 0, "\(id) \(op["name"] ?? "")")
                try assertTiming(op["wall"], repeats: 2)
                try assertTiming(op["device"], repeats: 2)
            }
            XCTAssertEqual(Set(ops.compactMap { $0["direction"] as? String }),
                           ["forward", "backward-data", "backward-filter", "backward", "forward-training",
                            "forward-inference"])

            let models = try XCTUnwrap(device["models"] as? [[String: Any]])
            XCTAssertEqual(models.compactMap { $0["mode"] as? String }, ["inference", "training"], id)
            for model in models {
                XCTAssertEqual(model["model"] as? String, "lenet5")
                XCTAssertEqual(model["input"] as? [Int], [1, 28, 28])
                XCTAssertGreaterThan(model["imagesPerSecond"] as? Double ?? 0, 0)
                XCTAssertGreaterThan(model["plannedBytes"] as? Int ?? 0, 61_706 * 4)
                try assertTiming(model["wall"], repeats: 2)
            }
            let notes = device["notes"] as? [String] ?? []
            XCTAssertEqual(notes.count, 1, "\(notes)")
            XCTAssertTrue(notes.first?.contains("not_in_the_zoo: not in the model zoo yet") ?? false, "\(notes)")
        }
        // What was written reads back.
        XCTAssertEqual(try BenchmarkResults.decode(data).devices.count, devices.count)
    }

    func testReportChartAndTableNameEveryDevice() throws {
        let results = try Self.results.get()
        let markdown = BenchmarkReport.markdown(results, chartFile: "chart.svg")
        let svg = BenchmarkChart.svg(results)
        let table = BenchmarkTable.text(results)
        XCTAssertTrue(markdown.contains("![devices compared](chart.svg)"))
        XCTAssertTrue(markdown.contains("## Ops compared") && markdown.contains("## Models compared"))
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("Models: images/s"))
        for device in results.devices {
            XCTAssertTrue(markdown.contains("## \(device.id): "), device.id)
            XCTAssertTrue(svg.contains("\(device.id): "), device.id)
            XCTAssertTrue(table.contains("== \(device.id): "), device.id)
        }
        // One chart row per compute-bound op: GEMM and the three convolution passes.
        XCTAssertTrue(svg.contains("tiny 3×3 backward-filter"))
    }

    func testDeviceListParsing() throws {
        XCTAssertEqual(try BenchmarkDevice.parse("cpu, opencl:1,cpu").map(\.id), ["cpu", "opencl:1"])
        XCTAssertEqual(try BenchmarkDevice.parse("opencl").map(\.id), ["opencl:0"])
        XCTAssertEqual(try BenchmarkDevice.parse("all").first?.id, "cpu")
        XCTAssertTrue(assertThrowsCNNError { _ = try BenchmarkDevice.parse("auto") }?.contains("not auto") ?? false)
        XCTAssertTrue(assertThrowsCNNError { _ = try BenchmarkDevice.parse("gpu:7") }?.contains("unknown device") ?? false)
    }

    func testDeviceTimestampsNeedAProfilingQueue() throws {
        let plain = try TestBackends.requireOpenCL()
        XCTAssertTrue(assertThrowsCNNError { _ = try plain.timestamp() }?.contains("profiling: true") ?? false)
        let profiled = try OpenCLBackend(deviceIndex: 0, profiling: true)
        let x = try profiled.allocate(1 << 20, dtype: .float32)
        let start = try profiled.timestamp()
        try profiled.fill(x, value: 1)
        let end = try profiled.timestamp()
        XCTAssertGreaterThanOrEqual(try profiled.deviceSeconds(from: start, to: end), 0)
    }

    private func assertTiming(_ value: Any?, repeats: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let timing = try XCTUnwrap(value as? [String: Any], file: file, line: line)
        let samples = try XCTUnwrap(timing["samplesMs"] as? [Double], file: file, line: line)
        XCTAssertEqual(samples.count, repeats, file: file, line: line)
        let (median, low, high) = (timing["medianMs"] as? Double ?? -1, timing["minMs"] as? Double ?? -1,
                                   timing["maxMs"] as? Double ?? -1)
        XCTAssertTrue(low > 0 && low <= median && median <= high, "\(timing)", file: file, line: line)
    }
}
