import ArgumentParser
import CNNGPU

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers, output shapes and parameter counts.",
        discussion: "Models: \(ModelZoo.entries.map { "\n  \($0.name): \($0.summary)" }.joined())")

    @Argument(help: "A model name (see below).")
    var model: String

    @Option(help: "Number of output classes.")
    var numClasses: Int = 10

    @Option(help: "Input shape C×H×W, e.g. 3x32x32 (default: the model's own).")
    var inputShape: String?

    func run() throws {
        do {
            let input = try inputShape.map(parseShape)
            let graph = try ModelZoo.build(model, input: input, classes: numClasses)
            print(graph.summary(title: "Model: \(model.lowercased())"))
        } catch let error as CNNError {
            throw ValidationError(error.description)
        }
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
