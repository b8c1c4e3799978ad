import ArgumentParser
import CNNGPU

/// `--mean` and `--std` for RGB images (image folders, `predict`): the per-channel statistics
/// images are normalized with after scaling to [0, 1]. ImageNet's by default, as torchvision's
/// pretrained models expect. torchvision's pretrained GoogLeNet is the exception: it was built
/// with `transform_input=True`, which amounts to `--mean 0.5,0.5,0.5 --std 0.5,0.5,0.5`.
struct NormalizationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Image folders and predict: per-channel mean of RGB values in [0, 1] (default: ImageNet's 0.485,0.456,0.406).",
                               valueName: "r,g,b"))
    var mean: String?
    @Option(help: ArgumentHelp("Image folders and predict: per-channel standard deviation (default: ImageNet's 0.229,0.224,0.225).",
                               valueName: "r,g,b"))
    var std: String?

    /// Whether the user chose statistics (which only images read from files can use).
    var isSet: Bool { mean != nil || std != nil }

    func normalization() throws -> ChannelNormalization {
        func channels(_ text: String, _ flag: String) throws -> [Float] {
            let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, let floats = values as? [Float], floats.allSatisfy(\.isFinite) else {
                throw ValidationError("\(flag) takes three comma-separated numbers (R,G,B), got '\(text)'")
            }
            return floats
        }
        let mean = try self.mean.map { try channels($0, "--mean") } ?? ChannelNormalization.imageNet.mean
        let std = try self.std.map { try channels($0, "--std") } ?? ChannelNormalization.imageNet.std
        guard std.allSatisfy({ $0 > 0 }) else { throw ValidationError("--std values must be positive, got '\(self.std!)'") }
        return try ChannelNormalization(mean: mean, std: std)
    }

    func validate() throws { _ = try normalization() }
}
