/// Runs the steps of a `Plan` on its backend: everything is queued in order on the device and
/// nothing waits for the host until a value is read back (`StepResult` reads the loss and the
/// number of correct predictions once per step).
public struct Executor {
    public let plan: Plan
    var backend: any Backend { plan.parameters.backend }

    public init(plan: Plan) { self.plan = plan }

    private func context(_ i: Int, training: Bool, seed: UInt64) -> LayerContext {
        let nodes = plan.graph.nodes
        return LayerContext(backend: backend, batch: plan.batch, inputShapes: nodes[i].inputs.map { nodes[$0].shape },
                            outputShape: nodes[i].shape, inputs: nodes[i].inputs.map { plan.activations[$0] },
                            output: plan.activations[i], parameters: plan.parameters.views(node: i),
                            state: plan.states[i], training: training,
                            seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Queues the forward pass over `plan.input`; the output is in `plan.output`.
    public func forward(training: Bool, seed: UInt64 = 0) throws {
        guard !training || plan.training else {
            throw CNNError.invalidArgument("this plan was compiled for inference; compile one with training: true")
        }
        for i in plan.graph.nodes.indices.dropFirst() {
            try plan.graph.nodes[i].layer!.forward(context(i, training: training, seed: seed))
        }
    }

    /// Queues the loss (and its gradient into the output's gradient) and the correct-prediction
    /// count against `plan.targets`.
    public func lossAndMetrics() throws {
        guard let targets = plan.targets, let lossValue = plan.lossValue, let correct = plan.correctCount,
              let outGrad = plan.gradients.last ?? nil else {
            throw CNNError.invalidArgument("this plan was compiled for inference: it has no loss")
        }
        let classes = plan.graph.outputShape.count
        switch plan.loss {
        case .softmaxCrossEntropy:
            try backend.softmaxCrossEntropy(rows: plan.batch, cols: classes, logits: plan.output, labels: targets,
                                            loss: lossValue, gradient: outGrad)
            try backend.topKCorrect(rows: plan.batch, cols: classes, k: 1, scores: plan.output, labels: targets, out: correct)
        case .meanSquaredError:
            try backend.meanSquaredError(count: plan.batch * classes, prediction: plan.output, target: targets,
                                         loss: lossValue, gradient: outGrad)
            try backend.fill(correct, value: 0)
        }
    }

    /// Queues the backward pass: every node's input and parameter gradients, accumulating
    /// where a tensor feeds several layers. Parameter gradients land in `plan.parameters.gradients`.
    public func backward() throws {
        let nodes = plan.graph.nodes
        for i in nodes.indices.dropFirst().reversed() {
            guard let dy = plan.gradients[i] else { continue }
            let inputGrads: [(any DeviceBuffer)?] = nodes[i].inputs.enumerated().map { slot, j in
                guard j > 0 else { return nil }
                let edge = Plan.Edge(consumer: i, slot: slot)
                return plan.firstGradientWriter[j] == edge ? plan.gradients[j] : plan.scratchGradients[edge]
            }
            let g = GradientContext(outputGradient: dy, inputGradients: inputGrads,
                                    parameterGradients: plan.parameters.gradientViews(node: i))
            try nodes[i].layer!.backward(context(i, training: true, seed: 0), g)
            for (slot, j) in nodes[i].inputs.enumerated() where j > 0 {
                let edge = Plan.Edge(consumer: i, slot: slot)
                if let scratch = plan.scratchGradients[edge], let target = plan.gradients[j] {
                    try backend.axpy(count: plan.batch * nodes[j].shape.count, alpha: 1, x: scratch, y: target)
                }
            }
        }
    }

    /// Reads the last step's mean loss and correct count (waits for the device).
    public func readLossAndCorrect() throws -> (loss: Float, correct: Int) {
        guard let lossValue = plan.lossValue, let correct = plan.correctCount else {
            throw CNNError.invalidArgument("this plan was compiled for inference: it has no loss")
        }
        let l = try backend.download(lossValue, count: 1)[0]
        let c = try backend.download(correct, count: 1)[0]
        return (l, Int(c))
    }
}
