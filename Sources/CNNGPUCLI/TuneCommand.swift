import ArgumentParser
import CNNGPU
import Foundation

/// `cnn-gpu tune MODEL`: times the convolution solvers of every layer of a model on a device
/// and remembers the fastest, so later runs on the same device and driver start with them.
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Pre-tune every convolution of a model for a device and remember the choices.",
        discussion: """
            Each convolution problem (shape, stride, padding, groups, direction) is timed per applicable \
            solver at its defaults, in three interleaved rounds, skipping solvers that the rates they \
            reached on earlier problems show cannot come within 2× of the best (fast), or per solver and \
            tunable parameter set (full) on the device; the \
            fastest is stored in the tuning database ($XDG_CACHE_HOME/cnn-gpu/tuning.json, else \
            ~/.cache/cnn-gpu/tuning.json), keyed by device name, driver version and problem, so another \
            device or driver never reuses it (on the CPU backend: processor, vector ISA and worker \
            count). `train --tune` does the same for the problems it meets.

            Examples:
              cnn-gpu tune resnet50 --batch-size 8 --device opencl:0
              cnn-gpu tune resnet50 --batch-size 8 --device opencl:0 --mode full --verbose
              cnn-gpu tune resnet50 --batch-size 8 --device cpu
            """)

    @Argument(help: "A model name (see `cnn-gpu summary --help`).")
    var model: String

    @OptionGroup var device: DeviceOptions

    // train's default, so that `tune MODEL` then `train MODEL` finds its problems remembered.
    @Option(name: [.customShort("b"), .long], help: "Batch size the problems are tuned for (train's default).")
    var batchSize: Int = 64

    @Option(help: "Square input side in pixels (default: the model's own).")
    var imageSize: Int?

    @Option(help: "Number of classes of the classifier head.")
    var numClasses: Int = 1000

    @Option(help: "fast (each solver at its defaults, remembered problems skipped) or full (every parameter set, timed again).")
    var mode: TuningMode = .fast

    @Flag(help: "Tune the forward pass only (inference).")
    var inference = false

    @Flag(help: "Print every candidate solver of each problem with its time, or why it was not timed.")
    var verbose = false

    mutating func validate() throws {
        guard mode != .off else { throw ValidationError("--mode off tunes nothing: use fast or full") }
        guard (1...65_536).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...65536, got \(batchSize)") }
        if let imageSize, !(1...65_536).contains(imageSize) {
            throw ValidationError("--image-size must be in 1...65536, got \(imageSize)")
        }
        _ = try device.selection()
    }

    func run() throws {
        let entry = try ModelZoo.entry(model)
        let selected = try device.selection().open()
        let backend = selected.backend
        let input = imageSize.map { TensorShape([entry.defaultInput.dims[0], $0, $0]) }
        let graph = try ModelZoo.build(entry.name, input: input, classes: numClasses)
        print("tuning    \(entry.name), batch \(batchSize), input \(graph.inputShape), \(mode.rawValue) mode, on "
              + "\(backend.info.name) (\(backend.info.backend)) — \(selected.reason)")
        let start = Date()
        // The progress line rewrites itself on a terminal, unless --verbose prints lines under it.
        let isTerminal = isatty(STDERR_FILENO) != 0 && !verbose
        let results = try Plan.tune(graph: graph, batch: batchSize, training: !inference, backend: backend, mode: mode,
                                    progress: { step in
            let line = String(format: "%5.0f s  tuning %@", Date().timeIntervalSince(start), step)
            FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }, trace: verbose ? { line in FileHandle.standardError.write(Data(("         " + line + "\n").utf8)) } : nil)
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        var rows = [["layer", "pass", "problem", "solver", "parameters", "ms"]]
        for r in results {
            rows.append([r.layer, r.direction.rawValue, r.problem, r.choice.solver,
                         r.choice.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                         String(format: "%.2f", r.choice.milliseconds)])
        }
        let widths = (0..<6).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { c, cell in cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  "))
        }
        if let cl = backend as? OpenCLBackend, let gemm = cl.rememberedCLBlastGEMMDescription(TuningDatabase.shared) {
            print("CLBlast SGEMM  " + gemm)
        }
        print(String(format: "tuned %d problems in %.1f s; remembered in %@", results.count, Date().timeIntervalSince(start),
                     TuningDatabase.shared.url.path))
    }
}

extension TuningMode: ExpressibleByArgument {}
