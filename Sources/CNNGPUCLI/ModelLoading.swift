import CNNGPU
import Foundation

/// A trained model ready to look at: the zoo graph at the chosen input shape, with its weights
/// from a run folder's checkpoint or a weights file, on one backend.
struct LoadedModel {
    let name: String
    let graph: Graph
    let parameters: ParameterStore
    /// Where the weights came from, for the console.
    let origin: String
}

/// What `predict`, `evaluate` and `visualize` accept as MODEL: a run folder (`runs/lenet5`,
/// with the `checkpoint.safetensors` that `train` writes), a checkpoint or exported file, or a
/// zoo name with `--weights FILE` (exported weights, a converted torchvision state_dict, or a
/// checkpoint).
struct ModelSource {
    let entry: ModelZoo.Entry
    /// Parameter values by name ("conv1.weight").
    let values: [String: SafeTensors.Tensor]
    let origin: String
    /// Class names, input and preprocessing recorded by `train` (nil for imported weights and
    /// for checkpoints written before they were recorded).
    let run: RunInfo?
    /// A cnn-gpu checkpoint or export without run information: its user should be told what is unknown.
    let lacksRunInfo: Bool
    /// Freshly initialized weights (seeded) instead of trained ones, with this many classes.
    let untrained: (classes: Int, seed: UInt64)?

    /// A zoo model with its initial weights: what an untrained network sees.
    init(untrained model: String, classes: Int?, seed: UInt64) throws {
        entry = try ModelZoo.entry(model)
        values = [:]
        untrained = (classes ?? (entry.defaultInput.dims.first == 3 ? 1000 : 10), seed)
        origin = "initial weights (untrained, seed \(seed))"
        run = nil
        lacksRunInfo = false
    }

    init(model: String, weights: String?) throws {
        untrained = nil
        let url: URL
        let isPath = UserPath.looksLikePath(model)
        if isPath {
            guard weights == nil else {
                throw CNNError.invalidArgument("give either a run folder or checkpoint (\(model)) or a model name with --weights, not both")
            }
            url = try UserPath.checkpoint(model)
        } else {
            guard let weights else {
                _ = try ModelZoo.entry(model)
                throw CNNError.invalidArgument("\(model) is a model name: give its weights with --weights FILE, or a run folder instead")
            }
            url = try UserPath.existingFile(weights, flag: "--weights")
        }
        let file = try SafeTensors.read(from: url)
        let isCheckpoint = file.metadata["format"] == Checkpoint.format
        run = try RunInfo.from(metadata: file.metadata, source: url.path)
        // A file this tool wrote (checkpoint or export) names its model; imported files do not.
        let recorded = file.metadata["model"].flatMap { try? ModelZoo.entry($0) }
        lacksRunInfo = run == nil && (isCheckpoint || recorded != nil)
        if isPath {
            guard let recorded else {
                throw CNNError.invalidArgument("\(url.path) does not say which model it holds (it was not written by `cnn-gpu train` "
                    + "or `export`): give the model name and the file with --weights, e.g. `resnet18 --weights \(model)`")
            }
            entry = recorded
        } else {
            entry = try ModelZoo.entry(model)
        }
        if isCheckpoint {
            var values: [String: SafeTensors.Tensor] = [:]
            for (key, t) in file.tensors where key.hasPrefix("model.") { values[String(key.dropFirst(6))] = t }
            self.values = values
        } else {
            values = file.tensors
        }
        origin = url.path
    }

    /// The number of classes: the rows of the classifier head's weight, checked against the
    /// model's head before a model of that many classes is built (a file claiming a
    /// [3000000, 0] head must not make us allocate a three-million-class model).
    func classes() throws -> Int {
        if let untrained { return untrained.classes }
        let probe = try ModelZoo.build(entry.name, input: entry.defaultInput, classes: 10)
        guard let head = probe.nodes.last(where: { $0.parameters.contains { $0.trainable } }),
              let weight = head.parameters.first(where: { $0.name == "weight" }) else { return 10 }
        let key = "\(head.name).weight"
        guard let shape = values[key]?.shape, let rows = shape.first else {
            throw CNNError.invalidArgument("\(origin) has no '\(key)': is it a \(entry.name) model?")
        }
        let expected = Array(weight.shape.dropFirst())
        guard Array(shape.dropFirst()) == expected, (1...InputLimits.maxClasses).contains(rows) else {
            throw CNNError.invalidArgument("\(origin): '\(key)' has shape \(shape.map(String.init).joined(separator: "×")); "
                + "\(entry.name)'s head needs N×\(expected.map(String.init).joined(separator: "×")) with 1 ≤ N ≤ \(InputLimits.maxClasses) "
                + "classes. Is it a \(entry.name) model?")
        }
        return rows
    }

    /// Builds the model for inputs of `input` and loads every parameter.
    /// - Throws: naming the parameter when one is missing or has another shape.
    func load(input: TensorShape, backend: any Backend) throws -> LoadedModel {
        let graph = try ModelZoo.build(entry.name, input: input, classes: try classes())
        if let untrained {
            let store = try ParameterStore(graph: graph, backend: backend, seed: untrained.seed)
            return LoadedModel(name: entry.name, graph: graph, parameters: store, origin: origin)
        }
        let store = try ParameterStore(graph: graph, backend: backend, seed: 0, initialize: false)
        try ModelWeights.load(values, source: origin, into: store,
                              shapeHint: "\(entry.name) at input \(input); another --image-size?")
        return LoadedModel(name: entry.name, graph: graph, parameters: store, origin: origin)
    }
}
