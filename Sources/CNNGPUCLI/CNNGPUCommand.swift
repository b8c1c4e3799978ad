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
        OpenBLASTuning.reexecWithAVX512KernelsIfNeeded()
        // Line-buffered, so `print` and the progress bar (written unbuffered) stay in order.
        setvbuf(stdout, nil, _IOLBF, 0)
        main(nil)
    }
}

/// OpenBLAS 0.3.21 (Debian 12) runs its AVX2 kernels on AVX-512 AMD processors, at about half
/// the speed, unless OPENBLAS_CORETYPE is set before the library loads (a `setenv` in `main`
/// is too late). The CLI therefore re-executes itself once with the variable set.
enum OpenBLASTuning {
    static func reexecWithAVX512KernelsIfNeeded() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              HostCPU.current.supportsOpenBLASSkylakeX else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv only returns on failure; running with the default kernels is still correct.
    }
}
