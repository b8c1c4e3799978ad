import ArgumentParser
import CNNGPU
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained model's weights as safetensors (torchvision parameter names for zoo models).",
        discussion: """
            Reads the checkpoint of a `train` run and writes its weights alone, for `train --weights` or PyTorch. \
            The run's class names, input size and normalization go along in the file's metadata (key "run", JSON), \
            so `predict MODEL --weights FILE` labels its answers.
            """)

    @Argument(help: "The checkpoint folder of a run (runs/MODEL), or one of its checkpoints (checkpoint.safetensors, best.safetensors).")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    func run() throws {
        let url = try UserPath.checkpoint(checkpoint, weightsAllowed: false)
        let c = try Checkpoint.read(from: url)
        let trained = "\(c.epochsCompleted) epoch\(c.epochsCompleted == 1 ? "" : "s")"
        var file = SafeTensors(metadata: ["format": "pt", "model": c.model,
                                          "trained": "\(trained), \(c.step) steps"])
        if let run = c.run {
            file.metadata[RunInfo.metadataKey] = run.json()
        } else {
            FileHandle.standardError.write(Data((RunInfo.unknownNote(source: url.path) + "\n").utf8))
        }
        for (name, values) in c.parameters {
            file.tensors[name] = .init(shape: c.parameterShapes[name] ?? [values.count], values: values)
        }
        try file.write(to: URL(fileURLWithPath: output))
        print("wrote \(c.parameters.count) tensors of \(c.model) (\(trained)) to \(output)")
    }
}
