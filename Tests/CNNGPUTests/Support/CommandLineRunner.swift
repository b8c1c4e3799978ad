import Foundation

/// Runs the `cnn-gpu` binary built beside the test bundle and returns its exit status and its
/// standard output and error together.
func runCLI(_ arguments: [String], in dir: URL? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("cnn-gpu")
    process.arguments = arguments
    if let dir { process.currentDirectoryURL = dir }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
