@testable import CNNGPU
import XCTest

/// The progress line at several terminal widths: it never exceeds the width, drops fields in
/// order (bar, images/s, accuracy, step count), then shortens, and keeps loss and ETA.
final class ProgressLineTests: XCTestCase {
    private let status = ProgressReporter.Status(epoch: 12, epochs: 90, done: 3120, total: 5004, loss: 2.345678,
                                                 accuracy: 0.4567, imagesPerSecond: 12_345, elapsed: 3600)

    func testLineFitsEveryWidth() {
        for width in [200, 120, 100, 88, 80, 79, 72, 60, 50, 40, 30, 24, 20] {
            let line = ProgressReporter.liveLine(status, width: width)
            XCTAssertLessThanOrEqual(line.count, width, "\(width): \(line)")
            XCTAssertFalse(line.contains("\n") || line.contains("\r"), line)
        }
    }

    func testWideLineHasEveryFieldAndABar() {
        let line = ProgressReporter.liveLine(status, width: 120)
        for field in ["epoch 12/90", "[", "]", "3120/5004", "loss 2.3457", "acc  45.7%", "12,345 img/s", "ETA 36:14"] {
            XCTAssertTrue(line.contains(field), "\(field) missing: \(line)")
        }
        // 62% done: the bar is filled to about that share.
        let bar = line[line.firstIndex(of: "[")!...line.firstIndex(of: "]")!]
        let filled = Double(bar.filter { $0 == "=" }.count) / Double(bar.count - 2)
        XCTAssertEqual(filled, 0.62, accuracy: 0.08, line)
    }

    func testFieldsDropInOrderAsTheTerminalNarrows() {
        // 80 columns (79 usable): no room for the bar; everything else fits.
        let at80 = ProgressReporter.liveLine(status, width: 79)
        XCTAssertFalse(at80.contains("["), at80)
        XCTAssertTrue(at80.contains("img/s") && at80.contains("acc") && at80.contains("ETA"), at80)
        // Narrower: images/s goes first, then accuracy, then the step count.
        let at60 = ProgressReporter.liveLine(status, width: 60)
        XCTAssertFalse(at60.contains("img/s"), at60)
        XCTAssertTrue(at60.contains("acc") && at60.contains("loss") && at60.contains("ETA"), at60)
        let at40 = ProgressReporter.liveLine(status, width: 40)
        XCTAssertFalse(at40.contains("acc"), at40)
        XCTAssertTrue(at40.contains("epoch 12/90") && at40.contains("loss 2.3457") && at40.contains("ETA 36:14"), at40)
        // Very narrow: the short forms.
        let at24 = ProgressReporter.liveLine(status, width: 24)
        XCTAssertTrue(at24.contains("12/90") && at24.contains("l 2.346") && at24.contains("36:14"), at24)
    }

    func testEpochLineFitsTheTerminalAndPlainLinesCarryATimestamp() {
        let metrics = EpochMetrics(epoch: 3, trainLoss: 0.412345, trainAccuracy: 0.8512, validationLoss: 0.45678,
                                   validationAccuracy: 0.8345, seconds: 123.4, imagesPerSecond: 4321, learningRate: 0.01)
        for columns in [200, 80, 60, 40] {
            var text = ""
            let reporter = ProgressReporter(isTerminal: true, columns: { columns }, output: { text += $0 })
            reporter.update(status, force: true)
            reporter.finishEpoch(metrics, of: 10)
            reporter.message("note: " + String(repeating: "word ", count: 40))
            for line in text.split(whereSeparator: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) {
                let visible = line.replacingOccurrences(of: "\u{1B}[2K", with: "")
                XCTAssertLessThan(visible.count, columns, "\(columns) columns: \(visible)")
            }
            XCTAssertTrue(text.contains("epoch 3/10") && text.contains("va") , text)
        }
        var plain = ""
        let reporter = ProgressReporter(isTerminal: false, output: { plain += $0 })
        reporter.update(status, force: true)
        reporter.finishEpoch(metrics, of: 10)
        let lines = plain.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, plain)
        for line in lines {
            XCTAssertNotNil(line.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d epoch "#, options: .regularExpression), String(line))
        }
        // A file keeps the whole epoch line, every field.
        XCTAssertTrue(lines[1].contains("val_acc 83.45%") && lines[1].contains("4,321 img/s"), String(lines[1]))
    }

    /// Work in progress before training (tuning) redraws one line on a terminal, cut to its
    /// width, and prints nothing into a log.
    func testTransientLineRedrawsOnATerminalOnly() {
        var text = ""
        let reporter = ProgressReporter(isTerminal: true, columns: { 20 }, output: { text += $0 })
        reporter.transient("tuning    layer4.1.conv2 backwardFilter")
        XCTAssertEqual(text, "\r\u{1B}[2K" + String("tuning    layer4.1.conv2 backwardFilter".prefix(20)))
        XCTAssertFalse(text.contains("\n"))
        var plain = ""
        ProgressReporter(isTerminal: false, output: { plain += $0 }).transient("tuning    conv1 forward")
        XCTAssertEqual(plain, "")
    }

    func testRunSummaryNamesTimeAndBestEpoch() {
        func epoch(_ n: Int, _ accuracy: Double?) -> EpochMetrics {
            EpochMetrics(epoch: n, trainLoss: 1 / Double(n), trainAccuracy: 0.5, validationLoss: accuracy.map { 1 - $0 },
                         validationAccuracy: accuracy, seconds: 10, imagesPerSecond: 100, learningRate: 0.1)
        }
        XCTAssertEqual(ProgressReporter.runSummary([epoch(1, 0.7), epoch(2, 0.9), epoch(3, 0.8)], seconds: 83),
                       "in 1:23; best epoch 2 (validation accuracy 90.00%)")
        XCTAssertEqual(ProgressReporter.runSummary([epoch(1, nil), epoch(2, nil)], seconds: 3725),
                       "in 1:02:05; best epoch 2 (training loss 0.5000)")
    }

    func testWrappingKeepsWordsAndIndents() {
        let line = "memory    0.3 MiB planned for one step: activations and gradients 0.2 MiB (0.4 MiB without buffer sharing)"
        let wrapped = TerminalText.wrap(line, width: 40)
        let lines = wrapped.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 2)
        XCTAssertTrue(lines.allSatisfy { $0.count <= 40 }, wrapped)
        XCTAssertTrue(lines.dropFirst().allSatisfy { $0.hasPrefix("          ") && !$0.hasPrefix("           ") }, wrapped)
        XCTAssertEqual(wrapped.split(whereSeparator: \.isWhitespace), line.split(whereSeparator: \.isWhitespace))
        let path = "output    /" + String(repeating: "x", count: 100)
        XCTAssertTrue(TerminalText.wrap(path, width: 40).split(separator: "\n").allSatisfy { $0.count <= 40 })
    }
}
