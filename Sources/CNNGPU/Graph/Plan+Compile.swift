/// Turning a laid-out plan into its lists of compiled ops.
extension Plan {
    func context(_ i: Int, training: Bool, workspace: (any DeviceBuffer)?) -> LayerContext {
        let nodes = graph.nodes
        return LayerContext(backend: parameters.backend, batch: batch, inputShapes: nodes[i].inputs.map { nodes[$0].shape },
                            outputShape: nodes[i].shape, inputs: nodes[i].inputs.map { activations[$0] },
                            output: activations[i], parameters: parameters.views(node: i),
                            state: states[i], training: training, seed: 0, name: nodes[i].name, node: i,
                            epilogue: fusion.epilogue[i], workspace: workspace)
    }

    func compileForward(training: Bool) throws -> [CompiledOp] {
        var ops: [CompiledOp] = []
        for i in graph.nodes.indices.dropFirst() where !fusion.absorbedForward.contains(i) {
            ops += try graph.nodes[i].layer!.compileForward(context(i, training: training, workspace: forwardWorkspaces[i]))
        }
        return ops
    }

    func compileLoss() throws -> [CompiledOp] {
        guard let targets, let lossValue, let correct = correctCount, let outGrad = lossGradient else { return [] }
        let backend = parameters.backend
        let classes = graph.outputShape.count
        let rows = batch, output = self.output
        let shape = shapeText([rows, classes])
        switch loss {
        case .softmaxCrossEntropy:
            try backend.checks.softmaxCrossEntropy(rows: rows, cols: classes, logits: output, labels: targets,
                                                   loss: lossValue, gradient: outGrad)
            try backend.checks.topKCorrect(rows: rows, cols: classes, k: 1, scores: output, labels: targets, out: correct)
            return [
                CompiledOp(name: "loss", kind: "softmax cross-entropy", phase: .loss, shape: shape,
                           bytes: Double(rows * classes * 8)) { _ in
                    try backend.encodeSoftmaxCrossEntropy(rows: rows, cols: classes, logits: output, labels: targets,
                                                          loss: lossValue, gradient: outGrad)
                },
                CompiledOp(name: "loss", kind: "top-1 correct", phase: .loss, shape: shape,
                           bytes: Double(rows * classes * 4)) { _ in
                    try backend.encodeTopKCorrect(rows: rows, cols: classes, k: 1, scores: output, labels: targets, out: correct)
                },
            ]
        case .meanSquaredError:
            let count = rows * classes
            try backend.checks.meanSquaredError(count: count, prediction: output, target: targets, loss: lossValue,
                                                gradient: outGrad)
            return [
                CompiledOp(name: "loss", kind: "mean squared error", phase: .loss, shape: shape,
                           bytes: Double(count * 12)) { _ in
                    try backend.encodeMeanSquaredError(count: count, prediction: output, target: targets,
                                                       loss: lossValue, gradient: outGrad)
                    try backend.encodeFill(correct, value: 0, offset: 0, count: 1)
                },
            ]
        }
    }

    /// Every node's input and parameter gradients, last node first, accumulating where a
    /// tensor feeds several layers. Parameter gradients land in `parameters.gradients`.
    func compileBackward() throws -> [CompiledOp] {
        guard training else { return [] }
        let nodes = graph.nodes
        let backend = parameters.backend
        var ops: [CompiledOp] = []
        for i in nodes.indices.dropFirst().reversed() {
            guard let dy = gradients[i], !fusion.absorbedBackward.contains(i) else { continue }
            let inputGrads: [(any DeviceBuffer)?] = nodes[i].inputs.enumerated().map { slot, j in
                guard j > 0 else { return nil }
                let edge = Edge(consumer: i, slot: slot)
                return firstGradientWriter[j] == edge ? gradients[j] : scratchGradients[edge]
            }
            let g = GradientContext(outputGradient: dy, inputGradients: inputGrads,
                                    parameterGradients: parameters.gradientViews(node: i))
            var nodeOps = try nodes[i].layer!.compileBackward(context(i, training: true, workspace: backwardWorkspaces[i]), g)
            if let producer = fusion.producer[i] {
                // The activation's backward of a fused pair: name it after the pair.
                nodeOps = nodeOps.map { op in
                    CompiledOp(name: nodes[producer].name + "+" + op.name, kind: op.kind, phase: op.phase, shape: op.shape,
                               algorithm: op.algorithm, flops: op.flops, bytes: op.bytes, node: op.node, run: op.run)
                }
            }
            ops += nodeOps
            for (slot, j) in nodes[i].inputs.enumerated() where j > 0 {
                let edge = Edge(consumer: i, slot: slot)
                guard let scratch = scratchGradients[edge], let target = gradients[j] else { continue }
                let count = batch * nodes[j].shape.count
                try backend.checks.axpy(count: count, alpha: 1, x: scratch, y: target)
                ops.append(CompiledOp(name: nodes[j].name, kind: "gradient accumulate", phase: .backward,
                                      shape: shapeText([batch] + nodes[j].shape.dims), bytes: Double(count * 12)) { _ in
                    try backend.encodeAxpy(count: count, alpha: 1, x: scratch, y: target)
                })
            }
        }
        return ops
    }
}
