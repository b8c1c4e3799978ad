import Foundation

extension Graph {
    /// A Keras-style table: layer (type), output shape, parameters, inputs; then the totals.
    /// The last column says how the compiled training plan runs each layer after fusion
    /// (`PlanOptions.fusion`): "+relu" where a layer applies the activation after it, "in conv1"
    /// where an activation runs inside the layer before it.
    public func summary(title: String? = nil, options: PlanOptions = PlanOptions()) -> String {
        let fusion = (try? PlanLayout(graph: self, batch: 1, mode: .training, options: options, backend: nil))?.fusion
            ?? FusionDecisions()
        var rows: [[String]] = [["Layer (type)", "Output shape", "Param #", "Connected to", "Compiled as"]]
        for (i, node) in nodes.enumerated() {
            let params = node.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
            var compiled = ""
            if let f = fusion.epilogue[i] { compiled = "fused +" + f.opName }
            if let p = fusion.producer[i] { compiled = "in " + nodes[p].name }
            rows.append(["\(node.name) (\(node.layer?.kind ?? "Input"))", node.shape.description,
                         grouped(params), node.inputs.map { nodes[$0].name }.joined(separator: ", "), compiled])
        }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max()! }
        func line(_ r: [String]) -> String {
            [r[0].padding(toLength: widths[0], withPad: " ", startingAt: 0),
             r[1].padding(toLength: widths[1], withPad: " ", startingAt: 0),
             String(repeating: " ", count: widths[2] - r[2].count) + r[2],
             r[3].padding(toLength: widths[3], withPad: " ", startingAt: 0),
             r[4]].joined(separator: "   ").trimmingCharacters(in: .whitespaces)
        }
        let rule = String(repeating: "─", count: widths.reduce(12, +))
        var out: [String] = []
        if let title { out.append(title) }
        out.append(line(rows[0]))
        out.append(rule)
        out += rows.dropFirst().map(line)
        out.append(rule)
        if !fusion.producer.isEmpty {
            out.append("Compiled: \(fusion.producer.count) activations fused into the op before them "
                + "(\(nodes.count - 1 - fusion.absorbedForward.count) of \(nodes.count - 1) layers run forward ops of their own)")
        }
        // Parameters as PyTorch counts them: every parameter of a zoo model is trainable until
        // a run freezes some (`--freeze`), so the non-trainable count is 0 here. Batch-norm running
        // statistics are buffers (PyTorch's `register_buffer`), saved with the weights but not
        // parameters, so they are listed apart (Keras counts them as non-trainable parameters).
        out.append("Total params: \(grouped(parameterCount))")
        out.append("Trainable params: \(grouped(parameterCount))")
        out.append("Non-trainable params: 0")
        if bufferCount > 0 {
            out.append("Buffers (batch-norm running statistics, saved with the weights): \(grouped(bufferCount))")
        }
        out.append("Multiply-adds per image: \(scaledCount(multiplyAdds)) (convolutions and fully connected layers)")
        out.append("Parameter memory: \(String(format: "%.2f", Double((parameterCount + bufferCount) * DType.float32.byteSize) / 1_048_576)) MiB (Float32)")
        return out.joined(separator: "\n")
    }
}

/// 4_089_184_256 → "4.09 G", 429_128 → "429.13 K": large counts at a glance.
func scaledCount(_ n: Int) -> String {
    let x = Double(n)
    for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")] where x >= scale {
        return String(format: "%.2f %@", x / scale, suffix)
    }
    return String(n)
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
