import Foundation

/// An SVG bar chart comparing devices: achieved GFLOP/s of every compute-bound op, GB/s of every
/// memory-bound op (pooling, batch norm, activations, optimizer updates), then images/s of every
/// model configuration, one bar per device. Each section has its own axis: logarithmic when its
/// values span more than `logScaleSpan` (a 2 images/s VGG beside a 4,000 images/s LeNet), else
/// linear, with round tick values either way.
public enum BenchmarkChart {
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"]
    /// Largest over smallest value above which a section is drawn on a log scale.
    public static let logScaleSpan = 30.0

    struct Section {
        var title: String, unit: String
        var rows: [(label: String, values: [Double?])]
    }

    public static func svg(_ r: BenchmarkResults) -> String {
        let devices = r.devices
        // Rows are matched across devices by their label, so a benchmark one device skipped leaves a gap.
        var sections: [Section] = []
        for (bound, title, unit) in [(OpResult.Bound.compute, "Compute-bound ops", "GFLOP/s"),
                                     (.memory, "Memory-bound ops", "GB/s")] {
            let keys = orderedKeys(devices.flatMap { $0.ops.filter { $0.bound == bound }.map(opLabel) })
            guard !keys.isEmpty else { continue }
            sections.append(Section(title: title, unit: unit, rows: keys.map { key in
                (key, devices.map { d in d.ops.first { $0.bound == bound && opLabel($0) == key }?.rate })
            }))
        }
        let modelKeys = orderedKeys(devices.flatMap { $0.models.map(modelLabel) })
        if !modelKeys.isEmpty {
            sections.append(Section(title: "Models", unit: "images/s", rows: modelKeys.map { key in
                (key, devices.map { d in d.models.first { modelLabel($0) == key }?.imagesPerSecond })
            }))
        }

        let labelWidth = 330.0, barWidth = 480.0, width = labelWidth + barWidth + 90
        let bar = 9.0, rowGap = 6.0
        let rowHeight = Double(devices.count) * bar + rowGap
        var y = 30.0 + 18 * Double(devices.count)
        var body = ""
        for (i, d) in devices.enumerated() {
            let ly = 22.0 + 18 * Double(i)
            body += "<rect x=\"10\" y=\"\(ly - 10)\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>"
                + "<text x=\"28\" y=\"\(ly)\">\(escape("\(d.id): \(d.name) (\(d.backend))"))</text>\n"
        }
        for section in sections {
            let values = section.rows.flatMap { $0.values.compactMap { $0 } }.filter { $0 > 0 && $0.isFinite }
            let lo = values.min() ?? 1, hi = values.max() ?? 1
            let logScale = hi / lo > logScaleSpan
            // position(v) in 0...1 along the bar, and the round values to mark.
            let position: (Double) -> Double, ticks: [(Double, String)]
            if logScale {
                let axis = LogChartAxis(lo: lo, hi: hi)
                position = axis.position
                ticks = axis.ticks.map { ($0, axis.label($0)) }
            } else {
                let axis = ChartAxis(lo: 0, hi: hi, integer: false)
                position = { $0 / axis.hi }
                ticks = axis.ticks.map { ($0, axis.label($0)) }
            }
            y += 24
            let scale = logScale ? "log scale" : "linear scale"
            body += "<text class=\"section\" x=\"10\" y=\"\(y)\" font-weight=\"bold\">"
                + "\(escape("\(section.title): \(section.unit) (\(scale))"))</text>\n"
            y += 16
            let sectionTop = y
            y += 4
            for row in section.rows {
                body += "<text x=\"\(labelWidth - 6)\" y=\"\(fmt(y + rowHeight / 2 + 1))\" text-anchor=\"end\">\(escape(row.label))</text>\n"
                for (i, value) in row.values.enumerated() {
                    guard let value, value > 0, value.isFinite else { continue }
                    let w = max(1, barWidth * min(1, max(0, position(value)))), by = y + Double(i) * bar
                    body += "<rect class=\"bar\" x=\"\(labelWidth)\" y=\"\(fmt(by))\" width=\"\(fmt(w))\" height=\"\(bar - 1)\" "
                        + "fill=\"\(palette[i % palette.count])\"/>"
                        + "<text x=\"\(fmt(labelWidth + w + 4))\" y=\"\(fmt(by + bar - 1.5))\" font-size=\"8\">"
                        + "\(value >= 100 ? String(format: "%.0f", value) : value >= 1 ? String(format: "%.1f", value) : String(format: "%.2g", value))</text>\n"
                }
                y += rowHeight
            }
            // Grid lines at the round values, labelled above the section's first row.
            for (value, label) in ticks {
                let x = labelWidth + barWidth * position(value)
                body += "<line class=\"grid\" x1=\"\(fmt(x))\" x2=\"\(fmt(x))\" y1=\"\(fmt(sectionTop))\" y2=\"\(fmt(y))\" "
                    + "stroke=\"#000\" stroke-opacity=\"0.12\"/>"
                    + "<text class=\"tick\" x=\"\(fmt(x))\" y=\"\(fmt(sectionTop - 2))\" text-anchor=\"middle\" font-size=\"8\">\(label)</text>\n"
            }
        }
        let height = y + 20
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(fmt(width))" height="\(fmt(height))" \
            font-family="sans-serif" font-size="10">
            <rect width="100%" height="100%" fill="white"/>
            \(body)</svg>

            """
    }

    static func opLabel(_ o: OpResult) -> String { "\(o.name) \(o.direction)" }

    static func modelLabel(_ m: ModelResult) -> String {
        "\(m.model) \(BenchmarkTable.shape(m.input)) ×\(m.batch) \(m.mode)"
    }

    private static func orderedKeys(_ keys: [String]) -> [String] {
        var seen = Set<String>()
        return keys.filter { seen.insert($0).inserted }
    }

    private static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
