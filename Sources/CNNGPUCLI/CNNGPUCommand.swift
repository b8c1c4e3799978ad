import ArgumentParser

@main
struct CNNGPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn-gpu",
        abstract: "Train and benchmark convolutional networks on any OpenCL device, or the CPU.",
        subcommands: [DevicesCommand.self])
}
