import ArgumentParser
import CNNGPU
import Foundation

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images with a model's weights (torchvision's evaluation transform).",
        discussion: """
            Each image is resized so its shorter side is 256/224 of --image-size, center-cropped to \
            --image-size, and normalized with the ImageNet mean and deviation, as torchvision evaluates. \
            The number of classes is read from the weights' classifier head.
            """)

    @Argument(help: "Model name (an RGB zoo model, e.g. resnet50).") var model: String
    @Option(help: "Weights (safetensors, e.g. from `cnn-gpu export` or a converted torchvision state_dict).") var weights: String
    @Argument(help: "JPEG or PNG images.") var images: [String]
    @OptionGroup var device: DeviceOptions
    @OptionGroup var normalization: NormalizationOptions
    @OptionGroup var imageLimits: ImageLimitOptions
    @Option(help: "Text file with one class name per line.") var labels: String?
    @Option(help: "How many classes to show per image.") var top: Int = 5
    @Option(help: "Input side.") var imageSize: Int = 224
    @Flag(help: "Print JSON (per image: the top classes and the full probability vector).") var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard imageSize >= 8 else { throw ValidationError("--image-size must be at least 8") }
        do { try InputLimits.checkSampleShape([3, imageSize, imageSize], flag: "--image-size") } catch let error as CNNError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let entry = try ModelZoo.entry(model)
        guard entry.defaultInput.dims.first == 3 else {
            throw CNNError.invalidArgument("predict classifies RGB images; \(entry.name) takes \(entry.defaultInput) inputs")
        }
        imageLimits.apply()
        let weightsURL = URL(fileURLWithPath: weights)
        let classes = try headClasses(entry: entry, weights: weightsURL)
        let graph = try ModelZoo.build(entry.name, input: [3, imageSize, imageSize], classes: classes)
        let backend = try device.selection().open().backend
        try MemoryBudget.check(graph: graph, batch: images.count, training: false, device: backend.info)
        let classifier = try Classifier(graph: graph, weights: weightsURL, backend: backend)
        let names = try labels.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").map(String.init) }
        if let names, names.count != classes {
            throw CNNError.invalidArgument("--labels has \(names.count) names, the model \(classes) classes")
        }
        let transform = try ImageNetTransform.evaluation(size: imageSize, normalization: normalization.normalization())
        let samples = try images.map { transform.apply(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0)), seed: 0, epoch: 0, index: 0) }
        let probabilities = try classifier.probabilities(of: samples)
        var results: [[String: Any]] = []
        for (path, p) in zip(images, probabilities) {
            let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(min(top, classes))
            if json {
                results.append(["image": path, "top": ranked.map { ["class": $0, "name": names?[$0] ?? "\($0)", "probability": p[$0]] },
                                "probabilities": p])
            } else {
                print(path)
                for c in ranked { print(String(format: "  %6.2f%%  %@", p[c] * 100, (names?[c] ?? "class \(c)") as NSString)) }
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// The class count of the weights' classifier head (the last trainable parameter's rows),
    /// checked against the model's head before a model of that many classes is built: a file
    /// claiming a [3000000, 0] head must not make us allocate a three-million-class model.
    private func headClasses(entry: ModelZoo.Entry, weights: URL) throws -> Int {
        let probe = try ModelZoo.build(entry.name, input: entry.defaultInput, classes: 1000)
        guard let head = probe.nodes.last(where: { $0.parameters.contains { $0.trainable } }),
              let weight = head.parameters.first(where: { $0.name == "weight" }) else { return 1000 }
        let key = "\(head.name).\(weight.name)"
        guard let shape = try SafeTensors.read(from: weights).tensors[key]?.shape, let rows = shape.first else {
            throw CNNError.invalidArgument("\(weights.lastPathComponent) has no '\(key)': is it a \(entry.name) model?")
        }
        let expected = weight.shape.dropFirst()
        guard Array(shape.dropFirst()) == Array(expected), (1...InputLimits.maxClasses).contains(rows) else {
            throw CNNError.invalidArgument("\(weights.lastPathComponent): '\(key)' has shape \(shape.map(String.init).joined(separator: "×")); "
                + "\(entry.name)'s head needs N×\(expected.map(String.init).joined(separator: "×")) with 1 ≤ N ≤ \(InputLimits.maxClasses) "
                + "classes. Is it a \(entry.name) model?")
        }
        return rows
    }
}
