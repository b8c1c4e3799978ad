import ArgumentParser
import CNNGPU
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model; with no options, LeNet-5-style models train on Fashion-MNIST.",
        discussion: """
            Data: Fashion-MNIST from the Debian package dataset-fashion-mnist by default; --data DIR \
            reads Fashion-MNIST/MNIST IDX files or CIFAR-10 binary batches from DIR, or JPEG/PNG images \
            laid out as DIR/<class>/<image> (or DIR/train/<class>/… and DIR/val/<class>/…; without them \
            10% of each class, the same files whatever --seed, is held out for validation), trained with torchvision's ImageNet \
            transforms at --image-size. --synthetic trains on random ImageNet-shaped batches to \
            measure throughput.
            Checkpoints, the metrics log (metrics.jsonl) and the curves (curves.svg) go to \
            --checkpoint DIR (default runs/MODEL), with best.safetensors (the epoch of best validation \
            accuracy) beside the latest checkpoint; each records the model, class names, input size and \
            normalization, so `predict RUN`, `evaluate RUN` and `export RUN` need nothing else. \
            --resume continues exactly where a run stopped (--resume RUN continues another run folder).
            A checkpoint folder is locked while a run uses it; a folder that already holds a run is \
            continued with --resume or replaced with --overwrite, never silently. \
            Ctrl-C, SIGTERM and SIGHUP save a checkpoint and exit.
            Data-parallel: started by Open MPI's mpirun (mpirun -np 4 cnn-gpu train resnet50 …, \
            or across machines with --hostfile), every rank trains on its share of each global \
            --batch-size, the gradients are averaged with MPI_Allreduce, and rank 0 alone prints and \
            writes the run folder (which every rank must be able to read to --resume).
            """)

    @Argument(help: "Model name: \(ModelZoo.names.joined(separator: ", ")).")
    var model: String

    @OptionGroup var device: DeviceOptions
    @OptionGroup var normalization: NormalizationOptions
    @OptionGroup var imageLimits: ImageLimitOptions

    @Option(help: "Dataset folder (IDX files of MNIST/Fashion-MNIST, CIFAR-10 .bin batches, or an image folder DIR/<class>/<image>).")
    var data: String?

    @Option(help: "Dataset kind: fashion-mnist, mnist, cifar10 or imagefolder (default: detected from --data).")
    var dataset: String?

    @Option(help: "Image side for image folders and --synthetic (random-resized crops when training, center crops for validation; default 224), and for the Fashion-MNIST stand-in of ImageNet models without --data (default 32, AlexNet 64).")
    var imageSize: Int?

    /// The side of ImageNet-style inputs.
    private var side: Int { imageSize ?? 224 }

    @Flag(help: "Image folders: skip undecodable files (reported on stderr) instead of stopping.")
    var skipCorrupt = false

    @Flag(help: "Train on synthetic random ImageNet-shaped batches (1000 classes unless --num-classes, 20 steps per epoch) to measure throughput.")
    var synthetic = false

    @Option(help: "Number of output classes (the classifier head's size): with --synthetic, the number of random labels (default 1000); with real data it comes from the data, and if given must match it.")
    var numClasses: Int?

    @Option(help: "Number of epochs (default 5; 1 for the Fashion-MNIST stand-in of ImageNet models, 3 for AlexNet's).") var epochs: Int?
    @Option(name: [.customShort("b"), .long], help: "Samples per step.") var batchSize: Int = 64
    @Option(help: ArgumentHelp("Host threads that decode, augment and batch images ahead of the device (default: one per spare core, at most 4; 0 decodes between steps).", valueName: "n"))
    var workers: Int?
    @Option(help: "Learning rate, the peak of the schedule (default 0.02 for SGD — 0.01 for most ImageNet models' Fashion-MNIST stand-in — and 0.001 for Adam, AdamW and RMSprop).") var lr: Float?
    @Option(help: "sgd, adam, adamw (decoupled weight decay) or rmsprop (PyTorch's: alpha 0.99, eps 1e-8).") var optimizer: String = "sgd"
    @Option(help: "Momentum: SGD's (default 0.9) or RMSprop's (default 0).") var momentum: Float?
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "Weight decay: L2 added to the gradient (SGD, Adam, RMSprop) or decoupled (AdamW, default 0.01 as PyTorch's; 0 for the others).") var weightDecay: Float?
    @Option(help: ArgumentHelp("Label smoothing ε of the cross-entropy loss (PyTorch's label_smoothing; torchvision's recipes use 0.1).", valueName: "eps"))
    var labelSmoothing: Float = 0
    @Option(help: "Learning-rate schedule: constant, cosine, or step (×--lr-gamma every --lr-step-size epochs; without them ×0.1 every third of the run). Default cosine, or step when --lr-step-size is given.")
    var schedule: String?
    @Option(help: ArgumentHelp("Step schedule: epochs between learning-rate drops (torchvision's --lr-step-size).", valueName: "epochs"))
    var lrStepSize: Int?
    @Option(help: ArgumentHelp("Step schedule: the factor of each drop (default 0.1).", valueName: "factor"))
    var lrGamma: Float?
    @Option(help: "Linear warm-up steps, before the schedule.") var warmupSteps: Int = 0
    @Option(help: ArgumentHelp("Linear warm-up epochs before the schedule (instead of --warmup-steps).", valueName: "epochs"))
    var warmupEpochs: Int?
    @Option(help: "Seed for initialization, data order, augmentation and dropout.") var seed: UInt64 = 1
    @Option(help: "Folder for checkpoints, metrics and curves (default runs/MODEL).") var checkpoint: String?
    @Option(name: .long, defaultAsFlag: "", parsing: .next,
            help: ArgumentHelp("Continue a run where it stopped: with no value the run in --checkpoint DIR, or else the latest run of MODEL under runs/; or the run folder (or its checkpoint.safetensors) given.",
                               valueName: "run"))
    var resume: String? = nil
    @Option(help: ArgumentHelp("Stop when validation accuracy has not improved for this many epochs (the best epoch's weights are in best.safetensors).",
                               valueName: "patience"))
    var earlyStopping: Int?
    @Flag(help: "Discard the run already in the checkpoint folder and start afresh.") var overwrite = false
    @Flag(help: "Augment training images (random flip and shift).") var augment = false
    @Option(help: "Start from these weights (safetensors with the model's parameter names, e.g. a converted torchvision state_dict); a classifier head of another size is replaced.")
    var weights: String?
    @Flag(help: "Time every compiled op over 5 steps after 2 warm-up steps: print the ops taking the most time and write a Chrome trace (profile.json in the run folder, or --profile-file) that Perfetto and chrome://tracing open.")
    var profile = false
    @Option(help: ArgumentHelp("Where --profile writes its trace-event JSON.", valueName: "file"))
    var profileFile: String?
    @Flag(help: "Compile without fusing activations into the ops before them (to compare).")
    var noFusion = false
    @Option(help: "Time convolution solvers on the device before training: off (remembered choices and heuristics), fast (new problems, each solver at its defaults) or full (every parameter set, again). Choices are remembered per device and driver, or per processor on the CPU backend (see `cnn-gpu tune`).")
    var tune: TuningMode = .fast
    @Option(help: "Freeze layers up to and including this one (e.g. layer3), or 'backbone' for all but the head.")
    var freeze: String?
    @Flag(help: "Start MPI even when not launched by mpirun (one rank alone; mpirun starts it by itself).")
    var distributed = false
    @Flag(help: "Under mpirun: batch norm with the statistics of the whole global batch, summed across ranks (by default each rank uses its own share's, as PyTorch's DistributedDataParallel does).")
    var syncBatchnorm = false
    @Option(help: ArgumentHelp("Under mpirun: average gradients in buckets of this many MiB, each started as the backward pass completes it (0: one allreduce after the backward pass).", valueName: "MiB"))
    var bucketMib: Double = 4

    /// The run folder: the one `--resume RUN` names, else --checkpoint, else with a bare
    /// --resume the latest run of the model under runs/, else runs/MODEL.
    private func runDirectory(model: String) throws -> URL {
        let chosen = URL(fileURLWithPath: UserPath.expanded(checkpoint ?? "runs/\(model)"))
        guard let resume, !resume.isEmpty else {
            guard resume != nil, checkpoint == nil else { return chosen }
            return RunFolder.latest(of: model, in: URL(fileURLWithPath: "runs")) ?? chosen
        }
        let file = try UserPath.checkpoint(resume, weightsAllowed: false)
        guard file.lastPathComponent == "checkpoint.safetensors" else {
            throw CNNError.invalidArgument("--resume continues a run from its latest checkpoint.safetensors; \(resume) is another file. "
                + "To start a new run from its weights, use --weights \(resume)")
        }
        let folder = file.deletingLastPathComponent()
        if let checkpoint, chosen.standardizedFileURL.path != folder.standardizedFileURL.path {
            throw CNNError.invalidArgument("--resume \(resume) continues the run in \(folder.path), but --checkpoint \(checkpoint) "
                + "names another folder: give one of them")
        }
        return folder
    }

    /// The run's settings by flag, recorded in its checkpoints.
    private func recordedSettings(epochs: Int, rate: Float) -> [String: String] {
        // Optional flags are recorded as given ("" when left to the optimizer's default).
        ["epochs": "\(epochs)", "batch-size": "\(batchSize)", "optimizer": optimizer.lowercased(), "lr": "\(rate)",
         "momentum": momentum.map { "\($0)" } ?? "", "nesterov": "\(nesterov)",
         "weight-decay": weightDecay.map { "\($0)" } ?? "", "schedule": scheduleName,
         "lr-step-size": lrStepSize.map { "\($0)" } ?? "", "lr-gamma": lrGamma.map { "\($0)" } ?? "",
         "label-smoothing": "\(labelSmoothing)", "warmup-steps": "\(warmupSteps)",
         "warmup-epochs": warmupEpochs.map { "\($0)" } ?? "", "seed": "\(seed)", "augment": "\(augment)",
         "freeze": freeze ?? "", "weights": weights ?? ""]
    }

    /// Checks the options before any data is read, so a typo fails at once.
    func validate() throws {
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if let numClasses, numClasses <= 0 { throw ValidationError("--num-classes must be positive, got \(numClasses)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let imageSize, imageSize < 8 { throw ValidationError("--image-size must be at least 8, got \(imageSize)") }
        do {
            if let epochs { try CheckedSize.inRange(epochs, 1...InputLimits.maxEpochs, "--epochs") }
            if let numClasses { try CheckedSize.inRange(numClasses, 1...InputLimits.maxClasses, "--num-classes") }
            try InputLimits.checkBatchSize(batchSize)
            if let imageSize { try InputLimits.checkSampleShape([3, imageSize, imageSize], flag: "--image-size") }
            try CheckedSize.inRange(warmupSteps, 0...Int(Int32.max), "--warmup-steps")
            if let warmupEpochs { try CheckedSize.inRange(warmupEpochs, 0...InputLimits.maxEpochs, "--warmup-epochs") }
            if let lrStepSize { try CheckedSize.inRange(lrStepSize, 1...InputLimits.maxEpochs, "--lr-step-size") }
            if let workers { try CheckedSize.inRange(workers, 0...64, "--workers") }
        } catch let error as CNNError {
            throw ValidationError(error.description)
        }
        if let earlyStopping, earlyStopping <= 0 { throw ValidationError("--early-stopping must be a positive number of epochs, got \(earlyStopping)") }
        guard !(resume != nil && overwrite) else {
            throw ValidationError("--resume continues the run in the checkpoint folder, --overwrite discards it: give one of them")
        }
        guard ["sgd", "adam", "adamw", "rmsprop"].contains(optimizer.lowercased()) else {
            throw ValidationError("unknown optimizer '\(optimizer)': use sgd, adam, adamw or rmsprop")
        }
        if let schedule, !["constant", "cosine", "step"].contains(schedule.lowercased()) {
            throw ValidationError("unknown schedule '\(schedule)': use constant, cosine or step")
        }
        if lrStepSize != nil || lrGamma != nil, scheduleName != "step" {
            throw ValidationError("--lr-step-size and --lr-gamma shape the step schedule, not --schedule \(scheduleName): "
                + "drop them or use --schedule step")
        }
        if let lrGamma, !(lrGamma > 0 && lrGamma <= 1) { throw ValidationError("--lr-gamma must be in (0, 1], got \(lrGamma)") }
        if warmupEpochs != nil, warmupSteps > 0 {
            throw ValidationError("give --warmup-epochs or --warmup-steps, not both")
        }
        if let warmupEpochs, let epochs, warmupEpochs >= epochs {
            throw ValidationError("--warmup-epochs \(warmupEpochs) leaves no epoch of the \(epochs) for the schedule: use fewer")
        }
        guard labelSmoothing >= 0, labelSmoothing < 1 else {
            throw ValidationError("--label-smoothing must be in [0, 1), got \(labelSmoothing)")
        }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if let momentum, !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        if momentum != nil, optimizer.lowercased().hasPrefix("adam") {
            throw ValidationError("--momentum applies to sgd and rmsprop; Adam's moments are fixed (beta1 0.9, beta2 0.999)")
        }
        guard bucketMib >= 0, bucketMib.isFinite, bucketMib <= 1_048_576 else {
            throw ValidationError("--bucket-mib must be between 0 and 1048576, got \(bucketMib)")
        }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) {
            throw ValidationError("--weight-decay must be a non-negative number, got \(weightDecay)")
        }
        _ = try device.selection()
    }

    func run() throws {
        let world = try distributed || MPIWorld.launchedByMPIRun() ? MPIWorld.start() : nil
        guard let world else { return try train(world: nil) }
        RankOutput.quiet = !world.isRoot
        do {
            try train(world: world)
            world.finish()
        } catch {
            // Errors every rank meets at the same point (a diverged loss, a bad batch size, ranks
            // that disagree) end each rank normally, said once; any other leaves the other ranks
            // waiting in a collective, so it ends them all. The message goes out before finishing:
            // MPI_Finalize waits for every rank, and mpirun ends the job (killing a rank still
            // about to print) as soon as one rank exits with a failure.
            if DistributedFailure.isShared(error) {
                let reported = DistributedFailure.isReported(error, byRoot: world.isRoot)
                if reported {
                    let message = Self.fullMessage(for: error)
                    if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
                }
                world.finish()
                throw reported ? Self.exitCode(for: error) : ExitCode.failure
            }
            FileHandle.standardError.write(Data("cnn-gpu rank \(world.rank) of \(world.size): \(error)\n".utf8))
            world.abort()
        }
    }

    private func train(world: MPIWorld?) throws {
        // The model name and the device are checked before any data is read.
        let entry = try ModelZoo.entry(model)
        let profiling = profile || profileFile != nil
        let selected = try world.map { try device.selection(localRank: $0.localRank).open(localRank: $0.localRank, localSize: $0.localSize,
                                                                                           profiling: profiling) }
            ?? device.selection().open(profiling: profiling)
        let backend = selected.backend
        imageLimits.apply()
        let data = try loadData()
        let dir = try runDirectory(model: entry.name)
        if let numClasses, numClasses != data.classes {
            throw CNNError.invalidArgument("--num-classes \(numClasses) does not match the data, which has \(data.classes) "
                + "classes (\(data.description)). Drop --num-classes to take the count from the data, or point --data at "
                + "a dataset of \(numClasses) classes.")
        }
        let graph = try ModelZoo.build(entry.name, input: data.sampleShape, classes: data.classes)

        var config = TrainingConfig()
        let epochs = self.epochs ?? data.defaultEpochs
        config.epochs = epochs; config.batchSize = batchSize; config.seed = seed; config.resume = resume != nil
        config.modelName = entry.name
        let stepsPerEpoch = data.train.sampleCount / batchSize
        let steps = try CheckedSize.product([epochs, stepsPerEpoch], what: "--epochs × steps per epoch")
        if let warmupEpochs, warmupEpochs >= epochs {
            throw CNNError.invalidArgument("--warmup-epochs \(warmupEpochs) leaves no epoch of the \(epochs) for the schedule: use fewer")
        }
        let warmup = warmupEpochs.map { $0 * stepsPerEpoch } ?? warmupSteps
        config.optimizer = optimizerConfig
        config.planOptions.labelSmoothing = labelSmoothing
        let rate = lr ?? (optimizer.lowercased() == "sgd" ? data.defaultSGDRate : 1e-3)
        switch scheduleName {
        case "constant": config.schedule = LearningRateSchedule(base: rate, warmupSteps: warmup)
        case "cosine": config.schedule = LearningRateSchedule(base: rate, shape: .cosine(totalSteps: steps, minimum: 0), warmupSteps: warmup)
        default:
            let every = lrStepSize.map { $0 * stepsPerEpoch } ?? max(1, (steps - warmup) / 3)
            config.schedule = LearningRateSchedule(base: rate, shape: .step(everySteps: every, gamma: lrGamma ?? 0.1), warmupSteps: warmup)
        }
        config.checkpointDirectory = dir
        config.initialWeights = weights.map { URL(fileURLWithPath: $0) }
        config.replaceHead = true
        config.freezeThrough = freeze
        config.planOptions.fusion = !noFusion
        config.planOptions.tuning = tune
        config.synchronizedBatchNorm = syncBatchnorm
        config.gradientBucketBytes = bucketMib > 0 ? Int(bucketMib * 1_048_576) : .max
        config.run = RunInfo(model: entry.name, classNames: data.classNames, inputShape: data.sampleShape.dims,
                             normalization: data.normalization, preprocessing: data.preprocessing, data: data.source,
                             settings: recordedSettings(epochs: epochs, rate: rate))
        if let earlyStopping {
            guard data.test != nil else {
                throw CNNError.invalidArgument("--early-stopping watches validation accuracy, and \(data.description) has no validation "
                    + "images: drop --early-stopping or train on data with a validation or test split")
            }
            config.earlyStoppingPatience = earlyStopping
        }
        if let world, batchSize % world.size != 0 { throw DistributedError.unevenBatch(batch: batchSize, ranks: world.size) }
        let say = RankOutput.say

        say("model     \(entry.name): \(grouped(graph.parameterCount)) parameters, input \(graph.inputShape)")
        say("device    \(selected.headline(requested: device.device))")
        if let world {
            say("ranks     \(world.size) (\(world.localSize) on this machine): \(batchSize / world.size) samples of each batch of "
                + "\(batchSize) per rank; gradients averaged with MPI_Allreduce, staged through host memory")
        }
        say("data      \(data.description)")
        say("training  \(epochs) epoch\(epochs == 1 ? "" : "s") × \(stepsPerEpoch) step\(stepsPerEpoch == 1 ? "" : "s"), batch \(batchSize), \(config.optimizer.name)"
              + (config.optimizer.weightDecay > 0 ? ", weight decay \(config.optimizer.weightDecay)" : "")
              + ", lr \(rate) (\(scheduleDescription(stepsPerEpoch: stepsPerEpoch, warmup: warmup)))"
              + (labelSmoothing > 0 ? ", label smoothing \(labelSmoothing)" : "")
              + ", seed \(seed)\(augment ? ", augmented" : "")")
        try MemoryBudget.check(graph: graph, batch: batchSize, training: true, device: backend.info,
                               optimizerStates: config.optimizer.stateBuffers)
        // Locked once the data, model and memory are checked (so a typo leaves no folder behind)
        // and before a resume reads the checkpoint (so no other run can change it meanwhile).
        // Rank 0 alone owns the run folder; the other ranks only read its checkpoint to resume.
        let runFolder = try world.map { $0.isRoot } ?? true ? RunFolder.open(dir, resume: resume != nil, overwrite: overwrite) : nil
        defer { withExtendedLifetime(runFolder) {} }
        let trainer = try Trainer(graph: graph, backend: backend, config: config)
        if profile || profileFile != nil {
            let traceURL = URL(fileURLWithPath: profileFile ?? dir.appendingPathComponent("profile.json").path)
            trainer.profiling = (try OpProfiler(backend: backend), 2, 5, { profiler in
                say("profile   \(profiler.steps) steps after 2 warm-up steps, \(backend.info.name) (\(backend.info.backend)):")
                say(profiler.table())
                do {
                    try FileManager.default.createDirectory(at: traceURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try profiler.chromeTrace().write(to: traceURL, options: .atomic)
                    say("profile   trace written to \(traceURL.path) (open it in https://ui.perfetto.dev or chrome://tracing)")
                } catch {
                    FileHandle.standardError.write(Data("warning: could not write the profile trace to \(traceURL.path): \(error)\n".utf8))
                }
            })
        }
        let plan = trainer.plan
        say(String(format: "memory    %.1f MiB planned for one step: activations and gradients %.1f MiB (%.1f MiB without "
                     + "buffer sharing), parameters with gradients %.1f MiB", Double(plan.plannedBytes) / 1_048_576,
                     Double(plan.plannedActivationBytes) / 1_048_576, Double(plan.unsharedActivationBytes) / 1_048_576,
                     Double(trainer.parameters.bytes) / 1_048_576))
        say("output    \(dir.path)/ (checkpoint.safetensors\(data.test == nil ? "" : ", best.safetensors"), metrics.jsonl, curves.svg)")
        if resume == "" {
            say("resume    \(checkpoint == nil ? "the latest run of \(entry.name)" : "the run"): \(dir.path) (no path given after --resume)")
        }

        try runFolder?.discardPreviousRun()   // with --overwrite, now that the run can start
        InterruptHandling.install()
        let history: [EpochMetrics]
        let started = Date()
        do {
            history = try trainer.fit(train: data.train, validation: data.test)
        } catch let stop as TrainingStop {
            if !RankOutput.quiet { FileHandle.standardError.write(Data((stop.description + "\n").utf8)) }
            // 128 + the signal is the shell's code for "ended by that signal" (130 for Ctrl-C);
            // a diverged run is a plain failure.
            if case .interrupted = stop { throw ExitCode(128 + InterruptHandling.receivedSignal) }
            throw ExitCode.failure
        } catch let diverged as TrainingDiverged {
            if !RankOutput.quiet { FileHandle.standardError.write(Data((diverged.description + "\n").utf8)) }
            throw ExitCode.failure
        }
        if let statistics = trainer.averager?.statistics {
            say("mpi       \(statistics.summary), \(trainer.averager!.bucketCount) buckets")
        }
        let took = Date().timeIntervalSince(started)
        if synthetic {
            let rate = history.map(\.imagesPerSecond).max() ?? 0
            say("done: \(grouped(Int(rate))) images/s on synthetic data (best epoch; the accuracy means nothing), "
                + ProgressReporter.runSummary([], seconds: took))
        } else if let last = history.last, let accuracy = last.validationAccuracy {
            let word = data.source.validation.word
            if let stop = trainer.stoppedEarly, let best = trainer.bestEpoch {
                say(String(format: "early stop: %@ accuracy has not improved for %d epoch%@ since epoch %d (%.2f%%)",
                           word, stop.patience, stop.patience == 1 ? "" : "s", best.epoch, (best.validationAccuracy ?? 0) * 100))
            }
            say(String(format: "done: %@ accuracy %.2f%% after %d epoch%@ ", word, accuracy * 100, last.epoch,
                       last.epoch == 1 ? "" : "s")
                + ProgressReporter.runSummary(history, seconds: took, accuracy: word) + "; curves in \(dir.path)/curves.svg")
            if let best = trainer.bestEpoch, let bestURL = trainer.bestCheckpointURL {
                say(String(format: "best: epoch %d, %@ accuracy %.2f%%, in %@", best.epoch, word,
                           (best.validationAccuracy ?? 0) * 100, bestURL.path))
            }
        } else {
            say("done: \(history.count) epoch\(history.count == 1 ? "" : "s") " + ProgressReporter.runSummary(history, seconds: took)
                + "; curves in \(dir.path)/curves.svg")
        }
        if let skipped = (data.train as? ImageFolderSource)?.skippedFiles, !skipped.isEmpty {
            say("skipped   \(skipped.count) unreadable training images (listed on stderr)")
        }
    }

    /// --schedule, or step when only --lr-step-size / --lr-gamma say how to step.
    private var scheduleName: String {
        schedule?.lowercased() ?? (lrStepSize != nil || lrGamma != nil ? "step" : "cosine")
    }

    /// The optimizer and its settings, with each optimizer's own defaults (PyTorch's).
    private var optimizerConfig: OptimizerConfig {
        switch optimizer.lowercased() {
        case "sgd": return .sgd(momentum: momentum ?? 0.9, nesterov: nesterov, weightDecay: weightDecay ?? 0)
        case "adam": return .adam(weightDecay: weightDecay ?? 0)
        case "adamw": return .adam(weightDecay: weightDecay ?? 0.01, decoupled: true)
        default: return .rmsprop(momentum: momentum ?? 0, weightDecay: weightDecay ?? 0)
        }
    }

    /// "cosine, 2 warm-up epochs", "step ×0.5 every 3 epochs": what the header shows.
    private func scheduleDescription(stepsPerEpoch: Int, warmup: Int) -> String {
        var text = scheduleName
        if scheduleName == "step" {
            text += " ×\(lrGamma ?? 0.1) every " + (lrStepSize.map { "\($0) epoch" + ($0 == 1 ? "" : "s") } ?? "third of the run")
        }
        if let warmupEpochs, warmupEpochs > 0 {
            text += ", \(warmupEpochs) warm-up epoch" + (warmupEpochs == 1 ? "" : "s")
        } else if warmup > 0 {
            text += ", \(warmup) warm-up steps"
        }
        return text
    }

    /// What `run` trains on: the batch sources and what the model must accept.
    private struct TrainingData {
        var sampleShape: TensorShape
        var classes: Int
        var train: BatchSource
        var test: BatchSource?
        var description: String
        /// What the run records so it can be used alone (see `RunInfo`).
        var classNames: [String]
        var normalization: ChannelNormalization
        var preprocessing: RunInfo.Preprocessing
        var source: RunInfo.DataSource
        /// Epochs when --epochs is not given.
        var defaultEpochs = 5
        /// SGD's learning rate when --lr is not given.
        var defaultSGDRate: Float = 0.02
    }

    private func loadData() throws -> TrainingData {
        if synthetic {
            let train = try SyntheticSource(sampleCount: 20 * batchSize, batchSize: batchSize, imageSize: side,
                                            classes: numClasses ?? 1000, seed: seed)
            return TrainingData(sampleShape: train.sampleShape, classes: train.classes, train: train, test: nil,
                                description: "SYNTHETIC random batches of \(train.sampleShape), \(train.classes) classes (throughput only)",
                                classNames: RunInfo.numberedClasses(train.classes), normalization: try normalization.normalization(),
                                preprocessing: .imageNetEvaluation, source: .init(kind: "synthetic", path: nil, validation: .none))
        }
        if data == nil, dataset == nil, try ModelZoo.entry(model).defaultInput.dims.first == 3 {
            try refuseNormalization(for: "the Fashion-MNIST stand-in")
            let demo = try DemoData.load(for: try ModelZoo.entry(model), imageSize: imageSize, batchSize: batchSize)
            RankOutput.say(demo.note)
            var data = try inMemoryData(demo.train, demo.test, source: "Fashion-MNIST stand-in", kind: "fashion-mnist-stand-in")
            (data.defaultEpochs, data.defaultSGDRate) = DemoData.schedule(for: try ModelZoo.entry(model))
            return data
        }
        let folder = try data.map(UserPath.dataFolder)
        let rgb = try ModelZoo.entry(model).defaultInput.dims.first == 3
        let kind = try dataset?.lowercased() ?? data.map { try DatasetKind.detect(in: folder!, shown: $0, rgbModel: rgb) } ?? "fashion-mnist"
        if kind == "imagefolder" {
            guard let folder else { throw CNNError.invalidArgument("--dataset imagefolder needs --data DIR") }
            return try imageFolderData(folder)
        }
        try refuseNormalization(for: kind)
        let (trainSet, testSet, source) = try loadDataset(kind)
        return try inMemoryData(trainSet, testSet, source: source, kind: kind)
    }

    /// In-memory datasets are normalized with their own statistics, so --mean and --std would be ignored.
    private func refuseNormalization(for data: String) throws {
        guard normalization.isSet else { return }
        throw CNNError.invalidArgument("--mean and --std apply to image folders; \(data) images are normalized "
                                       + "with their training set's statistics: drop the flags")
    }

    /// Batches of a dataset held in memory, normalized with the training set's statistics.
    private func inMemoryData(_ trainSet: Dataset, _ testSet: Dataset, source: String, kind: String) throws -> TrainingData {
        // Test images of another size would be reinterpreted (28×28 read as rows of 32×24).
        guard testSet.sampleShape == trainSet.sampleShape, testSet.classes == trainSet.classes else {
            throw CNNError.invalidArgument("\(source): the test images are \(testSet.sampleShape) in \(testSet.classes) classes, "
                + "the training images \(trainSet.sampleShape) in \(trainSet.classes) classes; both splits must match. "
                + "Check that the test files belong to the same dataset")
        }
        // The training set's own statistics (the --mean/--std options are for image folders).
        let statistics = try ChannelNormalization(fittedTo: trainSet)
        let augmentation = augment ? Augmentation(horizontalFlip: true, shift: 2) : Augmentation()
        let threads = workers ?? BatchLoader.defaultWorkers
        let train = try BatchLoader(dataset: trainSet, batchSize: batchSize, shuffle: true, seed: seed,
                                    augmentation: augmentation, normalization: statistics, dropLast: true, workers: threads)
        let test = try BatchLoader(dataset: testSet, batchSize: batchSize, shuffle: false, seed: seed,
                                   normalization: statistics, dropLast: false, workers: threads)
        return TrainingData(sampleShape: trainSet.sampleShape, classes: trainSet.classes, train: train, test: test,
                            description: "\(source): \(trainSet.count) training, \(testSet.count) test images, \(trainSet.classes) classes",
                            classNames: trainSet.classNames.count == trainSet.classes ? trainSet.classNames : RunInfo.numberedClasses(trainSet.classes),
                            normalization: statistics, preprocessing: .resize,
                            source: .init(kind: kind, path: data.map { URL(fileURLWithPath: UserPath.expanded($0)).standardizedFileURL.path },
                                          validation: .testSet))
    }

    private func imageFolderData(_ directory: URL) throws -> TrainingData {
        // The held-out files do not follow --seed, so runs with different seeds validate on the same images.
        let (trainFolder, validationFolder) = try ImageFolder.splits(at: directory, validationFraction: 0.1, seed: 0)
        let imageStatistics = try normalization.normalization()
        let threads = workers ?? BatchLoader.defaultWorkers
        let train = try ImageFolderSource(folder: trainFolder, transform: .training(size: side, normalization: imageStatistics), batchSize: batchSize,
                                          shuffle: true, seed: seed, dropLast: true, workers: threads, skipCorrupt: skipCorrupt)
        let test = try validationFolder.count == 0 ? nil
            : ImageFolderSource(folder: validationFolder, transform: .evaluation(size: side, normalization: imageStatistics), batchSize: batchSize,
                                shuffle: false, seed: seed, workers: threads, skipCorrupt: skipCorrupt)
        let split = trainFolder.root == validationFolder.root ? "10% of each class held out" : "train/ and val/ folders"
        return TrainingData(sampleShape: [3, side, side], classes: trainFolder.classes.count, train: train, test: test,
                            description: "image folder \(directory.path): \(trainFolder.count) training, \(validationFolder.count) "
                                + "validation images (\(split)), \(trainFolder.classes.count) classes, \(side)×\(side) crops",
                            classNames: trainFolder.classes, normalization: imageStatistics, preprocessing: .imageNetEvaluation,
                            source: .init(kind: "imagefolder", path: directory.path, validation: .heldOut))
    }

    private func loadDataset(_ kind: String) throws -> (Dataset, Dataset, String) {
        switch kind {
        case "fashion-mnist", "fashion_mnist", "fashionmnist":
            let dir = data.map { URL(fileURLWithPath: UserPath.expanded($0)) } ?? FashionMNIST.defaultDirectory
            return (try FashionMNIST.load(split: .train, directory: dir), try FashionMNIST.load(split: .test, directory: dir),
                    "Fashion-MNIST (\(dir.path))")
        case "mnist":
            let dir = data.map { URL(fileURLWithPath: UserPath.expanded($0)) } ?? MNIST.defaultDirectory
            return (try MNIST.load(split: .train, directory: dir), try MNIST.load(split: .test, directory: dir), "MNIST (\(dir.path))")
        case "cifar10", "cifar-10":
            let dir = data.map { URL(fileURLWithPath: UserPath.expanded($0)) } ?? CIFAR10.defaultDirectory
            return (try CIFAR10.load(split: .train, directory: dir), try CIFAR10.load(split: .test, directory: dir), "CIFAR-10 (\(dir.path))")
        default:
            throw CNNError.invalidArgument("unknown dataset '\(kind)': use fashion-mnist, mnist, cifar10 or imagefolder")
        }
    }
}

/// Guesses the dataset kind of a folder from its file names.
enum DatasetKind {
    /// - Throws: when the folder holds none of the layouts, saying what was looked for in the
    ///   folder the user named (`shown`, as typed), in the terms of the model's kind of input.
    static func detect(in dir: URL, shown: String, rgbModel: Bool) throws -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        if names.contains(where: { $0.hasPrefix("data_batch") || $0 == "test_batch.bin" }) { return "cifar10" }
        let hasIDX = names.contains(where: { $0.contains("-ubyte") })
        if !hasIDX, ImageFolder.isImageFolder(dir) { return "imagefolder" }
        if hasIDX { return "fashion-mnist" }
        if rgbModel {
            throw CNNError.invalidArgument("no class subfolders in \(shown): an image folder is laid out as \(shown)/<class>/<image>.jpg "
                + "(or \(shown)/train/<class>/… and \(shown)/val/<class>/…), one subfolder per class")
        }
        throw CNNError.invalidArgument("\(shown) holds no dataset: no IDX files (train-images-idx3-ubyte[.gz] and the others of "
            + "Fashion-MNIST or MNIST), no CIFAR-10 batches (data_batch_1.bin …) and no class subfolders (\(shown)/<class>/<image>.jpg)")
    }
}

/// Ctrl-C, SIGTERM (what `kill`, systemd and job schedulers send) and SIGHUP (a closed
/// terminal) ask the trainer to save a checkpoint and stop at the next step; a second signal of
/// the same kind ends the process at once.
enum InterruptHandling {
    /// The signal received, stored by the handler (a plain atomic store, safe in a handler).
    private static let signalNumber: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.pointee = SIGINT
        return p
    }()

    static var receivedSignal: Int32 { Int32(signalNumber.pointee) }

    static func install() {
        _ = Trainer.interruptFlag.isSet   // initialize before the handler can run
        _ = signalNumber
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { received in
                InterruptHandling.signalNumber.pointee = sig_atomic_t(received)
                Trainer.interruptFlag.set()
                signal(received, SIG_DFL)
            }
        }
    }
}
