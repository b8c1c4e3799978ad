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

/// Draws training and validation loss and accuracy per epoch as an SVG picture (two panels).
public enum TrainingCurves {
    public static func svg(_ history: [EpochMetrics], title: String) -> String {
        let panelW = 420.0, panelH = 260.0, margin = 48.0
        let width = 2 * panelW + 3 * margin, height = panelH + 2 * margin + 30
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        let epochs = history.map { Double($0.epoch) }
        let panels: [(String, [Double], [Double], Bool)] = [
            ("loss", history.map(\.trainLoss), history.map { $0.validationLoss ?? .nan }, false),
            ("accuracy (%)", history.map { $0.trainAccuracy * 100 }, history.map { ($0.validationAccuracy ?? .nan) * 100 }, true),
        ]
        for (p, (label, train, val, isAccuracy)) in panels.enumerated() {
            let x0 = margin + Double(p) * (panelW + margin), y0 = margin + 10
            let all = (train + val).filter(\.isFinite)
            var lo = all.min() ?? 0, hi = all.max() ?? 1
            if isAccuracy { hi = min(100, hi + 2); lo = max(0, lo - 2) }
            if hi - lo < 1e-9 { hi = lo + 1 }
            let eMin = epochs.first ?? 1, eMax = max(epochs.last ?? 1, eMin + 1)
            func px(_ e: Double) -> Double { x0 + (e - eMin) / (eMax - eMin) * panelW }
            func py(_ v: Double) -> Double { y0 + panelH - (v - lo) / (hi - lo) * panelH }
            out += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"none\" stroke=\"#888\"/>\n"
            for k in 0...4 {
                let v = lo + (hi - lo) * Double(k) / 4
                out += "<line x1=\"\(x0)\" x2=\"\(x0 + panelW)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
                out += "<text x=\"\(x0 - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
            }
            for e in history.map(\.epoch) {
                out += "<text x=\"\(px(Double(e)))\" y=\"\(y0 + panelH + 16)\" text-anchor=\"middle\">\(e)</text>"
            }
            out += "<text x=\"\(x0 + panelW / 2)\" y=\"\(y0 + panelH + 34)\" text-anchor=\"middle\">epoch — \(label)</text>\n"
            for (series, color, name) in [(train, "#1f77b4", "train"), (val, "#d62728", "validation")] {
                let points = zip(epochs, series).filter { $0.1.isFinite }.map { "\(px($0.0)),\(py($0.1))" }
                out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
                for pt in points { out += "<circle cx=\"\(pt.split(separator: ",")[0])\" cy=\"\(pt.split(separator: ",")[1])\" r=\"3\" fill=\"\(color)\"/>" }
                let ly = y0 + 14 + (name == "train" ? 0 : 16)
                out += "<text x=\"\(x0 + panelW - 8)\" y=\"\(ly)\" text-anchor=\"end\" fill=\"\(color)\">\(name)</text>\n"
            }
        }
        return out + "</svg>\n"
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
