import Foundation

/// Model weights as safetensors files, keyed by parameter name. Zoo models name their layers as
/// torchvision does, so a torchvision `state_dict` saved with `safetensors.torch.save_file`
/// loads without renaming ("conv1.weight", "layer1.0.bn1.running_mean", "fc.bias", …).
public enum ModelWeights {
    /// What a load did, for the user to read.
    public struct LoadReport {
        public var loaded: [String] = []
        /// Parameters kept at their initial values because the file's shape differs and the
        /// caller allowed it (a replaced classifier head).
        public var reinitialized: [String] = []
        /// Keys in the file that the model does not have (e.g. GoogLeNet's auxiliary heads).
        public var unused: [String] = []
    }

    /// Writes every parameter and buffer of `store` (waits for the device).
    public static func export(_ store: ParameterStore, to url: URL, metadata: [String: String] = [:]) throws {
        var file = SafeTensors(metadata: metadata.merging(["format": "pt"]) { a, _ in a })
        for (name, values) in try store.read() {
            let shape = store.entries.first { $0.name == name }!.spec.shape
            file.tensors[name] = .init(shape: shape, values: values)
        }
        try file.write(to: url)
    }

    /// Loads `url` into `store`. Every parameter of the model must be in the file with a
    /// floating-point dtype; a shape that differs is an error unless `mayDiffer(name)` allows
    /// it, in which case the parameter keeps its initial value. Nothing is written unless the
    /// whole file checks out, so a failed load never leaves a half-loaded model.
    @discardableResult
    public static func load(_ url: URL, into store: ParameterStore,
                            mayDiffer: (String) -> Bool = { _ in false }) throws -> LoadReport {
        let file = try SafeTensors.read(from: url)
        return try load(file.tensors, dtypes: file.dtypes, source: url.lastPathComponent, into: store, mayDiffer: mayDiffer)
    }

    /// Loads named tensors already read from `source` (a checkpoint's model part, an imported
    /// state_dict) into `store`, with the same checks as a file: every parameter present, in
    /// floating point, of the model's shape and finite. `dtypes` names the tensors stored in a
    /// type that was not read as floats; `shapeHint` is what a wrong shape most likely means to
    /// this caller ("another --image-size?").
    @discardableResult
    public static func load(_ tensors: [String: SafeTensors.Tensor], dtypes: [String: String] = [:], source: String,
                            into store: ParameterStore,
                            shapeHint: String = "a different --num-classes or --image-size?",
                            mayDiffer: (String) -> Bool = { _ in false }) throws -> LoadReport {
        var report = LoadReport()
        var values: [String: [Float]] = [:]
        var missing: [String] = []
        for entry in store.entries {
            let name = entry.name
            guard let tensor = tensors[name] else {
                if let dtype = dtypes[name] {
                    throw CNNError.invalidArgument("\(source): '\(name)' is stored as \(dtype); the model needs floating-point values")
                }
                missing.append(name)
                continue
            }
            guard tensor.shape == entry.spec.shape else {
                if mayDiffer(name) { report.reinitialized.append(name); continue }
                throw CNNError.invalidArgument("\(source): '\(name)' has shape \(tensor.shape.map(String.init).joined(separator: "×")), "
                    + "the model needs \(entry.spec.shape.map(String.init).joined(separator: "×")) (\(shapeHint))")
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                throw CNNError.invalidArgument("\(source): '\(name)' holds \(tensor.values[bad]) at index \(bad); "
                    + "weights must be finite numbers. The file comes from a diverged run or is corrupt")
            }
            values[name] = tensor.values
            report.loaded.append(name)
        }
        guard missing.isEmpty else {
            let shown = missing.prefix(5).joined(separator: ", ") + (missing.count > 5 ? ", … (\(missing.count) in all)" : "")
            throw CNNError.invalidArgument("\(source) lacks parameters of this model: \(shown). Is it a checkpoint of another model?")
        }
        let known = Set(store.entries.map(\.name))
        report.unused = Set(tensors.keys).union(dtypes.keys)
            .filter { !known.contains($0) && !$0.hasSuffix("num_batches_tracked") }.sorted()
        try store.write(values)
        return report
    }
}
