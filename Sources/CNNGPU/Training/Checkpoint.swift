import Foundation

/// Everything needed to continue a run exactly: weights and running statistics, optimizer state,
/// the epoch and step reached, and the run's seed. Every random choice of training (data order,
/// augmentation, dropout masks) is derived from (seed, epoch, step), so these few numbers are
/// the whole random state. Stored as one safetensors file, written atomically.
public struct Checkpoint {
    public static let format = "cnn-gpu-checkpoint-1"

    public var model: String
    public var epochsCompleted: Int
    public var step: Int
    public var seed: UInt64
    public var optimizerStep: Int
    public var parameters: [String: [Float]]
    public var parameterShapes: [String: [Int]]
    public var optimizerState: [[Float]]
    /// Per-epoch metrics so far (JSON lines), so curves survive a resume.
    public var history: [String]
    /// The run's batch size and settings, so a resume with different ones is caught.
    public var batchSize: Int
    public var settings: String
    /// Class names, input and preprocessing of the run; nil in checkpoints written before
    /// they were recorded.
    public var run: RunInfo?

    public init(model: String, epochsCompleted: Int, step: Int, seed: UInt64, optimizerStep: Int,
                parameters: [String: [Float]], parameterShapes: [String: [Int]], optimizerState: [[Float]],
                history: [String], batchSize: Int, settings: String, run: RunInfo? = nil) {
        self.model = model; self.epochsCompleted = epochsCompleted; self.step = step; self.seed = seed
        self.optimizerStep = optimizerStep; self.parameters = parameters; self.parameterShapes = parameterShapes
        self.optimizerState = optimizerState; self.history = history
        self.batchSize = batchSize; self.settings = settings; self.run = run
    }

    public func write(to url: URL) throws {
        for name in parameters.keys.sorted() { try Checkpoint.checkFinite(parameters[name]!, name: "model." + name, step: step) }
        for (k, values) in optimizerState.enumerated() { try Checkpoint.checkFinite(values, name: "optimizer.state\(k)", step: step) }
        var file = SafeTensors(metadata: [
            "format": Checkpoint.format, "model": model, "epochs_completed": "\(epochsCompleted)",
            "step": "\(step)", "seed": "\(seed)", "optimizer_step": "\(optimizerStep)",
            "history": history.joined(separator: "\n"), "batch_size": "\(batchSize)", "settings": settings,
        ])
        if let run { file.metadata[RunInfo.metadataKey] = run.json() }
        for (name, values) in parameters {
            file.tensors["model." + name] = .init(shape: parameterShapes[name] ?? [values.count], values: values)
        }
        for (k, values) in optimizerState.enumerated() {
            file.tensors["optimizer.state\(k)"] = .init(shape: [values.count], values: values)
        }
        try file.write(to: url)
    }

    public static func read(from url: URL) throws -> Checkpoint {
        try decode(try SafeTensors.read(from: url), source: url.path)
    }

    /// The checkpoint held by a safetensors file's contents; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> Checkpoint {
        try decode(try SafeTensors.decode(data, source: source), source: source)
    }

    private static func decode(_ file: SafeTensors, source: String) throws -> Checkpoint {
        let m = file.metadata
        guard m["format"] == format, let model = m["model"], let epochs = m["epochs_completed"].flatMap(Int.init),
              let step = m["step"].flatMap(Int.init), let seed = m["seed"].flatMap(UInt64.init),
              let optimizerStep = m["optimizer_step"].flatMap(Int.init),
              let batchSize = m["batch_size"].flatMap(Int.init) else {
            throw CNNError.invalidArgument("'\(source)' is not a cnn-gpu checkpoint (its metadata lacks the training state)")
        }
        // Counters from a file are checked before they are used: a negative step would trap
        // where it becomes a seed, a negative epoch count would replay epochs.
        for (key, value) in [("epochs_completed", epochs), ("step", step), ("optimizer_step", optimizerStep)] where value < 0 {
            throw CNNError.invalidArgument("'\(source)': its \(key) is \(value), which cannot be negative: the checkpoint is corrupt")
        }
        guard batchSize > 0 else {
            throw CNNError.invalidArgument("'\(source)': its batch_size is \(batchSize), which must be positive: the checkpoint is corrupt")
        }
        if let bad = file.firstNonFinite() {
            throw CNNError.invalidArgument("'\(source)': tensor '\(bad.name)' holds \(bad.value) at index \(bad.index); "
                + "a checkpoint must hold finite numbers. It was saved after training diverged or is corrupt")
        }
        var parameters: [String: [Float]] = [:], shapes: [String: [Int]] = [:], state: [(Int, [Float])] = []
        for (name, t) in file.tensors {
            if name.hasPrefix("model.") {
                let key = String(name.dropFirst(6))
                parameters[key] = t.values; shapes[key] = t.shape
            } else if name.hasPrefix("optimizer.state"), let k = Int(name.dropFirst("optimizer.state".count)) {
                state.append((k, t.values))
            }
        }
        let history = (m["history"] ?? "").split(separator: "\n").map(String.init)
        return Checkpoint(model: model, epochsCompleted: epochs, step: step, seed: seed, optimizerStep: optimizerStep,
                          parameters: parameters, parameterShapes: shapes,
                          optimizerState: state.sorted { $0.0 < $1.0 }.map(\.1), history: history,
                          batchSize: batchSize, settings: m["settings"] ?? "",
                          run: try RunInfo.from(metadata: m, source: source))
    }

    /// Checks a resumed run's counters against its data: `stepsPerEpoch` full batches per
    /// epoch. The step must lie within the epoch after the completed ones, or the resumed run
    /// would skip or replay batches while logging them as trained.
    public static func validateCounters(epochsCompleted: Int, step: Int, stepsPerEpoch: Int, source: URL?) throws {
        let (done, overflow) = epochsCompleted.multipliedReportingOverflow(by: stepsPerEpoch)
        guard epochsCompleted >= 0, !overflow, step >= done, step - done < stepsPerEpoch else {
            let range = overflow ? "" : ", but with \(stepsPerEpoch) steps per epoch it must lie in \(done)..<\(done + stepsPerEpoch)"
            throw CNNError.invalidArgument("--resume: \(source.map { "'\($0.path)'" } ?? "the checkpoint") says \(epochsCompleted) "
                + "epochs are complete at step \(step)\(range). The checkpoint is corrupt or from another dataset or batch size: "
                + "start afresh with --overwrite")
        }
    }

    /// Refuses to save NaN or infinite values: such a checkpoint could never be resumed
    /// usefully, and writing it would replace the last good one.
    static func checkFinite(_ values: [Float], name: String, step: Int) throws {
        guard let bad = values.firstIndex(where: { !$0.isFinite }) else { return }
        throw CNNError.invalidArgument("training diverged: '\(name)' holds \(values[bad]) at index \(bad) after step \(step), "
            + "so no checkpoint was saved (the one on disk, if any, is left as it was). Lower the learning rate (--lr)")
    }
}
