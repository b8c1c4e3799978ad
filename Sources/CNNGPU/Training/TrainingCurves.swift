import Foundation

/// One epoch's results, as written to the metrics log (one JSON object per line).
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    /// nil when the run has no validation data.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var seconds: Double
    public var imagesPerSecond: Double
    public var learningRate: Double
    /// The training loss of the epoch's steps, in order, averaged over equal runs of steps down
    /// to at most `maxStepPoints` values (TensorBoard's per-step curve); nil in older logs.
    public var stepLosses: [Double]? = nil
    /// The learning rate at the same points as `stepLosses` (warm-up and decay within an epoch).
    public var stepLearningRates: [Double]? = nil

    /// Points per epoch kept of the per-step values: a smooth curve, a short log line.
    public static let maxStepPoints = 32

    /// `values` averaged over consecutive equal runs down to at most `maxStepPoints`; nil when empty.
    static func averaged(_ values: [Double]) -> [Double]? {
        guard !values.isEmpty else { return nil }
        let points = min(values.count, maxStepPoints)
        return (0..<points).map { k in
            let run = values[k * values.count / points..<(k + 1) * values.count / points]
            return run.reduce(0, +) / Double(run.count)
        }
    }

    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public static func parse(_ line: String) -> EpochMetrics? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try? decoder.decode(EpochMetrics.self, from: Data(line.utf8))
    }
}

/// Draws a run's curves as an SVG picture, the way TensorBoard users read them: three panels
/// (loss, accuracy, learning rate) over epochs; the per-step training loss faint with its
/// smoothed curve on top, the per-epoch training and validation points, round tick values,
/// axis labels, and the best epoch (highest validation accuracy, else lowest training loss)
/// marked in every panel. Elements carry classes (`panel`, `tick`, `axis-label`, `best-epoch`,
/// series names) so that tools and tests can find them.
public enum TrainingCurves {
    /// TensorBoard's default smoothing weight of its exponential moving average.
    public static let smoothing = 0.6

    static let panelW = 300.0, panelH = 220.0, left = 70.0, gap = 84.0, top = 64.0

    public static func svg(_ history: [EpochMetrics], title: String) -> String {
        let width = left + 3 * panelW + 2 * gap + 24, height = top + panelH + 64
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        let best = bestEpoch(history)
        if let best {
            let m = history.first { $0.epoch == best }!
            let what = m.validationAccuracy.map { String(format: "validation accuracy %.2f%%", $0 * 100) }
                ?? String(format: "training loss %.4f", m.trainLoss)
            out += "<text class=\"best-epoch-label\" x=\"\(width / 2)\" y=\"42\" text-anchor=\"middle\" fill=\"#2ca02c\">"
                + "best epoch \(best): \(what)</text>\n"
        }
        let firstEpoch = Double((history.first?.epoch ?? 1) - 1), lastEpoch = Double(history.last?.epoch ?? 1)
        let xAxis = ChartAxis(lo: firstEpoch, hi: max(lastEpoch, firstEpoch + 1), integer: true)
        let steps = stepSeries(history)
        let panels: [Panel] = [
            Panel(id: "loss", label: "loss", series: [
                Series(name: "train-steps", legend: nil, color: "#1f77b4", points: steps.loss, opacity: 0.3, dots: false),
                Series(name: "train-steps-smoothed", legend: "train (per step, smoothed)", color: "#1f77b4",
                       points: smoothed(steps.loss), opacity: 1, dots: false),
                Series(name: "train-epochs", legend: "train (epoch)", color: "#1f77b4",
                       points: history.map { (Double($0.epoch), $0.trainLoss) }, opacity: 0, dots: true),
                Series(name: "validation", legend: "validation", color: "#d62728",
                       points: history.map { (Double($0.epoch), $0.validationLoss ?? .nan) }, opacity: 1, dots: true),
            ]),
            Panel(id: "accuracy", label: "accuracy (%)", series: [
                Series(name: "train-epochs", legend: "train", color: "#1f77b4",
                       points: history.map { (Double($0.epoch), $0.trainAccuracy * 100) }, opacity: 1, dots: true),
                Series(name: "validation", legend: "validation", color: "#d62728",
                       points: history.map { (Double($0.epoch), ($0.validationAccuracy ?? .nan) * 100) }, opacity: 1, dots: true),
            ]),
            Panel(id: "learning-rate", label: "learning rate", series: [
                Series(name: "learning-rate", legend: nil, color: "#2ca02c",
                       points: steps.rate.isEmpty ? history.map { (Double($0.epoch), $0.learningRate) } : steps.rate,
                       opacity: 1, dots: false),
            ]),
        ]
        for (index, panel) in panels.enumerated() {
            out += draw(panel, x0: left + Double(index) * (panelW + gap), xAxis: xAxis, best: best, history: history)
        }
        return out + "</svg>\n"
    }

