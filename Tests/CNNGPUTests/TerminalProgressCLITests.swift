@testable import CNNGPU
import Foundation
import Glibc
import XCTest

/// `cnn-gpu train` in an 80-column terminal (a pseudo-terminal, as a user's window): no line
/// it draws is wider than the window, so nothing wraps and the live line updates in place.
final class TerminalProgressCLITests: XCTestCase {
    /// Runs the real binary with stdout and stderr on a pseudo-terminal `columns` wide; returns
    /// the exit status and everything written to the terminal.
    private func runInTerminal(_ arguments: [String], columns: UInt16) throws -> (status: Int32, output: String) {
        var master: Int32 = -1, slave: Int32 = -1
        var size = winsize(ws_row: 24, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        guard openpty(&master, &slave, nil, nil, &size) == 0 else {
            throw XCTSkip("no pseudo-terminal available (openpty: errno \(errno))")
        }
        defer { close(master) }
        XCTAssertEqual(ioctl(slave, UInt(TIOCSWINSZ), &size), 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("cnn-gpu")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["COLUMNS"] = nil   // the window size must come from the terminal itself
        process.environment = environment
        let terminal = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
        process.standardOutput = terminal
        process.standardError = terminal
        try process.run()
        close(slave)   // the child holds its own copy; reads end with EIO once it exits
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(master, &buffer, buffer.count)
            if n > 0 { output.append(contentsOf: buffer[0..<n]) } else if n < 0 && errno == EINTR { continue } else { break }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    func testTrainingProgressFitsAnEightyColumnTerminal() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-tty-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        // Fashion-MNIST-shaped IDX files: 2,048 training images make 64 steps, enough updates.
        try TinyFashionMNIST.write(in: dir, train: 2048, test: 128, pattern: .noise, seed: 11)
        let (status, output) = try runInTerminal(["train", "lenet5", "--data", dir.path, "--epochs", "2", "-b", "32",
                                                  "--device", "cpu", "--checkpoint", dir.appendingPathComponent("run").path],
                                                 columns: 80)
        XCTAssertEqual(status, 0, output)
        // What the terminal shows: every piece between carriage returns and newlines (the
        // terminal turns "\n" into "\r\n", one Character in Swift), without the erase-line escape.
        let pieces = output.replacingOccurrences(of: "\u{1B}[2K", with: "")
            .split(whereSeparator: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }).map(String.init)
        XCTAssertTrue(pieces.contains { $0.hasPrefix("epoch 1/2") && $0.contains("ETA") }, output)
        XCTAssertTrue(pieces.contains { $0.hasPrefix("epoch 2/2") && $0.contains("val_acc") }, output)
        XCTAssertTrue(pieces.contains { $0.hasPrefix("done:") || $0.contains("best epoch") }, output)
        for piece in pieces {
            XCTAssertLessThanOrEqual(piece.count, 80, "wider than the terminal: \(piece)")
        }
        // No timestamps on a terminal: they are for logs.
        XCTAssertFalse(pieces.contains { $0.range(of: #"^\d{4}-\d\d-\d\d "#, options: .regularExpression) != nil }, output)
    }

    func testPlainOutputLinesCarryATimestamp() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-plain-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try TinyFashionMNIST.write(in: dir, train: 256, test: 64, pattern: .noise, seed: 12)
        let run = try runCLI(["train", "lenet5", "--data", dir.path, "--epochs", "1", "-b", "32", "--device", "cpu",
                              "--checkpoint", dir.appendingPathComponent("run").path])
        XCTAssertEqual(run.status, 0, run.output)
        let progress = run.output.split(separator: "\n").filter { $0.contains("epoch 1/1") }
        XCTAssertFalse(progress.isEmpty, run.output)
        for line in progress {
            XCTAssertNotNil(line.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d epoch 1/1"#, options: .regularExpression), String(line))
        }
        XCTAssertTrue(run.output.contains("after 1 epoch") && run.output.contains(" in 0:") && run.output.contains("best epoch 1"),
                      run.output)
    }
}
