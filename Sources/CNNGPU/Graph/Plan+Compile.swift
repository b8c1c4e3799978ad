/// Turning a laid-out plan into its lists of compiled ops.
extension Plan {
    func context(_ i: Int, training: Bool, workspace: (any DeviceBuffer)?) -> LayerContext {
        let nodes = graph.nodes
        var c = LayerContext(backend: parameters.backend, batch: batch, inputShapes: nodes[i].inputs.map { nodes[$0].shape },
                            outputShape: nodes[i].shape, inputs: nodes[i].inputs.map { activations[$0] },
                            output: activations[i], parameters: parameters.views(node: i),
                            state: states[i], training: training, seed: 0, name: nodes[i].name, node: i,
                            epilogue: fusion.epilogue[i], workspace: workspace)
        c.foldsReLUBackward = training && fusion.reluMaskingPools[i] != nil
        return c
    }

    func compileForward(training: Bool) throws -> [CompiledOp] {
        var ops = training ? [] : try compileFolding()
        let foldedBatchNorm = Dictionary(uniqueKeysWithValues: fusion.foldedInto.map { ($1, $0) })
        for i in graph.nodes.indices.dropFirst() where !fusion.absorbedForward.contains(i) {
            let c = context(i, training: training, workspace: forwardWorkspaces[i])
            if !training, let j = foldedBatchNorm[i], let f = folded[j], var conv = graph.nodes[i].layer as? Conv2D {
                // The convolution runs with the folded weights and a bias, writes the batch norm's
                // output and applies the batch norm's fused activation.
                conv.useBias = true
                let foldedContext = LayerContext(backend: c.backend, batch: batch, inputShapes: c.inputShapes,
                                                 outputShape: c.outputShape, inputs: c.inputs, output: activations[j],
                                                 parameters: [f.weight, f.bias], state: [], training: false, seed: 0,
                                                 name: c.name + "+" + graph.nodes[j].name, node: i,
                                                 epilogue: fusion.epilogue[j], workspace: c.workspace)
                ops += try conv.compileForward(foldedContext).map { op in
                    CompiledOp(name: op.name, kind: op.kind.replacingOccurrences(of: "+bias", with: "+batchnorm(folded)"),
                               phase: op.phase, shape: op.shape, algorithm: op.algorithm, flops: op.flops, bytes: op.bytes,
                               node: op.node, run: op.run)
                }
                continue
            }
            if training, let sync = options.batchNormSync, let bn = graph.nodes[i].layer as? BatchNorm {
                ops += try bn.compileSynchronizedForward(c, ranks: sync)
                continue
            }
            ops += try graph.nodes[i].layer!.compileForward(c)
        }
        return ops
    }

    /// The folding of each batch norm into its convolution, as two batch-norm inference ops
    /// on the device: over the weights seen as [1, out, in·kh·kw] with zero mean and shift,
    /// w·γ/√(var+ε); over the bias seen as [1, out, 1], (b − mean)·γ/√(var+ε) + β.
    private func compileFolding() throws -> [CompiledOp] {
        guard let zeros = foldZeros else { return [] }
        let backend = parameters.backend
        var ops: [CompiledOp] = []
        for (j, i) in fusion.foldedInto.sorted(by: { $0.key < $1.key }) {
            guard let f = folded[j], let bn = graph.nodes[j].layer as? BatchNorm, let conv = graph.nodes[i].layer as? Conv2D else { continue }
            let p = parameters.views(node: j), w = parameters.views(node: i)
            let channels = graph.nodes[j].shape.dims[0]
            let weights = AxisShape(outer: 1, axis: channels, inner: graph.nodes[i].parameters[0].count / channels)
            let bias = AxisShape(outer: 1, axis: channels, inner: 1)
            let convBias = conv.useBias ? w[1] : zeros
            let epsilon = bn.epsilon
            try backend.checks.batchNormForwardInference(weights, x: w[0], gamma: p[0], beta: zeros, runningMean: zeros,
                                                         runningVar: p[3], epsilon: epsilon, y: f.weight)
            try backend.checks.batchNormForwardInference(bias, x: convBias, gamma: p[0], beta: p[1], runningMean: p[2],
                                                         runningVar: p[3], epsilon: epsilon, y: f.bias)
            ops.append(CompiledOp(name: graph.nodes[i].name + "+" + graph.nodes[j].name, kind: "fold batchnorm into conv2d",
                                  phase: .forward, shape: shapeText([channels, weights.inner]),
                                  bytes: Double(weights.count * 8), node: i) { _ in
                try backend.encodeBatchNormForwardInference(weights, x: w[0], gamma: p[0], beta: zeros, runningMean: zeros,
                                                            runningVar: p[3], epsilon: epsilon, y: f.weight, relu: false)
                try backend.encodeBatchNormForwardInference(bias, x: convBias, gamma: p[0], beta: p[1], runningMean: p[2],
                                                            runningVar: p[3], epsilon: epsilon, y: f.bias, relu: false)
            })
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
            let smoothing = options.labelSmoothing
            try backend.checks.softmaxCrossEntropy(rows: rows, cols: classes, labelSmoothing: smoothing, logits: output,
                                                   labels: targets, loss: lossValue, gradient: outGrad)
            try backend.checks.topKCorrect(rows: rows, cols: classes, k: 1, scores: output, labels: targets, out: correct)
            return [
                CompiledOp(name: "loss", kind: "softmax cross-entropy", phase: .loss, shape: shape,
                           bytes: Double(rows * classes * 8)) { _ in
                    try backend.encodeSoftmaxCrossEntropy(rows: rows, cols: classes, labelSmoothing: smoothing, logits: output,
                                                          labels: targets, loss: lossValue, gradient: outGrad)
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
                guard j > 0 || options.inputGradient else { return nil }
                let edge = Edge(consumer: i, slot: slot)
                return firstGradientWriter[j] == edge ? gradients[j] : scratchGradients[edge]
            }
            let g = GradientContext(outputGradient: dy, inputGradients: inputGrads,
                                    parameterGradients: parameters.gradientViews(node: i))
            let c = context(i, training: true, workspace: backwardWorkspaces[i])
            var nodeOps = try options.batchNormSync.flatMap { sync in
                try (nodes[i].layer as? BatchNorm).map { try $0.compileSynchronizedBackward(c, g, ranks: sync) }
            } ?? nodes[i].layer!.compileBackward(c, g)
            if let producer = fusion.producer[i] {
                // The activation's backward of a fused pair: name it after the pair.
                nodeOps = nodeOps.map { op in
                    CompiledOp(name: nodes[producer].name + "+" + op.name, kind: op.kind, phase: op.phase, shape: op.shape,
                               algorithm: op.algorithm, flops: op.flops, bytes: op.bytes, node: op.node, run: op.run)
                }
            }
            ops += nodeOps
            for (slot, j) in nodes[i].inputs.enumerated() where j > 0 || options.inputGradient {
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
