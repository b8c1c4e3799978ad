import ArgumentParser
import CNNGPU
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained model's weights as safetensors (torchvision parameter names for zoo models).",
        discussion: "Reads the checkpoint of a `train` run and writes its weights alone, for `train --weights` or PyTorch.")

    @Argument(help: "The checkpoint folder of a run (runs/MODEL) or its checkpoint.safetensors.")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    func run() throws {
        var url = URL(fileURLWithPath: checkpoint)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            url.appendPathComponent("checkpoint.safetensors")
        }
        let c = try Checkpoint.read(from: url)
        var file = SafeTensors(metadata: ["format": "pt", "model": c.model,
                                          "trained": "\(c.epochsCompleted) epochs, \(c.step) steps"])
        for (name, values) in c.parameters {
            file.tensors[name] = .init(shape: c.parameterShapes[name] ?? [values.count], values: values)
        }
        try file.write(to: URL(fileURLWithPath: output))
        print("wrote \(c.parameters.count) tensors of \(c.model) (\(c.epochsCompleted) epochs) to \(output)")
    }
}
