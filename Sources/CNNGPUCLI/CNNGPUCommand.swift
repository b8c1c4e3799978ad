import ArgumentParser
import CNNGPU
import Foundation

@main
struct CNNGPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn-gpu",
        abstract: "Train and benchmark convolutional networks on any OpenCL device, or the CPU.",
        discussion: """
            Devices: `cnn-gpu devices` lists them. train, predict, evaluate, visualize, filters, tune and \
            summary take --device auto|cpu|gpu|opencl[:N] (gpu: an OpenCL GPU or accelerator, and an \
            error when there is none; PoCL is a CPU device); bench compares several with --devices.
            """,
        version: CNNGPUVersion.string,
        subcommands: [TrainCommand.self, PredictCommand.self, EvaluateCommand.self, VisualizeCommand.self, FiltersCommand.self,
                      SummaryCommand.self, ExportCommand.self, BenchCommand.self, TuneCommand.self, AllreduceBenchCommand.self,
                      DevicesCommand.self])

    static func main() {
        // Line-buffered, so `print` and the progress bar (written unbuffered) stay in order.
        setvbuf(stdout, nil, _IOLBF, 0)
        main(nil)
    }
}
