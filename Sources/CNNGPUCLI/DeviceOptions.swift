import ArgumentParser
import CNNGPU

/// `--device`, shared by every command that runs ops.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Where to run: auto (the best OpenCL GPU, else the CPU backend), cpu, opencl, or opencl:N.",
        valueName: "device"))
    var device: String = "auto"

    func selection() throws -> DeviceSelection {
        do { return try DeviceSelection(parsing: device) } catch let error as CNNError {
            throw ValidationError(error.description)
        }
    }

    mutating func validate() throws { _ = try selection() }
}
