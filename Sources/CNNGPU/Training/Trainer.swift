import Foundation

/// A batch of samples on the host, ready to upload.
public struct TrainingBatch {
    /// `count × sample` Float32 values (NCHW); may hold padding past `count`.
    public var images: [Float]
    public var labels: [Int32]
    /// Real samples in the batch (the last batch of an epoch may be short).
    public var count: Int

    public init(images: [Float], labels: [Int32], count: Int) {
        self.images = images; self.labels = labels; self.count = count
    }
}

/// Anything that yields an epoch's batches in a reproducible order.
public protocol BatchSource {
    var sampleCount: Int { get }
    var batchSize: Int { get }
    /// The batches of `epoch` after skipping its first `skipping` (to resume mid-epoch).
    func batches(epoch: Int, skipping: Int) -> AnyIterator<TrainingBatch>
    /// Why the latest `batches` iteration ended early (e.g. an unreadable image file), or nil;
    /// the trainer throws it once the iteration stops.
    var iterationError: Error? { get }
}

extension BatchSource {
    /// Sources whose batches cannot fail never end early.
    public var iterationError: Error? { nil }
}

public struct TrainingConfig {
    public var epochs: Int = 5
    public var batchSize: Int = 64
    public var optimizer: OptimizerConfig = .sgd(momentum: 0.9)
    public var schedule = LearningRateSchedule(base: 0.01)
    public var seed: UInt64 = 1
    /// Where checkpoints, the metrics log and the curves go; nil keeps nothing on disk.
    public var checkpointDirectory: URL?
    public var resume = false
    public var modelName = "model"
    /// Weights to start from (safetensors, parameter names as the model's).
    public var initialWeights: URL?
    /// With `initialWeights`: the classifier head may differ in shape (another number of
    /// classes) and then starts fresh.
    public var replaceHead = false
    /// Freeze every layer up to and including this one (a layer name, or a block prefix such
    /// as "layer3"); "backbone" freezes all but the classifier head.
    public var freezeThrough: String?
    /// Compile-time choices (fusion on by default).
    public var planOptions = PlanOptions()
    /// Data-parallel runs: batch norm over the global batch's statistics (summed across ranks)
    /// instead of each rank's own (the default, as PyTorch's DistributedDataParallel).
    public var synchronizedBatchNorm = false
    /// Data-parallel runs: gradients are averaged in buckets of about this many bytes, started
    /// as the backward pass completes them; `.max` averages them in one call after it.
    public var gradientBucketBytes = 4 << 20
    /// Class names, input and preprocessing, recorded in every checkpoint so the run folder
    /// alone is enough to use the model.
    public var run: RunInfo?
    /// Stop once validation accuracy has not improved for this many epochs (needs validation data).
    public var earlyStoppingPatience: Int?
    public init() {}

    /// The settings that shape the rest of a run, as recorded in checkpoints.
    public var settings: String {
        "\(optimizer.name), lr \(schedule.base) (\(schedule.shape), warm-up \(schedule.warmupSteps)), \(epochs) epochs"
            + (planOptions.labelSmoothing > 0 ? ", label smoothing \(planOptions.labelSmoothing)" : "")
    }
}

/// Why training stopped early.
public enum TrainingStop: Error, CustomStringConvertible {
    case nonFiniteLoss(step: Int, epoch: Int, loss: Float, checkpoint: URL?)
    case interrupted(checkpoint: URL?)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, epoch, loss, checkpoint):
            return "training stopped: the loss became \(loss.isNaN ? "NaN" : "\(loss)") at step \(step) (epoch \(epoch)). "
                + "Lower the learning rate (--lr) or check the data for invalid labels."
                + (checkpoint.map { " The last good checkpoint is kept at \($0.path)." } ?? "")
        case let .interrupted(checkpoint):
            return "interrupted" + (checkpoint.map { "; checkpoint saved to \($0.path). Continue with --resume." } ?? ".")
        }
    }
}

