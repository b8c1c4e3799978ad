/// Which inputs of a sum's join (a layer whose backward passes the output gradient through,
/// like ResNet's residual `Add`) take over the join's output-gradient buffer instead of
/// receiving a copy of it: ResNet-50 made 32 such copies per training step.
///
/// The buffer holds dy when the join's backward runs, and dy is dead afterwards, so one input
/// can always inherit it, provided the join writes that input's gradient first (the join is
/// the input's last consumer; later contributions are accumulated into it as before) and the
/// input appears once among the join's inputs. A further input can inherit it as well only if
/// every earlier heir merely reads it, and reads it before the next heir touches it: the heir
/// is read by its own backward alone (no other consumer adds into it, no in-place layer below
/// it and no join's heir shares it), and the next heir's backward and accumulations all run
/// later.
/// Tensors the caller retains keep their own buffers.
enum GradientPassThrough {
    /// (input, join) pairs: the input's gradient shares the join's gradient buffer.
    static func aliases(nodes: [Graph.Node], consumers: [Int: [Plan.Edge]], gradientAlias: [Int],
                        retained: Set<String>, inputGradient: Bool, backwardStep: (Int) -> Int) -> [(input: Int, join: Int)] {
        func root(_ i: Int) -> Int { gradientAlias[i] == i ? i : root(gradientAlias[i]) }
        // The nodes sharing each root's gradient buffer through in-place layers.
        let sharing = Dictionary(grouping: nodes.indices, by: root)
        func lastConsumer(_ i: Int) -> Plan.Edge? {
            (consumers[i] ?? []).max { ($0.consumer, -$0.slot) < ($1.consumer, -$1.slot) }
        }
        var result: [(input: Int, join: Int)] = []
        for j in nodes.indices {
            guard let layer = nodes[j].layer, layer.passesGradientThrough else { continue }
            let inputs = nodes[j].inputs
            // The join's own buffer must not be observed after its backward.
            let joinChain = nodes.indices.filter { root($0) == root(j) }
            guard !joinChain.contains(where: { retained.contains(nodes[$0].name) }) else { continue }
            // Steps at which the input's gradient buffer is read or written after the join's backward.
            var heirs: [(input: Int, steps: [Int], readOnly: Bool)] = []
            for (slot, i) in inputs.enumerated() {
                guard i > 0 || inputGradient, inputs.filter({ $0 == i }).count == 1, gradientAlias[i] == i,
                      lastConsumer(i) == Plan.Edge(consumer: j, slot: slot) else { continue }
                let below = sharing[i] ?? [i]
                guard !below.contains(where: { retained.contains(nodes[$0].name) }) else { continue }
                let others = (consumers[i] ?? []).filter { $0.consumer != j }
                var steps = below.filter { $0 > 0 }.map(backwardStep) + others.map { backwardStep($0.consumer) }
                if below.contains(0) { steps.append(Int.max) }  // the model input's gradient is read after the step
                // A join's own heirs would share (and write) its buffer later: not read-only.
                let isJoin = nodes[i].layer?.passesGradientThrough ?? false
                heirs.append((i, steps, readOnly: below == [i] && i > 0 && others.isEmpty && !isJoin))
            }
            heirs.sort { ($0.steps.min() ?? 0) < ($1.steps.min() ?? 0) }
            guard var previous = heirs.first else { continue }
            result.append((previous.input, j))
            for next in heirs.dropFirst() {
                guard previous.readOnly, let last = previous.steps.max(), let first = next.steps.min(), last < first else { break }
                result.append((next.input, j))
                previous = next
            }
        }
        return result
    }
}
