/// One training step, the only place the sequence is written: upload the batch, forward, loss,
/// backward, the gradient hook (data-parallel averaging goes here), optimizer update, and one
/// read of the loss and the correct count. `Trainer`, `bench` and the tests all step through it.
///
/// ```swift
/// let plan = try Plan(graph: graph, parameters: store, batch: 64, training: true)
/// let step = try TrainingStep(plan: plan, optimizer: Optimizer(.sgd(), parameters: store))
/// let result = try step.run(images: batch.images, labels: batch.labels, learningRate: 0.01, seed: 1)
/// ```
public final class TrainingStep {
    public let plan: Plan
    public let optimizer: Optimizer
    /// Called after the backward pass and before the update, with the flat gradient buffer
    /// (`plan.parameters.gradients`): where gradients are averaged across processes.
    public var gradientHook: ((any DeviceBuffer) throws -> Void)?
    /// When set, every op of the next steps is timed into it.
    public var profiler: OpProfiler?

    /// The batch size has one owner: the plan.
    public var batchSize: Int { plan.batch }

    public init(plan: Plan, optimizer: Optimizer) throws {
        guard plan.training else {
            throw CNNError.invalidArgument("a training step needs a plan compiled with mode: .training, not \(plan.mode.rawValue)")
        }
        guard optimizer.parameters === plan.parameters else {
            throw CNNError.invalidArgument("the optimizer updates another model's parameters than the plan's")
        }
        self.plan = plan; self.optimizer = optimizer
    }

    /// Runs one step on `images` (`batchSize ×` the input shape, NCHW) and Int32 `labels`;
    /// returns the batch's mean loss and number of correct top-1 predictions.
    @discardableResult
    public func run(images: [Float], labels: [Int32], learningRate: Float, seed: UInt64) throws -> (loss: Float, correct: Int) {
        let backend = plan.parameters.backend
        let n = plan.batch * plan.graph.inputShape.count
        guard images.count >= n, labels.count >= plan.batch else {
            throw CNNError.invalidArgument("a training step at batch \(plan.batch) needs \(n) input values and "
                + "\(plan.batch) labels, got \(images.count) and \(labels.count)")
        }
        try backend.upload(images.count == n ? images : Array(images.prefix(n)), to: plan.input)
        guard let targets = plan.targets else { throw CNNError.invalidArgument("the plan has no targets") }
        if plan.loss == .softmaxCrossEntropy {
            try backend.uploadInt32(labels.count == plan.batch ? labels : Array(labels.prefix(plan.batch)), to: targets)
        }
        try queue(seed: seed, learningRate: learningRate)
        let executor = Executor(plan: plan)
        if let profiler { return try profiler.timeRead { try executor.readLossAndCorrect() } }
        return try executor.readLossAndCorrect()
    }

    /// Runs one step on inputs and targets already in `plan.input` and `plan.targets` (a
    /// benchmark's fixed batch, a regression loss's Float targets).
    @discardableResult
    public func runOnUploaded(learningRate: Float, seed: UInt64) throws -> (loss: Float, correct: Int) {
        try queue(seed: seed, learningRate: learningRate)
        let executor = Executor(plan: plan)
        if let profiler { return try profiler.timeRead { try executor.readLossAndCorrect() } }
        return try executor.readLossAndCorrect()
    }

    private func queue(seed: UInt64, learningRate: Float) throws {
        let executor = Executor(plan: plan)
        try executor.run(plan.forwardOps, seed: seed, profiler: profiler)
        try executor.run(plan.lossOps, profiler: profiler)
        try executor.run(plan.backwardOps, profiler: profiler)
        if let hook = gradientHook {
            let op = CompiledOp(name: "gradients", kind: "gradient hook", phase: .hook) { _ in try hook(self.plan.parameters.gradients) }
            try executor.run([op], profiler: profiler)
        }
        let update = CompiledOp(name: "optimizer", kind: optimizer.config.name + " update", phase: .update,
                                shape: shapeText([optimizer.parameters.trainableSpan]),
                                bytes: Double(optimizer.parameters.trainableSpan * 4 * (2 + 2 * optimizer.state.count))) { _ in
            try self.optimizer.update(learningRate: learningRate)
        }
        try executor.run([update], profiler: profiler)
    }
}
