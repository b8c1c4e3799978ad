import Foundation

/// An SVG bar chart comparing devices: achieved GFLOP/s of every compute-bound op, then
/// images/s of every model configuration, one bar per device, each section on its own scale.
public enum BenchmarkChart {
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"]

    public static func svg(_ r: BenchmarkResults) -> String {
        let devices = r.devices
        // Rows are matched across devices by their label, so a benchmark one device skipped leaves a gap.
        var sections: [(title: String, rows: [(label: String, values: [Double?])])] = []
        let opKeys = orderedKeys(devices.flatMap { $0.ops.filter { $0.bound == .compute }.map(opLabel) })
        if !opKeys.isEmpty {
            sections.append(("Compute-bound ops: GFLOP/s (device time)", opKeys.map { key in
                (key, devices.map { d in d.ops.first { opLabel($0) == key }?.rate })
            }))
        }
        let modelKeys = orderedKeys(devices.flatMap { $0.models.map(modelLabel) })
        if !modelKeys.isEmpty {
            sections.append(("Models: images/s", modelKeys.map { key in
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
            y += 24
            body += "<text x=\"10\" y=\"\(y)\" font-weight=\"bold\">\(escape(section.title))</text>\n"
            y += 10
            let maxValue = section.rows.flatMap { $0.values.compactMap { $0 } }.max() ?? 1
            for row in section.rows {
                body += "<text x=\"\(labelWidth - 6)\" y=\"\(y + rowHeight / 2 + 1)\" text-anchor=\"end\">\(escape(row.label))</text>\n"
                for (i, value) in row.values.enumerated() {
                    guard let value else { continue }
                    let w = max(1, barWidth * value / maxValue), by = y + Double(i) * bar
                    body += "<rect x=\"\(labelWidth)\" y=\"\(by)\" width=\"\(fmt(w))\" height=\"\(bar - 1)\" "
                        + "fill=\"\(palette[i % palette.count])\"/>"
                        + "<text x=\"\(fmt(labelWidth + w + 4))\" y=\"\(by + bar - 1.5)\" font-size=\"8\">"
                        + "\(value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value))</text>\n"
                }
                y += rowHeight
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
