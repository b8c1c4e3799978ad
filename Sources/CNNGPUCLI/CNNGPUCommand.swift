import ArgumentParser
import CNNGPU
import Foundation

@main
struct CNNGPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn-gpu",
        abstract: "Train and benchmark convolutional networks on any OpenCL device, or the CPU.",
        discussion: """
            Devices: `cnn-gpu devices` lists them; every command takes --device auto|cpu|opencl[:N].
            """,
        subcommands: [TrainCommand.self, PredictCommand.self, EvaluateCommand.self, VisualizeCommand.self, FiltersCommand.self,
                      SummaryCommand.self, ExportCommand.self, BenchCommand.self, TuneCommand.self, AllreduceBenchCommand.self,
                      DevicesCommand.self])

    static func main() {
        // Line-buffered, so `print` and the progress bar (written unbuffered) stay in order.
        setvbuf(stdout, nil, _IOLBF, 0)
        main(nil)
    }
}