    /// The epoch with the highest validation accuracy (the first on ties), else the lowest
    /// training loss; nil for an empty history.
    public static func bestEpoch(_ history: [EpochMetrics]) -> Int? {
        let validated = history.filter { $0.validationAccuracy?.isFinite ?? false }
        if !validated.isEmpty {
            return validated.max { a, b in a.validationAccuracy! < b.validationAccuracy! || (a.validationAccuracy! == b.validationAccuracy! && a.epoch > b.epoch) }?.epoch
        }
        return history.filter(\.trainLoss.isFinite).min { $0.trainLoss < $1.trainLoss }?.epoch
    }

    /// TensorBoard's smoothing: an exponential moving average, debiased so the first points
    /// are not pulled toward zero.
    static func smoothed(_ points: [(Double, Double)]) -> [(Double, Double)] {
        var average = 0.0, weight = 0.0
        return points.map { x, y in
            guard y.isFinite else { return (x, y) }
            average = smoothing * average + (1 - smoothing) * y
            weight = smoothing * weight + (1 - smoothing)
            return (x, average / weight)
        }
    }

    /// Per-step points placed inside their epoch: point i of n sits at epoch - 1 + (i + ½)/n.
    private static func stepSeries(_ history: [EpochMetrics]) -> (loss: [(Double, Double)], rate: [(Double, Double)]) {
        var loss: [(Double, Double)] = [], rate: [(Double, Double)] = []
        for m in history {
            func place(_ values: [Double]?) -> [(Double, Double)] {
                guard let values, !values.isEmpty else { return [] }
                return values.enumerated().map { (Double(m.epoch - 1) + (Double($0.offset) + 0.5) / Double(values.count), $0.element) }
            }
            loss += place(m.stepLosses)
            rate += place(m.stepLearningRates)
        }
        return (loss, rate)
    }

    struct Series {
        var name: String, legend: String?, color: String
        var points: [(Double, Double)]
        /// Of the connecting line (0: dots only).
        var opacity: Double
        var dots: Bool
    }

    struct Panel {
        var id: String, label: String
        var series: [Series]
    }

