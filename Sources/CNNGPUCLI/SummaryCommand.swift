import ArgumentParser
import CNNGPU

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers, output shapes and parameter counts.",
        discussion: "Models: \(ModelZoo.entries.map { "\n  \($0.name): \($0.summary)" }.joined())")

    @Argument(help: "A model name (see below).")
    var model: String

    @Option(help: "Number of output classes (the classifier head's size).")
    var numClasses: Int = 10

    @Option(help: "Input shape C×H×W, e.g. 3x32x32 (default: the model's own).")
    var inputShape: String?

    @Option(help: "Square input side in pixels, keeping the model's channels (e.g. 64 for resnet18 on 64×64).")
    var imageSize: Int?

    @Option(help: "Batch size for the planned memory of one training step.")
    var batchSize: Int = 64

    func run() throws {
        var input = try inputShape.map(parseShape)
        if let input { try InputLimits.checkSampleShape(input.dims, flag: "--input-shape") }
        if let imageSize {
            guard input == nil else { throw CNNError.invalidArgument("give --input-shape or --image-size, not both") }
            guard imageSize > 0 else { throw CNNError.invalidArgument("--image-size must be positive, got \(imageSize)") }
            input = [try ModelZoo.entry(model).defaultInput.dims[0], imageSize, imageSize]
            try InputLimits.checkSampleShape(input!.dims, flag: "--image-size")
        }
        try CheckedSize.inRange(numClasses, 1...InputLimits.maxClasses, "--num-classes")
        try InputLimits.checkBatchSize(batchSize)
        let graph = try ModelZoo.build(model, input: input, classes: numClasses)
        print(graph.summary(title: "Model: \(model.lowercased())"))
        let activations = try Plan.estimateActivationBytes(graph: graph, batch: batchSize, training: true, backend: CPUBackend())
        let inference = try Plan.estimateActivationBytes(graph: graph, batch: batchSize, training: false, backend: CPUBackend())
        // Weights, their gradients and (SGD with momentum) one optimizer state buffer.
        let parameters = try CheckedSize.product([3 * graph.parameterCount + graph.bufferCount, 4], what: "parameter memory")
        print(String(format: "Planned device memory at batch %d: training step %.1f MiB (activations and gradients %.1f MiB, "
                     + "parameters with gradients and momentum %.1f MiB); inference %.1f MiB",
                     batchSize, Double(activations + parameters) / 1_048_576, Double(activations) / 1_048_576,
                     Double(parameters) / 1_048_576, Double(inference + graph.parameterCount * 4) / 1_048_576))
    }
}

/// "3x224x224" or "3×224×224" → [3, 224, 224].
func parseShape(_ text: String) throws -> TensorShape {
    let parts = text.split(whereSeparator: { $0 == "x" || $0 == "×" || $0 == "," })
    let dims = parts.compactMap { Int($0) }
    guard !dims.isEmpty, dims.count == parts.count, dims.allSatisfy({ $0 > 0 }) else {
        throw CNNError.invalidArgument("cannot read the shape '\(text)': write it like 3x32x32")
    }
    return TensorShape(dims)
}
