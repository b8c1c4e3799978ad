import Foundation

/// Shows training progress: a live bar on a terminal (loss, accuracy, images/s, ETA) that fits
/// the terminal's width, plain timestamped lines otherwise (logs, CI), at most ten per epoch.
public final class ProgressReporter {
    public let isTerminal: Bool
    private let output: (String) -> Void
    /// Columns available, asked at every draw so a resized window is followed.
    private let columns: () -> Int
    private var lastDraw = Date.distantPast
    private var lastPlainDecile = -1

    public init(isTerminal: Bool = isatty(STDOUT_FILENO) != 0, columns: @escaping () -> Int = terminalColumns,
                output: @escaping (String) -> Void = { text in FileHandle.standardOutput.write(Data(text.utf8)) }) {
        self.isTerminal = isTerminal
        self.columns = columns
        self.output = output
    }

    public struct Status {
        public var epoch: Int, epochs: Int
        public var done: Int, total: Int
        public var loss: Double, accuracy: Double
        public var imagesPerSecond: Double
        public var elapsed: TimeInterval

        public init(epoch: Int, epochs: Int, done: Int, total: Int, loss: Double, accuracy: Double,
                    imagesPerSecond: Double, elapsed: TimeInterval) {
            self.epoch = epoch; self.epochs = epochs; self.done = done; self.total = total
            self.loss = loss; self.accuracy = accuracy; self.imagesPerSecond = imagesPerSecond; self.elapsed = elapsed
        }
    }

    public func update(_ s: Status, force: Bool = false) {
        if isTerminal {
            guard force || Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = Date()
            output("\r\u{1B}[2K" + Self.liveLine(s, width: usableWidth))
        } else {
            let decile = Int(Self.fraction(s) * 10)
            guard force || decile > lastPlainDecile else { return }
            lastPlainDecile = decile
            let numbers = String(format: "loss %.4f  acc %.1f%%  %@ img/s  ETA %@", s.loss, s.accuracy * 100,
                                 grouped(Int(s.imagesPerSecond)) as NSString, clock(Self.eta(s)) as NSString)
            output("\(Self.timestamp()) epoch \(s.epoch)/\(s.epochs) step \(s.done)/\(s.total)  \(numbers)\n")
        }
    }

    /// Ends the epoch's bar and prints the epoch summary line (fitted to a terminal's width).
    public func finishEpoch(_ m: EpochMetrics, of epochs: Int) {
        var fields = [
            LineField("epoch \(m.epoch)/\(epochs)", priority: 0),
            LineField(String(format: "loss %.4f", m.trainLoss), short: String(format: "loss %.3f", m.trainLoss), priority: 0),
            LineField(String(format: "acc %.2f%%", m.trainAccuracy * 100), short: String(format: "acc %.1f%%", m.trainAccuracy * 100),
                      priority: 3),
        ]
        if let loss = m.validationLoss, let accuracy = m.validationAccuracy {
            fields.append(LineField(String(format: "val_loss %.4f", loss), short: String(format: "vl %.3f", loss), priority: 2))
            fields.append(LineField(String(format: "val_acc %.2f%%", accuracy * 100),
                                    short: String(format: "va %.1f%%", accuracy * 100), priority: 1))
        }
        fields.append(LineField(String(format: "%.1f s", m.seconds), priority: 4))
        fields.append(LineField("\(grouped(Int(m.imagesPerSecond))) img/s", priority: 5))
        finishEpoch(isTerminal ? Self.fit(fields, width: usableWidth) : fields.map(\.full).joined(separator: "  "))
    }

    /// Ends the epoch's bar and prints `line`.
    public func finishEpoch(_ line: String) {
        if isTerminal { output("\r\u{1B}[2K") }
        lastPlainDecile = -1
        output((isTerminal ? "" : Self.timestamp() + " ") + line + "\n")
    }

    /// A line of work in progress on a terminal (the next draw replaces it); nothing elsewhere,
    /// where the line that reports the work's end is enough.
    public func transient(_ line: String) {
        guard isTerminal else { return }
        output("\r\u{1B}[2K" + String(line.prefix(usableWidth)))
    }

    public func message(_ line: String) {
        if isTerminal { output("\r\u{1B}[2K") }
        output((isTerminal ? TerminalText.wrap(line, width: usableWidth) : line) + "\n")
    }