    private static func draw(_ panel: Panel, x0: Double, xAxis: ChartAxis, best: Int?, history: [EpochMetrics]) -> String {
        // As TensorBoard's "ignore outliers in chart scaling": the first steps' loss (often 5×
        // the rest) must not flatten the curve, so per-step values count up to their 98th
        // percentile, per-epoch points fully; what lies outside is clipped at the frame.
        let perStep = panel.series.filter { !$0.dots }.flatMap { $0.points.map(\.1) }.filter(\.isFinite).sorted()
        let perEpoch = panel.series.filter(\.dots).flatMap { $0.points.map(\.1) }.filter(\.isFinite)
        let values = perEpoch + (perStep.count >= 50 ? Array(perStep.prefix(Int(Double(perStep.count) * 0.98))) : perStep)
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if panel.id == "accuracy" { lo = max(0, lo - 1); hi = min(100, hi + 1) }
        if panel.id == "learning-rate" { lo = min(lo, 0) }
        let yAxis = ChartAxis(lo: lo, hi: hi, integer: false)
        func px(_ x: Double) -> Double { x0 + (x - xAxis.lo) / (xAxis.hi - xAxis.lo) * panelW }
        func py(_ y: Double) -> Double { top + panelH - (y - yAxis.lo) / (yAxis.hi - yAxis.lo) * panelH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = "<g class=\"panel\" id=\"\(panel.id)\">\n"
        out += "<clipPath id=\"frame-\(panel.id)\"><rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(panelW)\" height=\"\(panelH)\"/></clipPath>\n"
        out += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"none\" stroke=\"#888\"/>\n"
        for v in yAxis.ticks {
            out += "<line x1=\"\(f(x0))\" x2=\"\(f(x0 + panelW))\" y1=\"\(f(py(v)))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
            out += "<text class=\"tick y\" x=\"\(f(x0 - 5))\" y=\"\(f(py(v) + 4))\" text-anchor=\"end\">\(yAxis.label(v))</text>\n"
        }
        for v in xAxis.ticks {
            out += "<line x1=\"\(f(px(v)))\" x2=\"\(f(px(v)))\" y1=\"\(f(top + panelH))\" y2=\"\(f(top + panelH + 4))\" stroke=\"#888\"/>"
            out += "<text class=\"tick x\" x=\"\(f(px(v)))\" y=\"\(f(top + panelH + 17))\" text-anchor=\"middle\">\(xAxis.label(v))</text>\n"
        }
        out += "<text class=\"axis-label x\" x=\"\(f(x0 + panelW / 2))\" y=\"\(f(top + panelH + 36))\" text-anchor=\"middle\">epoch</text>\n"
        let ly = top + panelH / 2, lx = x0 - 52
        out += "<text class=\"axis-label y\" x=\"\(f(lx))\" y=\"\(f(ly))\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 \(f(lx)) \(f(ly)))\">\(panel.label)</text>\n"
        if let best {
            out += "<line class=\"best-epoch\" x1=\"\(f(px(Double(best))))\" x2=\"\(f(px(Double(best))))\" y1=\"\(f(top))\" "
                + "y2=\"\(f(top + panelH))\" stroke=\"#2ca02c\" stroke-dasharray=\"4 3\"/>\n"
        }
        var legendRow = 0
        for series in panel.series {
            let points = series.points.filter { $0.1.isFinite }.map { "\(f(px($0.0))),\(f(py($0.1)))" }
            guard !points.isEmpty else { continue }
            if series.opacity > 0 {
                out += "<polyline class=\"\(series.name)\" clip-path=\"url(#frame-\(panel.id))\" fill=\"none\" stroke=\"\(series.color)\" stroke-opacity=\"\(series.opacity)\" "
                    + "stroke-width=\"\(series.dots ? 2 : 1.5)\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            if series.dots {
                for (x, y) in series.points where y.isFinite {
                    let isBest = best == Int(x) && (panel.id == "accuracy" ? series.name == "validation" : false)
                    out += "<circle class=\"\(series.name)\(isBest ? " best-epoch" : "")\" cx=\"\(f(px(x)))\" cy=\"\(f(py(y)))\" "
                        + "r=\"\(isBest ? 5 : 3)\" fill=\"\(series.color)\"\(isBest ? " stroke=\"#2ca02c\" stroke-width=\"2\"" : "")/>"
                }
                out += "\n"
            }
            if let legend = series.legend {
                // Accuracy rises toward the top right: its legend sits at the bottom.
                let legendY = panel.id == "accuracy" ? top + panelH - 10 - 15 * Double(panel.series.count - 1 - legendRow)
                    : top + 16 + 15 * Double(legendRow)
                out += "<text class=\"legend\" x=\"\(f(x0 + panelW - 8))\" y=\"\(f(legendY))\" "
                    + "text-anchor=\"end\" fill=\"\(series.color)\">\(legend)</text>\n"
                legendRow += 1
            }
        }
        return out + "</g>\n"
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
