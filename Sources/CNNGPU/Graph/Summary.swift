import Foundation

extension Graph {
    /// A Keras-style table: layer (type), output shape, parameters, inputs; then the totals.
    public func summary(title: String? = nil) -> String {
        var rows: [[String]] = [["Layer (type)", "Output shape", "Param #", "Connected to"]]
        for node in nodes {
            let params = node.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
            rows.append(["\(node.name) (\(node.layer?.kind ?? "Input"))", node.shape.description,
                         grouped(params), node.inputs.map { nodes[$0].name }.joined(separator: ", ")])
        }
        let widths = (0..<4).map { c in rows.map { $0[c].count }.max()! }
        func line(_ r: [String]) -> String {
            [r[0].padding(toLength: widths[0], withPad: " ", startingAt: 0),
             r[1].padding(toLength: widths[1], withPad: " ", startingAt: 0),
             String(repeating: " ", count: widths[2] - r[2].count) + r[2],
             r[3]].joined(separator: "   ").trimmingCharacters(in: .whitespaces)
        }
        let rule = String(repeating: "─", count: widths.reduce(9, +))
        var out: [String] = []
        if let title { out.append(title) }
        out.append(line(rows[0]))
        out.append(rule)
        out += rows.dropFirst().map(line)
        out.append(rule)
        out.append("Total params: \(grouped(parameterCount))")
        if bufferCount > 0 { out.append("Non-trainable buffers (running statistics): \(grouped(bufferCount))") }
        out.append("Parameter memory: \(String(format: "%.2f", Double((parameterCount + bufferCount) * DType.float32.byteSize) / 1_048_576)) MiB (Float32)")
        return out.joined(separator: "\n")
    }
}

/// 61706 → "61,706": thousands separated, for counts people read.
public func grouped(_ n: Int) -> String {
    let digits = String(n)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}
