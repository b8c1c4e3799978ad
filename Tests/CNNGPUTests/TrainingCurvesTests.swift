@testable import CNNGPU
import Foundation
import XCTest

/// The curves picture and the benchmark chart, checked by their structure: panels, series,
/// round ticks, axis labels, the best epoch, log scales (no golden files).
final class TrainingCurvesTests: XCTestCase {
    /// Six epochs of 32 per-step points each, validation accuracy best at epoch 4.
    private func history() -> [EpochMetrics] {
        var g = SplitMix64(seed: 9)
        return (1...6).map { e in
            let losses: [Double] = (0..<32).map { i in
                let trend: Double = 60 / Double(e * 32 + i)
                let noise: Double = Double(g.next() % 1000) / 2000
                return trend + noise
            }
            let rates: [Double] = (0..<32).map { i in
                let t: Double = Double((e - 1) * 32 + i) / 192
                return 0.1 * cos(t * Double.pi / 2)
            }
            return EpochMetrics(epoch: e, trainLoss: losses.reduce(0, +) / 32, trainAccuracy: 0.5 + 0.07 * Double(e),
                                validationLoss: 1.2 - 0.1 * Double(e), validationAccuracy: [0.60, 0.70, 0.78, 0.83, 0.81, 0.82][e - 1],
                                seconds: 10, imagesPerSecond: 500, learningRate: rates.last!, stepLosses: losses,
                                stepLearningRates: rates)
        }
    }