/// Trains a graph on one backend: compiled plans, one optimizer launch per step, progress,
/// per-epoch validation, metrics log, curves, atomic checkpoints (the latest, and the best by
/// validation accuracy in `best.safetensors`), early stopping, exact resume.
///
/// Data-parallel under Open MPI's `mpirun` (or given a `world`): each rank trains on its share
/// of every global batch (`config.batchSize` stays the global batch), the gradients are
/// averaged across ranks before the identical update, evaluation is sharded and summed, and
/// only rank 0 prints, writes checkpoints and logs. A rank whose step throws leaves the others
/// waiting in a collective: a caller should end the run with `world.abort()` (the CLI does),
/// and call `world.finish()` when training is done.
public final class Trainer {
    public let graph: Graph
    public let config: TrainingConfig
    public let parameters: ParameterStore
    public let optimizer: Optimizer
    public let plan: Plan
    public private(set) var history: [EpochMetrics] = []
    /// The epoch whose end `best.safetensors` holds (a resumed run's is already on disk).
    private var bestWrittenEpoch: Int?
    /// Set when `fit` stopped before `config.epochs` because validation stopped improving.
    public private(set) var stoppedEarly: (bestEpoch: Int, patience: Int)?
    private var globalStep = 0
    private var epochsCompleted = 0
    private let reporter: ProgressReporter
    private var evaluationPlans: [Int: Plan] = [:]
    /// Called between the backward pass and the update with the flat gradients (data-parallel
    /// averaging); set before `fit`.
    public var gradientHook: ((any DeviceBuffer) throws -> Void)?
    /// When set before `fit`, times every op of a few steps after warm-up (`--profile`), then
    /// hands the profiler to `onProfiled` and trains on unprofiled.
    public var profiling: (profiler: OpProfiler, warmupSteps: Int, steps: Int, onProfiled: (OpProfiler) -> Void)?
    private var divergence = DivergenceMonitor()
    /// A checkpoint known to be good: the last this run wrote, or the one it resumed from (both
    /// checked finite); nil otherwise, so an older file of unknown origin is never called good.
    public private(set) var lastGoodCheckpoint: URL?
    /// Set from a signal handler (Ctrl-C); checked between steps.
    public static let interruptFlag = InterruptFlag()
    /// The ranks of a data-parallel run; nil for one process.
    public let world: MPIWorld?
    /// The gradient averaging of a data-parallel run (its timing: `averager?.statistics`).
    public private(set) var averager: GradientAverager?
    private var ranks: Int { world?.size ?? 1 }
    private var isRoot: Bool { world?.isRoot ?? true }

    /// `world` defaults to the MPI ranks when `mpirun` started this process, else none.
    public init(graph: Graph, backend: any Backend, config: TrainingConfig,
                reporter: ProgressReporter = ProgressReporter(), world: MPIWorld? = nil) throws {
        let world = try world ?? (MPIWorld.launchedByMPIRun() ? MPIWorld.start() : nil)
        self.world = world
        self.graph = graph; self.config = config
        // Other ranks train silently: one progress display, from rank 0.
        self.reporter = world.map { $0.isRoot } ?? true ? reporter : ProgressReporter(isTerminal: false, output: { _ in })
        if let world {
            guard config.batchSize % world.size == 0 else { throw DistributedError.unevenBatch(batch: config.batchSize, ranks: world.size) }
            try world.requireAgreement(on: "model", "\(config.modelName) with input \(graph.inputShape), \(graph.parameterCount) parameters")
            try world.requireAgreement(on: "seed", "\(config.seed)")
            try world.requireAgreement(on: "global batch size", "\(config.batchSize)")
            try world.requireAgreement(on: "training settings", config.settings
                + (config.synchronizedBatchNorm ? ", synchronized batch norm" : ", per-rank batch norm"))
        }
        let store = try ParameterStore(graph: graph, backend: backend, seed: config.seed)
        parameters = store
        if let url = config.initialWeights {
            let head = store.headNode
            let replaceHead = config.replaceHead
            let report = try ModelWeights.load(url, into: store) { name in
                replaceHead && store.entries.first { $0.name == name }?.node == head
            }
            reporter.message("weights   \(report.loaded.count) tensors from \(url.path)"
                + (report.reinitialized.isEmpty ? "" : "; new head: \(report.reinitialized.joined(separator: ", "))")
                + (report.unused.isEmpty ? "" : "; unused in the file: \(report.unused.prefix(4).joined(separator: ", "))"
                    + (report.unused.count > 4 ? ", …" : "")))
        }
        let frozen = try config.freezeThrough.map { try Trainer.frozenElements(graph: graph, parameters: store, through: $0) } ?? 0
        optimizer = try Optimizer(config.optimizer, parameters: store, frozenElements: frozen)
        var options = config.planOptions
        if let world, config.synchronizedBatchNorm { options.batchNormSync = CrossRankSum(world: world) }
        let batch = config.batchSize / (world?.size ?? 1)
        if options.tuning != .off {
            // Tuning a new model can take a minute: shown as it goes, then remembered, so the plan
            // below compiles with the stored choices instead of timing them again.
            let start = Date()
            let tuned = try Plan.tune(graph: graph, batch: batch, training: true, backend: parameters.backend,
                                      mode: options.tuning,
                                      progress: { [reporter] step in reporter.transient("tuning    \(step)") })
            let seconds = Date().timeIntervalSince(start)
            reporter.transient("")
            if seconds >= 1 {
                reporter.message(String(format: "tuning    %d convolution problems in %.0f s, remembered for later runs "
                                        + "(--tune off skips it)", tuned.count, seconds))
            }
            options.tuning = .off
        }
        plan = try Plan(graph: graph, parameters: parameters, batch: batch, mode: .training, options: options)
        if let world {
            averager = try GradientAverager(plan: plan, world: world, bucketBytes: config.gradientBucketBytes)
            // Every rank starts from the same weights whatever happened locally (a weights file
            // that differs between machines would otherwise split the ranks silently).
            try world.requireAgreement(on: "initial weights", Self.fingerprint(try parameters.read()))
        }
        if config.resume { try resume() }
        if let world, config.resume {
            try world.requireAgreement(on: "resumed checkpoint", "epoch \(epochsCompleted), step \(globalStep), weights "
                + Self.fingerprint(try parameters.read()))
        }
    }

