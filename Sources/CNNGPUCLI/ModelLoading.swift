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

/// What `evaluate` and `visualize` accept as MODEL: a run folder (`runs/lenet5`, with the
/// `checkpoint.safetensors` that `train` writes) or a zoo name with `--weights FILE` (exported
/// weights, a converted torchvision state_dict, or a checkpoint).
struct ModelSource {
    let entry: ModelZoo.Entry
    /// Parameter values by name ("conv1.weight").
    let values: [String: SafeTensors.Tensor]
    let origin: String
    /// Freshly initialized weights (seeded) instead of trained ones, with this many classes.
    let untrained: (classes: Int, seed: UInt64)?

    /// A zoo model with its initial weights: what an untrained network sees.
    init(untrained model: String, classes: Int?, seed: UInt64) throws {
        entry = try ModelZoo.entry(model)
        values = [:]
        untrained = (classes ?? (entry.defaultInput.dims.first == 3 ? 1000 : 10), seed)
        origin = "initial weights (untrained, seed \(seed))"
    }

    init(model: String, weights: String?) throws {
        untrained = nil
        var isDirectory: ObjCBool = false
        let url: URL
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
            guard weights == nil else {
                throw CNNError.invalidArgument("give either a run folder (\(model)) or a model name with --weights, not both")
            }
            url = URL(fileURLWithPath: model).appendingPathComponent("checkpoint.safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw CNNError.invalidArgument("\(model) has no checkpoint.safetensors: is it a run folder of `cnn-gpu train`? "
                    + "Or give a model name and --weights FILE")
            }
        } else {
            guard let weights else {
                _ = try ModelZoo.entry(model)
                throw CNNError.invalidArgument("\(model) is a model name: give its weights with --weights FILE, or a run folder instead")
            }
            url = URL(fileURLWithPath: weights)
        }
        let file = try SafeTensors.read(from: url)
        if file.metadata["format"] == Checkpoint.format {
            guard let name = file.metadata["model"] else {
                throw CNNError.invalidArgument("\(url.path) is a checkpoint without a model name")
            }
            entry = try ModelZoo.entry(FileManager.default.fileExists(atPath: model) ? name : model)
            var values: [String: SafeTensors.Tensor] = [:]
            for (key, t) in file.tensors where key.hasPrefix("model.") { values[String(key.dropFirst(6))] = t }
            self.values = values
        } else {
            entry = try ModelZoo.entry(model)
            values = file.tensors
        }
        origin = url.path
    }

    /// The number of classes: the rows of the classifier head's weight.
    func classes() throws -> Int {
        if let untrained { return untrained.classes }
        let probe = try ModelZoo.build(entry.name, input: entry.defaultInput, classes: 10)
        guard let head = probe.nodes.last(where: { $0.parameters.contains { $0.trainable } }) else { return 10 }
        let key = "\(head.name).weight"
        guard let rows = values[key]?.shape.first else {
            throw CNNError.invalidArgument("\(origin) has no '\(key)': is it a \(entry.name) model?")
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
        var chosen: [String: [Float]] = [:]
        for e in store.entries {
            guard let t = values[e.name] else {
                throw CNNError.invalidArgument("\(origin) lacks '\(e.name)' of \(entry.name): is it another model's weights?")
            }
            guard t.values.count == e.spec.count else {
                throw CNNError.invalidArgument("\(origin): '\(e.name)' has shape \(t.shape.map(String.init).joined(separator: "×")); "
                    + "\(entry.name) at input \(input) needs \(e.spec.shape.map(String.init).joined(separator: "×")) "
                    + "(another --image-size?)")
            }
            chosen[e.name] = t.values
        }
        try store.write(chosen)
        return LoadedModel(name: entry.name, graph: graph, parameters: store, origin: origin)
    }
}