    /// "in 1:23; best epoch 4 (validation accuracy 89.12%)": how long a run took and its best
    /// epoch (`TrainingCurves.bestEpoch`), for the line that ends it.
    /// `accuracy` names the held-out data: "validation", or "test" for a dataset's test split.
    public static func runSummary(_ history: [EpochMetrics], seconds: TimeInterval, accuracy: String = "validation") -> String {
        var text = "in \(clock(seconds))"
        if let best = TrainingCurves.bestEpoch(history), let m = history.first(where: { $0.epoch == best }) {
            text += "; best epoch \(best) "
                + (m.validationAccuracy.map { String(format: "(%@ accuracy %.2f%%)", accuracy, $0 * 100) }
                    ?? String(format: "(training loss %.4f)", m.trainLoss))
        }
        return text
    }

    /// One column short of the terminal: writing into the last column leaves some terminals
    /// waiting to wrap, and the next "\r" then clears the wrong line.
    private var usableWidth: Int { max(columns() - 1, 20) }

    // MARK: Layout

    /// The live line for a terminal `width` columns wide: every field with a bar that takes
    /// the room left (10 to 30 columns); when that does not fit, the bar goes, then images/s,
    /// accuracy and the step count, then the labels shorten; never more than `width` characters.
    public static func liveLine(_ s: Status, width: Int) -> String {
        let fraction = fraction(s)
        let fields = [
            LineField("epoch \(s.epoch)/\(s.epochs)", short: "\(s.epoch)/\(s.epochs)", priority: 0),
            // Padded to the total's width, so the bar keeps its length as the count grows.
            LineField(String(repeating: " ", count: max(0, String(s.total).count - String(s.done).count)) + "\(s.done)/\(s.total)", short: String(format: "%.0f%%", fraction * 100), priority: 1),
            LineField(String(format: "loss %.4f", s.loss), short: String(format: "l %.3f", s.loss), priority: 0),
            LineField(String(format: "acc %5.1f%%", s.accuracy * 100), short: String(format: "a %.0f%%", s.accuracy * 100),
                      priority: 2),
            LineField("\(grouped(Int(s.imagesPerSecond))) img/s", priority: 3),
            LineField("ETA \(clock(eta(s)))", short: clock(eta(s)), priority: 0),
        ]
        let text = fields.map(\.full).joined(separator: "  ")
        // The bar sits after the epoch, "epoch 1/5 [====>    ] 312/937  loss …".
        let room = width - text.count - 3
        if room >= 10 {
            let barWidth = min(30, room)
            let filled = min(barWidth, Int(fraction * Double(barWidth)))
            let bar = String(repeating: "=", count: filled) + (filled < barWidth ? ">" : "")
                + String(repeating: " ", count: max(0, barWidth - filled - 1))
            return fields[0].full + " [\(bar)] " + fields.dropFirst().map(\.full).joined(separator: "  ")
        }
        return fit(fields, width: width)
    }

    /// Drops fields by `priority` (highest number first) until the line fits, then shortens
    /// every field, then cuts: the result is at most `width` characters.
    static func fit(_ fields: [LineField], width: Int) -> String {
        var kept = fields
        func joined(_ short: Bool) -> String { kept.map { short ? $0.short : $0.full }.joined(separator: "  ") }
        while joined(false).count > width, let drop = kept.filter({ $0.priority > 0 }).map(\.priority).max() {
            kept.removeAll { $0.priority == drop }
        }
        if joined(false).count <= width { return joined(false) }
        let short = kept.map(\.short).joined(separator: " ")
        return short.count <= width ? short : String(short.prefix(width))
    }

    static func fraction(_ s: Status) -> Double { s.total > 0 ? min(1, Double(s.done) / Double(s.total)) : 1 }

    static func eta(_ s: Status) -> TimeInterval {
        let f = fraction(s)
        return f > 0 ? s.elapsed * (1 - f) / f : 0
    }

    /// "2026-11-29 18:50:01" (local time), at the start of every line a log keeps.
    static func timestamp(_ date: Date = Date()) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}

/// One piece of a progress line: its full and short text, and how early it is dropped when the
/// line is too wide (0: never; higher numbers go first).
struct LineField {
    var full: String
    var short: String
    var priority: Int

    init(_ full: String, short: String? = nil, priority: Int) {
        self.full = full; self.short = short ?? full; self.priority = priority
    }
}

/// The width of the terminal on standard output (TIOCGWINSZ), else $COLUMNS, else 80.
public func terminalColumns() -> Int {
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    if let text = ProcessInfo.processInfo.environment["COLUMNS"], let n = Int(text), n > 0 { return n }
    return 80
}

/// 75.4 → "1:15"; hours when needed.
func clock(_ seconds: TimeInterval) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
