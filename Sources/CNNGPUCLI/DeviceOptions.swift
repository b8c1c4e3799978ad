import ArgumentParser
import CNNGPU

/// `--device`, shared by every command that runs ops.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Where to run: auto (the best OpenCL GPU, else the CPU backend), cpu (the native CPU backend), gpu (the best OpenCL GPU or accelerator, an error when there is none; PoCL is a CPU device), opencl (the first OpenCL device, whatever its kind), or opencl:N (see `cnn-gpu devices`). Under mpirun, auto gives each rank on a machine its own GPU (opencl:<local rank>) when there are enough, else the CPU backend; a comma-separated list gives one device per local rank.",
        valueName: "device"))
    var device: String = "auto"

    func selection(localRank: Int = 0) throws -> DeviceSelection {
        do { return try DeviceSelection(parsing: device, localRank: localRank) } catch let error as CNNError {
            throw ValidationError(error.description)
        }
    }

    /// Every entry of a per-rank list must parse.
    mutating func validate() throws {
        for rank in 0..<max(1, device.split(separator: ",").count) { _ = try selection(localRank: rank) }
    }
}
