import ArgumentParser
import CNNGPU

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers, output shapes, parameter counts, multiply-adds and memory.",
        discussion: """
            With no options, the published model: 1000 classes at 3×224×224 for the ImageNet models \
            (the totals match torchvision's), 10 classes at 1×28×28 for LeNet-5. The planned memory \
            depends on the device's algorithms (--device).
            Models: \(ModelZoo.entries.map { "\n  \($0.name): \($0.summary)" }.joined())
            """)

    @Argument(help: "A model name (see below).")
    var model: String

    @OptionGroup var device: DeviceOptions

    @Option(help: "Number of output classes, the classifier head's size (default: the published model's, 1000 for ImageNet models).")
    var numClasses: Int?

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
        let classes = try numClasses ?? ModelZoo.entry(model).publishedClasses
        try CheckedSize.inRange(classes, 1...InputLimits.maxClasses, "--num-classes")
        try InputLimits.checkBatchSize(batchSize)
        let graph = try ModelZoo.build(model, input: input, classes: classes)
        let selected = try device.selection().open()
        let backend = selected.backend
        print(graph.summary(title: "Model: \(model.lowercased()), input \(graph.inputShape), \(classes) classes"))
        // Parameters with their buffers, then the activations one image needs (torchinfo's
        // "estimated total size"), as the memory planner lays them out on this device.
        let parameterBytes = (graph.parameterCount + graph.bufferCount) * 4
        let perImageInference = try Plan.estimateActivationBytes(graph: graph, batch: 1, training: false, backend: backend)
        let perImageTraining = try Plan.estimateActivationBytes(graph: graph, batch: 1, training: true, backend: backend)
        print("Estimated size for one image: parameters \(mib(parameterBytes)), activations \(mib(perImageInference)) for "
              + "inference and \(mib(perImageTraining)) for a training step; total \(mib(parameterBytes + perImageInference)) "
              + "(inference)")
        let activations = try Plan.estimateActivationBytes(graph: graph, batch: batchSize, training: true, backend: backend)
        let inference = try Plan.estimateActivationBytes(graph: graph, batch: batchSize, training: false, backend: backend)
        // Weights, their gradients and (SGD with momentum) one optimizer state buffer.
        let parameters = try CheckedSize.product([3 * graph.parameterCount + graph.bufferCount, 4], what: "parameter memory")
        print("Planned memory on \(backend.info.name) at batch \(batchSize): training step \(mib(activations + parameters)) "
              + "(activations and gradients \(mib(activations)), parameters with gradients and momentum \(mib(parameters))); "
              + "inference \(mib(inference + graph.parameterCount * 4))")
    }

    private func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
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