    /// A digest of the weights (FNV-1a over every value's bits): equal on two ranks only when
    /// their weights are identical.
    private static func fingerprint(_ weights: [String: [Float]]) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for name in weights.keys.sorted() {
            for value in weights[name]! { hash = (hash ^ UInt64(value.bitPattern)) &* 1_099_511_628_211 }
        }
        return String(hash, radix: 16)
    }

    public var checkpointURL: URL? { config.checkpointDirectory?.appendingPathComponent("checkpoint.safetensors") }
    /// The checkpoint of the epoch with the best validation accuracy so far, beside the latest.
    public var bestCheckpointURL: URL? { config.checkpointDirectory?.appendingPathComponent("best.safetensors") }

    /// The epoch with the highest validation accuracy (the earliest of equals), nil without validation.
    public var bestEpoch: EpochMetrics? {
        var best: EpochMetrics?
        for metrics in history {
            if let accuracy = metrics.validationAccuracy, accuracy > best?.validationAccuracy ?? -1 { best = metrics }
        }
        return best
    }

    // MARK: Training

    /// Trains until `config.epochs` epochs are complete; returns every epoch's metrics.
    @discardableResult
    public func fit(train: BatchSource, validation: BatchSource?) throws -> [EpochMetrics] {
        guard train.batchSize == config.batchSize else {
            throw CNNError.invalidArgument("the training batches hold \(train.batchSize) samples, the plan \(config.batchSize)")
        }
        let stepsPerEpoch = train.sampleCount / config.batchSize
        guard stepsPerEpoch > 0 else {
            throw CNNError.invalidArgument("the training set has \(train.sampleCount) samples, fewer than one batch of \(config.batchSize)")
        }
        if config.resume {
            try Checkpoint.validateCounters(epochsCompleted: epochsCompleted, step: globalStep, stepsPerEpoch: stepsPerEpoch,
                                            source: checkpointURL)
        }
        let trainingStep = try TrainingStep(plan: plan, optimizer: optimizer)
        trainingStep.gradientHook = gradientHook
        var train = train
        if let world, let averager {
            try world.requireAgreement(on: "training data", "\(train.sampleCount) samples")
            train = try ShardedBatchSource(global: train, sampleValues: graph.inputShape.count, rank: world.rank, ranks: world.size)
            trainingStep.backwardObserver = averager.backwardOpFinished
            let hook = gradientHook
            trainingStep.gradientHook = { gradients in
                try averager.finish(gradients)
                try hook?(gradients)
            }
        }
        let localBatch = train.batchSize
        // Ctrl-C reaches the ranks at different moments: they agree on it once per step.
        var stopRequested = false
        var stepsThisRun = 0
        stoppedEarly = nil
        while epochsCompleted < config.epochs {
            let epoch = epochsCompleted + 1
            let skip = globalStep - epochsCompleted * stepsPerEpoch
            let start = Date()
            var lossSum = 0.0, correct = 0, seen = 0, step = skip
            var learningRate: Float = 0
            // Every step's loss and rate this epoch, kept (averaged down) for the curves.
            var stepLosses: [Double] = [], stepRates: [Double] = []
            // One batch of look-ahead, so the step can upload it while it computes.
            let batches = train.batches(epoch: epoch, skipping: skip)
            func nextFull() -> TrainingBatch? {
                while let b = batches.next() { if b.count == localBatch { return b } }
                return nil
            }
            var upcoming = nextFull()
            while let batch = upcoming {
                upcoming = nextFull()
                if world == nil ? Trainer.interruptFlag.isSet : stopRequested {
                    let url = try saveCheckpoint()
                    reporter.message("")
                    throw TrainingStop.interrupted(checkpoint: url)
                }
                if let p = profiling {
                    trainingStep.profiler = stepsThisRun >= p.warmupSteps && stepsThisRun < p.warmupSteps + p.steps ? p.profiler : nil
                }
                learningRate = config.schedule.rate(at: globalStep)
                var (loss, right) = try trainingStep.run(images: batch.images, labels: batch.labels, learningRate: learningRate,
                                                         seed: config.seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(globalStep),
                                                         next: upcoming.map { ($0.images, $0.labels) })
                if let world {
                    // The global batch's mean loss (equal shards), its correct count, and any Ctrl-C.
                    var totals = [Double(loss), Double(right), Trainer.interruptFlag.isSet ? 1 : 0]
                    try world.allreduceSum(&totals)
                    (loss, right, stopRequested) = (Float(totals[0] / Double(world.size)), Int(totals[1]), totals[2] > 0)
                }
                globalStep += 1
                step += 1
                stepsThisRun += 1
                if let p = profiling, stepsThisRun == p.warmupSteps + p.steps {
                    reporter.message("")
                    p.onProfiled(p.profiler)
                }
                guard loss.isFinite else {
                    throw TrainingStop.nonFiniteLoss(step: globalStep, epoch: epoch, loss: loss, checkpoint: lastGoodCheckpoint)
                }
                try divergence.check(loss: loss, step: globalStep, epoch: epoch, lastGoodCheckpoint: lastGoodCheckpoint)
                lossSum += Double(loss) * Double(batch.count * ranks); correct += right; seen += batch.count * ranks
                stepLosses.append(Double(loss)); stepRates.append(Double(learningRate))
                let elapsed = Date().timeIntervalSince(start)
                reporter.update(.init(epoch: epoch, epochs: config.epochs, done: step, total: stepsPerEpoch,
                                      loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                      imagesPerSecond: Double(seen) / max(elapsed, 1e-9), elapsed: elapsed))
            }
            if let error = train.iterationError { throw error }
            let seconds = Date().timeIntervalSince(start)
            let validated = try validation.map { try evaluate($0) }
            let metrics = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)),
                                       trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                       validationLoss: validated?.loss, validationAccuracy: validated?.accuracy, seconds: seconds,
                                       imagesPerSecond: Double(seen) / max(seconds, 1e-9),
                                       learningRate: Double(learningRate),
                                       stepLosses: EpochMetrics.averaged(stepLosses), stepLearningRates: EpochMetrics.averaged(stepRates))
            history.append(metrics)
            epochsCompleted = epoch
            reporter.finishEpoch(metrics, of: config.epochs)
            try saveCheckpoint()
            try writeLogs()
            if let patience = config.earlyStoppingPatience, let best = bestEpoch, epoch - best.epoch >= patience,
               epochsCompleted < config.epochs {
                stoppedEarly = (best.epoch, patience)
                break
            }
        }
        return history
    }

    /// Mean loss and accuracy over every sample of `data`, in inference mode (BN running
    /// statistics, no dropout). A short last batch runs on a plan of its own size.
    /// In a data-parallel run each rank evaluates its part of every batch (image folders, which
    /// build only that part) or every `ranks`-th batch (other sources), and the sums are
    /// combined, so every rank returns the whole set's numbers.
    public func evaluate(_ data: BatchSource) throws -> (loss: Double, accuracy: Double) {
        var lossSum = 0.0, correct = 0, seen = 0
        let rank = world?.rank ?? 0
        let batches: AnySequence<TrainingBatch>
        if ranks > 1, let shardable = data as? ShardableBatchSource, data.batchSize % ranks == 0 {
            batches = AnySequence(shardable.batches(epoch: 0, skipping: 0, part: rank, of: ranks))
        } else {
            batches = AnySequence(data.batches(epoch: 0, skipping: 0).enumerated().lazy
                .filter { $0.offset % self.ranks == rank }.map(\.element))
        }
        for batch in batches where batch.count > 0 {
            let p = try evaluationPlan(batch: batch.count)
            let executor = Executor(plan: p)
            let n = batch.count * graph.inputShape.count
            try parameters.backend.upload(Array(batch.images.prefix(n)), to: p.input)
            try parameters.backend.uploadInt32(Array(batch.labels.prefix(batch.count)), to: p.targets!)
            try executor.forward(training: false)
            try executor.lossAndMetrics()
            let (loss, right) = try executor.readLossAndCorrect()
            lossSum += Double(loss) * Double(batch.count); correct += right; seen += batch.count
        }
        if let error = data.iterationError { throw error }
        if let world {
            var totals = [lossSum, Double(correct), Double(seen)]
            try world.allreduceSum(&totals)
            (lossSum, correct, seen) = (totals[0], Int(totals[1]), Int(totals[2]))
        }
        return seen > 0 ? (lossSum / Double(seen), Double(correct) / Double(seen)) : (.nan, .nan)
    }

    private func evaluationPlan(batch: Int) throws -> Plan {
        if let p = evaluationPlans[batch] { return p }
        // Validation reports the plain cross-entropy, comparable across runs whatever their smoothing.
        var options = plan.options
        options.labelSmoothing = 0
        // The training plan's problems are tuned by now (its own options say off); another batch's
        // forward problems are timed here if new, never all again.
        options.tuning = config.planOptions.tuning == .off ? .off : .fast
        let p = try Plan(graph: graph, parameters: parameters, batch: batch, mode: .evaluation, options: options)
        evaluationPlans[batch] = p
        return p
    }

    /// The flat-parameter prefix that `--freeze name` freezes.
    static func frozenElements(graph: Graph, parameters: ParameterStore, through name: String) throws -> Int {
        let node: Int
        if name == "backbone" {
            guard let head = parameters.headNode else { return 0 }
            node = head - 1
        } else {
            guard let last = graph.nodes.lastIndex(where: { $0.name == name || $0.name.hasPrefix(name + ".") }) else {
                let names = graph.nodes.dropFirst().filter { !$0.parameters.isEmpty }.map(\.name)
                throw CNNError.invalidArgument("--freeze: the model has no layer '\(name)'. Layers with parameters: "
                    + names.prefix(12).joined(separator: ", ") + (names.count > 12 ? ", …" : "") + ", or 'backbone'")
            }
            node = last
        }
        return parameters.trainableOffset(through: node)
    }

    // MARK: Checkpoints and logs

    /// Rank 0 writes; the ranks then agree that it worked (a full disk stops them all).
    /// At the end of the epoch with the best validation accuracy so far, the same checkpoint
    /// also replaces `best.safetensors`.
    @discardableResult
    public func saveCheckpoint() throws -> URL? {
        guard let url = checkpointURL else { return nil }
        guard let world else { return try writeCheckpoint(url) }
        var failure: Error?
        if world.isRoot {
            do { try writeCheckpoint(url) } catch { failure = error }
        }
        if try world.any(failure != nil) {
            throw failure ?? DistributedError.peerFailed("rank 0 could not write the checkpoint to \(url.path); stopping with it")
        }
        lastGoodCheckpoint = url
        return url
    }

    @discardableResult
    private func writeCheckpoint(_ url: URL) throws -> URL {
        let shapes = Dictionary(uniqueKeysWithValues: parameters.entries.map { ($0.name, $0.spec.shape) })
        let checkpoint = Checkpoint(model: config.modelName, epochsCompleted: epochsCompleted, step: globalStep, seed: config.seed,
                                    optimizerStep: optimizer.step, parameters: try parameters.read(), parameterShapes: shapes,
                                    optimizerState: try optimizer.read(), history: history.map { $0.jsonLine() },
                                    batchSize: config.batchSize, settings: config.settings, run: config.run)
        try checkpoint.write(to: url)
        // Once per best epoch, at its end: a save later in the next epoch (Ctrl-C) holds other
        // weights. A full checkpoint (not weights alone), so `predict`, `evaluate` and `export`
        // read it as they read the latest one; atomic too, so a crash keeps the previous best.
        if let best = bestEpoch?.epoch, best == epochsCompleted, best != bestWrittenEpoch, let bestURL = bestCheckpointURL {
            try checkpoint.write(to: bestURL)
            bestWrittenEpoch = best
        }
        lastGoodCheckpoint = url
        return url
    }

    private func resume() throws {
        guard let url = checkpointURL else {
            throw CNNError.invalidArgument("--resume needs a checkpoint directory (--checkpoint DIR)")
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CNNError.invalidArgument("--resume: no checkpoint at \(url.path); train without --resume first")
        }
        let c = try Checkpoint.read(from: url)
        guard c.model == config.modelName else {
            throw CNNError.invalidArgument("--resume: the checkpoint at \(url.path) is for model '\(c.model)', not '\(config.modelName)'")
        }
        if let trained = c.run, let now = config.run {
            guard trained.inputShape == now.inputShape else {
                throw CNNError.invalidArgument("--resume: \(url.path) was trained on \(trained.inputShape.map(String.init).joined(separator: "×")) "
                    + "inputs, this run's are \(now.inputShape.map(String.init).joined(separator: "×")). Resume with the same data and "
                    + "--image-size, or start afresh with --overwrite")
            }
            guard trained.classNames == now.classNames else {
                throw CNNError.invalidArgument("--resume: \(url.path) was trained on \(trained.classNames.count) classes ("
                    + trained.classNames.prefix(3).joined(separator: ", ") + (trained.classNames.count > 3 ? ", …" : "")
                    + "), this run's data has \(now.classNames.count) (" + now.classNames.prefix(3).joined(separator: ", ")
                    + (now.classNames.count > 3 ? ", …" : "") + "). Resume with the same data, or start afresh with --overwrite")
            }
        }
        guard c.seed == config.seed else {
            throw CNNError.invalidArgument("--resume: the checkpoint was trained with seed \(c.seed); pass --seed \(c.seed) to continue it exactly")
        }
        guard c.batchSize == config.batchSize else {
            throw CNNError.invalidArgument("--resume: the checkpoint was trained with batch size \(c.batchSize); "
                + "pass --batch-size \(c.batchSize) to continue it")
        }
        if c.settings != config.settings {
            reporter.message("note: the checkpoint was trained with \(c.settings); continuing with \(config.settings)")
        }
        let expected = Set(parameters.entries.map(\.name))
        guard Set(c.parameters.keys) == expected else {
            let missing = expected.subtracting(c.parameters.keys).sorted().prefix(3)
            throw CNNError.invalidArgument("--resume: the checkpoint does not match the model (missing \(missing.joined(separator: ", ")))")
        }
        for entry in parameters.entries where c.parameterShapes[entry.name] != entry.spec.shape {
            let stored = (c.parameterShapes[entry.name] ?? []).map(String.init).joined(separator: "×")
            let trained = c.run.map { " It was trained on \($0.classNames.count) classes at input \($0.inputShape.map(String.init).joined(separator: "×"))." } ?? ""
            throw CNNError.invalidArgument("--resume: \(url.path) holds '\(entry.name)' as \(stored), but this run's \(config.modelName) "
                + "(input \(graph.inputShape), \(graph.outputShape.count) classes) needs \(entry.spec.shape.map(String.init).joined(separator: "×")).\(trained) "
                + "Resume with the same data and --image-size, or start afresh with --overwrite")
        }
        try parameters.write(c.parameters)
        try optimizer.restore(c.optimizerState, step: c.optimizerStep)
        globalStep = c.step
        epochsCompleted = c.epochsCompleted
        history = c.history.compactMap(EpochMetrics.parse)
        bestWrittenEpoch = bestEpoch?.epoch
        lastGoodCheckpoint = url
        reporter.message("resumed from \(url.path): \(c.epochsCompleted) epoch\(c.epochsCompleted == 1 ? "" : "s") done, step \(c.step)")
    }

    private func writeLogs() throws {
        guard let dir = config.checkpointDirectory, isRoot else { return }
        let lines = history.map { $0.jsonLine() }.joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(lines.utf8), to: dir.appendingPathComponent("metrics.jsonl"))
        let info = parameters.backend.info
        let svg = TrainingCurves.svg(history, title: "\(config.modelName) on \(info.name) (\(info.backend) backend)")
        try AtomicFile.write(Data(svg.utf8), to: dir.appendingPathComponent("curves.svg"))
    }
}

/// A flag a signal handler may set (a plain atomic store) and the training loop reads.
public final class InterruptFlag: @unchecked Sendable {
    private let value = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
    init() { value.pointee = 0 }
    public var isSet: Bool { value.pointee != 0 }
    public func set() { value.pointee = 1 }
    public func clear() { value.pointee = 0 }
}