    /// The attribute `name` of every element opening with `tag` and holding `marker`.
    private func attributes(_ svg: String, _ tag: String, _ marker: String, _ name: String) -> [String] {
        svg.components(separatedBy: "<" + tag).dropFirst().filter { $0.components(separatedBy: ">")[0].contains(marker) }.compactMap { element in
            guard let range = element.range(of: name + "=\"") else { return nil }
            return String(element[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    private func texts(_ svg: String, _ marker: String) -> [String] {
        svg.components(separatedBy: "<text").dropFirst().filter { $0.components(separatedBy: ">")[0].contains(marker) }
            .map { String($0.split(separator: ">", maxSplits: 1)[1].prefix { $0 != "<" }) }
    }

    func testCurvesHavePanelsStepsLearningRateTicksLabelsAndBestEpoch() throws {
        let svg = TrainingCurves.svg(history(), title: "lenet5 on CPU")
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        XCTAssertFalse(svg.lowercased().contains("nan") || svg.contains("inf"), "non-finite coordinates")
        XCTAssertEqual(attributes(svg, "g", "panel", "id"), ["loss", "accuracy", "learning-rate"])
        XCTAssertEqual(texts(svg, "axis-label x"), ["epoch", "epoch", "epoch"])
        XCTAssertEqual(texts(svg, "axis-label y"), ["loss", "accuracy (%)", "learning rate"])
        // Per-step loss, raw and smoothed, 6 × 32 points each; the smoothed curve moves less.
        for series in ["train-steps", "train-steps-smoothed", "learning-rate"] {
            XCTAssertEqual(attributes(svg, "polyline", "\"\(series)\"", "points").first?.split(separator: " ").count, 192, series)
        }
        func variation(_ series: String) -> Double {
            let ys = attributes(svg, "polyline", "\"\(series)\"", "points")[0].split(separator: " ")
                .map { Double($0.split(separator: ",")[1])! }
            return zip(ys, ys.dropFirst()).map { abs($0 - $1) }.reduce(0, +)
        }
        XCTAssertLessThan(variation("train-steps-smoothed"), variation("train-steps") / 2)
        // Tick values are round: 1, 2 or 5 × 10^k apart, and multiples of that step.
        for panel in svg.components(separatedBy: "<g class=\"panel\"").dropFirst() {
            let ticks = texts(panel, "tick y").map { Double($0)! }
            XCTAssertGreaterThanOrEqual(ticks.count, 3, panel)
            let steps = Set(zip(ticks, ticks.dropFirst()).map { (($1 - $0) * 1e12).rounded() / 1e12 })
            XCTAssertEqual(steps.count, 1, "evenly spaced: \(ticks)")
            let step = steps.first!
            let mantissa = step / pow(10, log10(step).rounded(.down))
            XCTAssertTrue([1, 2, 5].contains { abs(mantissa - $0) < 1e-6 }, "tick step \(step) in \(ticks)")
            XCTAssertTrue(ticks.allSatisfy { abs($0 / step - ($0 / step).rounded()) < 1e-6 }, "multiples of \(step): \(ticks)")
        }
        XCTAssertEqual(texts(svg, "tick x").filter { !$0.isEmpty }.count % 3, 0)
        XCTAssertTrue(texts(svg, "tick x").allSatisfy { Int($0) != nil }, "epochs are whole numbers")
        // The best epoch (validation accuracy 83%, epoch 4) is named and marked in each panel.
        XCTAssertEqual(texts(svg, "best-epoch-label"), ["best epoch 4: validation accuracy 83.00%"])
        let lines = attributes(svg, "line", "best-epoch", "x1")
        XCTAssertEqual(lines.count, 3)
        let marker = attributes(svg, "circle", "validation best-epoch", "cx")
        XCTAssertEqual(marker.count, 1)
        XCTAssertEqual(lines[1], marker.first)   // the accuracy panel's line passes through the marked point
    }

    func testBestEpochAndSmoothing() {
        var h = history()
        XCTAssertEqual(TrainingCurves.bestEpoch(h), 4)
        for i in h.indices { h[i].validationAccuracy = nil }
        XCTAssertEqual(TrainingCurves.bestEpoch(h), h.min { $0.trainLoss < $1.trainLoss }!.epoch)
        XCTAssertNil(TrainingCurves.bestEpoch([]))
        // Debiased: a constant series stays constant from its first point.
        for (_, y) in TrainingCurves.smoothed([(0, 3), (1, 3), (2, 3)]) { XCTAssertEqual(y, 3, accuracy: 1e-12) }
        let s = TrainingCurves.smoothed([(0, 0), (1, 10)])
        XCTAssertEqual(s[1].1, 10 * 0.4 / (0.6 * 0.4 + 0.4), accuracy: 1e-12)
    }

    func testStepValuesAreAveragedAndOldLogsStillParse() throws {
        let values = (0..<100).map(Double.init)
        let averaged = try XCTUnwrap(EpochMetrics.averaged(values))
        XCTAssertEqual(averaged.count, EpochMetrics.maxStepPoints)
        XCTAssertEqual(averaged.reduce(0, +) / Double(averaged.count), 49.5, accuracy: 0.6)
        XCTAssertEqual(EpochMetrics.averaged([1, 2, 3]), [1, 2, 3])
        XCTAssertNil(EpochMetrics.averaged([]))
        let m = history()[0]
        XCTAssertEqual(EpochMetrics.parse(m.jsonLine()), m)
        let old = #"{"epoch":1,"imagesPerSecond":10,"learningRate":0.1,"seconds":2,"trainAccuracy":0.5,"trainLoss":1}"#
        XCTAssertNil(try XCTUnwrap(EpochMetrics.parse(old)).stepLosses)
        // A one-epoch history still draws (an axis of at least one epoch).
        XCTAssertTrue(TrainingCurves.svg([m], title: "one").contains("best epoch 1"))
    }

    func testAxesFallOnRoundValues() {
        let axis = ChartAxis(lo: 0.0123, hi: 0.987, integer: false)
        XCTAssertEqual(axis.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(axis.ticks.map(axis.label), ["0", "0.2", "0.4", "0.6", "0.8", "1"])
        let small = ChartAxis(lo: 1.2e-5, hi: 9.1e-5, integer: false)
        XCTAssertEqual(small.ticks.map(small.label), ["0", "2e-05", "4e-05", "6e-05", "8e-05", "0.0001"])
        let log = LogChartAxis(lo: 0.9867, hi: 44_485)
        XCTAssertEqual(log.ticks.map(log.label), ["0.1", "1", "10", "100", "1000", "10000", "100000"])
        XCTAssertEqual(log.position(100), 0.5, accuracy: 1e-12)
    }

    func testBenchmarkChartUsesLogScalesAndShowsMemoryBoundOps() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/results/full.json")
        let results = try BenchmarkResults.decode(Data(contentsOf: url))
        let svg = BenchmarkChart.svg(results)
        let sections = texts(svg, "class=\"section\"")
        // Models run from about 1 to 44,000 images/s: a log scale; every section has one unit.
        XCTAssertTrue(sections.contains("Models: images/s (log scale)"), "\(sections)")
        XCTAssertTrue(sections.contains { $0.hasPrefix("Memory-bound ops: GB/s") }, "\(sections)")
        XCTAssertTrue(sections.contains { $0.hasPrefix("Compute-bound ops: GFLOP/s") }, "\(sections)")
        // One bar per result: every op (both bounds) and model of every device.
        let expected = results.devices.reduce(0) { $0 + $1.ops.filter { $0.rate > 0 }.count + $1.models.filter { $0.imagesPerSecond > 0 }.count }
        XCTAssertEqual(attributes(svg, "rect", "class=\"bar\"", "width").count, expected)
        XCTAssertTrue(attributes(svg, "rect", "class=\"bar\"", "width").allSatisfy { Double($0)! >= 1 && Double($0)! <= 480 })
        // Log-scale ticks are powers of ten.
        let ticks = texts(svg, "class=\"tick\"").compactMap(Double.init)
        XCTAssertTrue(ticks.contains(1) && ticks.contains(10) && ticks.contains(1000), "\(ticks)")
        XCTAssertTrue(svg.contains("pool") || svg.contains("batchnorm") || svg.contains("relu"), "memory-bound op labels")
    }
}
