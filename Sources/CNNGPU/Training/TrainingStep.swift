import Foundation

/// One training step, the only place the sequence is written: upload the batch, forward, loss,
/// backward, the gradient hook (data-parallel averaging goes here), optimizer update, and one
/// read of the loss and the correct count. `Trainer`, `bench` and the tests all step through it.
///
/// Inputs are double-buffered on devices with overlapped uploads (OpenCL): given the next
/// batch, a step starts copying it into the idle one of two staging buffers before queueing its
/// own ops, so the copy runs while the device computes; the next step then only queues a
/// device-side copy from staging into the plan's input.
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

    /// Staging buffers (images, labels) ×2 and the upload of the next batch into one of them.
    private var staging: [(images: any DeviceBuffer, labels: any DeviceBuffer)] = []
    private var prefetched: (slot: Int, uploads: [any PendingUpload], fingerprint: [Float])?

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
    /// returns the batch's mean loss and number of correct top-1 predictions. `next`, the batch
    /// the following call will get, is uploaded while this step computes.
    @discardableResult
    public func run(images: [Float], labels: [Int32], learningRate: Float, seed: UInt64,
                    next: (images: [Float], labels: [Int32])? = nil) throws -> (loss: Float, correct: Int) {
        let backend = plan.parameters.backend
        let n = plan.batch * plan.graph.inputShape.count
        for (values, count) in [(images.count, labels.count)] + (next.map { [($0.images.count, $0.labels.count)] } ?? []) {
            guard values >= n, count >= plan.batch else {
                throw CNNError.invalidArgument("a training step at batch \(plan.batch) needs \(n) input values and "
                    + "\(plan.batch) labels, got \(values) and \(count)")
            }
        }
        guard let targets = plan.targets, plan.loss == .softmaxCrossEntropy else {
            throw CNNError.invalidArgument("run(images:labels:) trains on class labels; upload the targets of a "
                + "\(plan.loss) plan and call runOnUploaded")
        }
        if let p = prefetched, p.fingerprint == Self.fingerprint(images, labels),
           let overlapped = backend as? any OverlappedUploads {
            // This batch was uploaded during the previous step.
            for u in p.uploads { try overlapped.finishUpload(u) }
            try backend.copy(from: staging[p.slot].images, to: plan.input, count: n)
            try backend.copy(from: staging[p.slot].labels, to: targets, count: plan.batch)
        } else {
            try backend.upload(images.count == n ? images : Array(images.prefix(n)), to: plan.input)
            try backend.uploadInt32(labels.count == plan.batch ? labels : Array(labels.prefix(plan.batch)), to: targets)
        }
        let used = prefetched?.slot ?? 1
        prefetched = nil
        if let next, let overlapped = backend as? any OverlappedUploads {
            if staging.isEmpty {
                staging = try (0..<2).map { _ in
                    (try backend.allocate(n, dtype: .float32), try backend.allocate(plan.batch, dtype: .int32))
                }
            }
            // The other slot: its last reader, the copy at the start of the previous step, is done.
            let slot = 1 - used
            let imageBytes = next.images.prefix(n).withUnsafeBytes { Data($0) }
            let labelBytes = next.labels.prefix(plan.batch).withUnsafeBytes { Data($0) }
            prefetched = (slot, [try overlapped.beginUpload(imageBytes, to: staging[slot].images),
                                 try overlapped.beginUpload(labelBytes, to: staging[slot].labels)],
                          Self.fingerprint(next.images, next.labels))
        }
        return try runOnUploaded(learningRate: learningRate, seed: seed)
    }

    /// Enough of a batch to tell whether a call got the batch the previous one announced (a
    /// caller that breaks the promise gets a plain upload, not stale data).
    private static func fingerprint(_ images: [Float], _ labels: [Int32]) -> [Float] {
        Array(images.prefix(16)) + Array(images.suffix(16)) + labels.map(Float.init)
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
