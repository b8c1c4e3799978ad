import ArgumentParser
import CNNGPU
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark ops and models on several devices and compare them.",
        discussion: """
            Each device is first calibrated: the GFLOP/s of a large matrix product (the faster of the \
            backend's BLAS SGEMM and its convolution kernels on the same product as a 1×1 convolution) \
            and the GB/s of a large copy. \
            Every op is then reported with its time, its GFLOP/s (GB/s for memory-bound ops), that rate as \
            a share of the calibrated one, and the algorithm or kernel the backend chose; every model with \
            its inference and training images/s and its planned memory. Times are medians of repeated \
            runs after a warm-up run (program builds and first touch are not timed); OpenCL devices also \
            report device time from profiling events. Benchmarks/README.md explains how to read the results.

            Examples:
              cnn-gpu bench --quick
              cnn-gpu bench --devices cpu,opencl:0 --suite ops --json ops.json --report report.md
            """)

    @Option(help: ArgumentHelp("Devices to compare: all (the CPU backend and every OpenCL device), or a "
        + "comma-separated list of cpu and opencl:N (see `cnn-gpu devices`).", valueName: "devices"))
    var devices: String = "all"

    @Option(help: "What to run: ops, models or all.")
    var suite: BenchmarkSuite.Part = .all

    @Flag(help: "Smaller problems and fewer repeats: under two minutes for two devices on a 2-core machine.")
    var quick = false

    @Option(help: ArgumentHelp("Run only the ops and models whose name contains this text, e.g. \"batch 8\" "
        + "for ResNet-50's batch-8 convolutions.", valueName: "text"))
    var only: String?

    @Option(help: ArgumentHelp("Also write the results as JSON to this file.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Also write a Markdown report to this file, with an SVG chart beside it "
        + "(same name, .svg).", valueName: "file"))
    var report: String?

    @Option(help: ArgumentHelp("Instead of the suite: time every compiled op of a few training steps of this zoo "
        + "model (synthetic data), print the ops taking the most time and write a Chrome trace.", valueName: "model"))
    var profile: String?

    @Option(help: ArgumentHelp("With --profile: the batch size.", valueName: "n"))
    var batchSize: Int = 8

    @Option(help: ArgumentHelp("With --profile: the image side (default: the model's, 224 for ImageNet models).", valueName: "pixels"))
    var imageSize: Int?

    @Option(help: ArgumentHelp("With --profile: where to write the trace-event JSON (default profile-MODEL-DEVICE.json).",
                               valueName: "file"))
    var profileFile: String?

    @Flag(help: "With --profile: compile without fusing activations into the ops before them (to compare).")
    var noFusion = false

    mutating func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let imageSize, imageSize < 1 { throw ValidationError("--image-size must be positive, got \(imageSize)") }
        do { _ = try BenchmarkDevice.parse(devices) } catch let error as CNNError {
            throw ValidationError(error.description)
        }
    }

    @Option(help: ArgumentHelp("Instead of running: read results saved with --json and print their table (and "
        + "--report), e.g. to redraw a chart.", valueName: "file"))
    var from: String?

    func run() throws {
        if let model = profile { return try runProfile(model) }
        let results: BenchmarkResults
        if let from {
            let url = URL(fileURLWithPath: (from as NSString).expandingTildeInPath)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw CNNError.invalidArgument("--from \(from): no such file (give the JSON that --json wrote)")
            }
            do { results = try BenchmarkResults.decode(data) } catch {
                throw CNNError.invalidArgument("--from \(from) is not the JSON of `cnn-gpu bench --json` (\(error))")
            }
        } else {
            let progress = ProgressLine()
            var chosen = try BenchmarkSuite.standard(suite, quick: quick)
            if let only { chosen = chosen.only(only) }
            let runner = BenchmarkRunner(suite: chosen, progress: progress.show)
            results = try runner.run(on: try BenchmarkDevice.parse(devices))
            progress.clear()
        }
        print(BenchmarkTable.text(results))
        if let json {
            try results.jsonData().write(to: URL(fileURLWithPath: json))
            print("JSON written to \(json)")
        }
        if let report {
            let reportURL = URL(fileURLWithPath: report)
            let chartURL = reportURL.deletingPathExtension().appendingPathExtension("svg")
            try Data(BenchmarkChart.svg(results).utf8).write(to: chartURL)
            try Data(BenchmarkReport.markdown(results, chartFile: chartURL.lastPathComponent).utf8).write(to: reportURL)
            print("Report written to \(report), chart to \(chartURL.path)")
        }
    }

    private func runProfile(_ model: String) throws {
        let entry = try ModelZoo.entry(model)
        var job = ModelProfile(model: entry.name, batch: batchSize)
        if let imageSize {
            job.input = TensorShape([entry.defaultInput.dims[0], imageSize, imageSize])
        }
        job.options = PlanOptions(fusion: !noFusion)
        for device in try BenchmarkDevice.parse(devices) {
            let (profiler, backend) = try job.run(on: device)
            let input = job.input ?? entry.defaultInput
            print("\(entry.name) training step, batch \(batchSize), input \(input), on \(backend.info.name) (\(device.id)), "
                  + "\(profiler.steps) steps after \(job.warmupSteps) warm-up steps\(noFusion ? ", fusion off" : ""):")
            print(profiler.table())
            let file = profileFile.map { devicesCount > 1 ? $0.replacingOccurrences(of: ".json", with: "-\(device.id.replacingOccurrences(of: ":", with: ""))".appending(".json")) : $0 }
                ?? "profile-\(entry.name)-\(device.id.replacingOccurrences(of: ":", with: "")).json"
            try profiler.chromeTrace().write(to: URL(fileURLWithPath: file), options: .atomic)
            print("trace written to \(file)\n")
        }
    }

    private var devicesCount: Int { (try? BenchmarkDevice.parse(devices).count) ?? 1 }
}

extension BenchmarkSuite.Part: ExpressibleByArgument {}

/// One line on stderr that each benchmark overwrites as it starts (on a terminal), so stdout
/// holds only the results; without a terminal, one line per benchmark.
private final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let start = Date()

    func show(_ text: String) {
        let line = String(format: "%4.0f s  ", Date().timeIntervalSince(start)) + text
        write(isTerminal ? "\r\u{1B}[K" + line : line + "\n")
    }

    func clear() { if isTerminal { write("\r\u{1B}[K") } }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
