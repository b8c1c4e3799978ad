import Foundation

/// Shows training progress: a live bar on a terminal (loss, accuracy, images/s, ETA), plain
/// lines otherwise (logs, CI), at most ten per epoch.
public final class ProgressReporter {
    public let isTerminal: Bool
    private let output: (String) -> Void
    private var lastDraw = Date.distantPast
    private var lastPlainDecile = -1

    public init(isTerminal: Bool = isatty(STDOUT_FILENO) != 0, output: @escaping (String) -> Void = { text in
        FileHandle.standardOutput.write(Data(text.utf8))
    }) {
        self.isTerminal = isTerminal
        self.output = output
    }

    public struct Status {
        public var epoch: Int, epochs: Int
        public var done: Int, total: Int
        public var loss: Double, accuracy: Double
        public var imagesPerSecond: Double
        public var elapsed: TimeInterval
    }

    public func update(_ s: Status, force: Bool = false) {
        let fraction = s.total > 0 ? Double(s.done) / Double(s.total) : 1
        let eta = fraction > 0 ? s.elapsed * (1 - fraction) / fraction : 0
        let numbers = String(format: "loss %.4f  acc %5.1f%%  %@ img/s  ETA %@",
                             s.loss, s.accuracy * 100, grouped(Int(s.imagesPerSecond)) as NSString,
                             clock(eta) as NSString)
        if isTerminal {
            guard force || Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = Date()
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "")
                + String(repeating: " ", count: max(0, width - filled - 1))
            output("\r\u{1B}[2Kepoch \(s.epoch)/\(s.epochs) [\(bar)] \(s.done)/\(s.total)  \(numbers)")
        } else {
            let decile = Int(fraction * 10)
            guard force || decile > lastPlainDecile else { return }
            lastPlainDecile = decile
            output("epoch \(s.epoch)/\(s.epochs) step \(s.done)/\(s.total)  \(numbers)\n")
        }
    }

    /// Ends the epoch's bar and prints the epoch summary line.
    public func finishEpoch(_ line: String) {
        if isTerminal { output("\r\u{1B}[2K") }
        lastPlainDecile = -1
        output(line + "\n")
    }

    public func message(_ line: String) {
        if isTerminal { output("\r\u{1B}[2K") }
        output(line + "\n")
    }
}

/// 75.4 → "1:15"; hours when needed.
func clock(_ seconds: TimeInterval) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
