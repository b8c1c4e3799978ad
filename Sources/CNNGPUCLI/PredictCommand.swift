import ArgumentParser
import CNNGPU
import Foundation

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images with a trained run, or with a model's weights.",
        discussion: """
            MODEL is a run folder of `cnn-gpu train` (runs/lenet5), one of its checkpoints \
            (runs/lenet5/best.safetensors), or a model name with --weights FILE (exported, or a converted \
            torchvision state_dict). A run brings its class names, input size and normalization; images \
            are resized (and center-cropped) to that input as in training, and made gray for one-channel \
            models. A warning says when an image's size differs from the training images' (the answer \
            may then be worse), or when --image-size differs from the training input. \
            Imported weights get torchvision's evaluation transform: shorter side to 256/224 of \
            --image-size (default 224), center crop, the ImageNet mean and deviation; the number of \
            classes is read from the weights' classifier head. Folders are searched recursively for \
            JPEG and PNG files, classified --batch-size at a time.
            """)

    @Argument(help: "A run folder or checkpoint, or a model name with --weights (e.g. resnet50).") var model: String
    @Argument(help: "JPEG or PNG images, or folders of them.") var images: [String]
    @Option(help: "Weights for a model name (safetensors, e.g. from `cnn-gpu export` or a converted torchvision state_dict).")
    var weights: String?
    @OptionGroup var device: DeviceOptions
    @OptionGroup var normalization: NormalizationOptions
    @OptionGroup var imageLimits: ImageLimitOptions
    @Option(help: "Text file with one class name per line (default: the run's class names, else class numbers).") var labels: String?
    @Option(help: "How many classes to show per image.") var top: Int = 5
    @Option(help: "Input side (default: the run's input size, else 224).") var imageSize: Int?
    @Option(help: "Images per forward pass.") var batchSize: Int = 32
    @Flag(help: "Print JSON (per image: the top classes and the full probability vector).") var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image or folder") }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let imageSize {
            guard imageSize >= 8 else { throw ValidationError("--image-size must be at least 8") }
            do { try InputLimits.checkSampleShape([3, imageSize, imageSize], flag: "--image-size") } catch let error as CNNError {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        let source = try ModelSource(model: model, weights: weights)
        let entry = source.entry
        let warn = { (text: String) in FileHandle.standardError.write(Data((text + "\n").utf8)) }
        if source.lacksRunInfo { warn(RunInfo.unknownNote(source: source.origin)) }
        imageLimits.apply()
        let classes = try source.classes()
        var info = try source.run ?? imported(entry: entry, classes: classes)
        guard info.classNames.count == classes else {
            throw CNNError.invalidArgument("\(source.origin) names \(info.classNames.count) classes but its classifier head has \(classes): "
                + "the file is corrupt")
        }
        let trainedSide = info.inputShape[2]
        if let imageSize, imageSize != trainedSide {
            if source.run != nil {
                warn("warning: \(model) was trained on \(trainedSide)×\(trainedSide) inputs; --image-size \(imageSize) runs it at "
                     + "\(imageSize)×\(imageSize), which usually lowers its accuracy")
            }
            info.inputShape = [info.inputShape[0], imageSize, imageSize]
        }
        if normalization.isSet {
            guard info.inputShape[0] == 3 else {
                throw CNNError.invalidArgument("--mean and --std take three values (R,G,B); \(entry.name) takes one-channel images "
                    + "normalized as in training: drop the flags")
            }
            let chosen = try normalization.normalization()
            (info.mean, info.std) = (chosen.mean, chosen.std)
        }
        if let labels {
            let names = try String(contentsOfFile: UserPath.expanded(labels), encoding: .utf8).split(separator: "\n").map(String.init)
            guard names.count == classes else {
                throw CNNError.invalidArgument("--labels has \(names.count) names, the model \(classes) classes")
            }
            info.classNames = names
        }
        let files = try UserPath.images(images)
        let backend = try device.selection().open().backend
        let loaded = try source.load(input: TensorShape(info.inputShape), backend: backend)
        try MemoryBudget.check(graph: loaded.graph, batch: min(batchSize, files.count), training: false, device: backend.info)
        let classifier = Classifier(graph: loaded.graph, parameters: loaded.parameters)

        var mismatched: [String] = []
        var results: [[String: Any]] = []
        for start in stride(from: 0, to: files.count, by: batchSize) {
            let batch = files[start..<min(start + batchSize, files.count)]
            let samples = try batch.map { file -> [Float] in
                let image = try ImageDecoder.decode(contentsOf: file.url)
                // Fixed-size datasets trained on images of exactly this size: anything else is resized.
                if info.preprocessing == .resize, source.run != nil, image.width != trainedSide || image.height != trainedSide {
                    mismatched.append("\(file.shown) (\(image.width)×\(image.height))")
                }
                return try info.sample(from: image)
            }
            let probabilities = try classifier.probabilities(of: samples)
            for (file, p) in zip(batch, probabilities) {
                let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(min(top, classes))
                if json {
                    results.append(["image": file.shown, "probabilities": p,
                                    "top": ranked.map { ["class": $0, "name": info.classNames[$0], "probability": p[$0]] }])
                } else {
                    print(file.shown)
                    for c in ranked { print(String(format: "  %6.2f%%  %@", p[c] * 100, info.classNames[c] as NSString)) }
                }
            }
        }
        if !mismatched.isEmpty {
            warn("warning: \(mismatched.count) of \(files.count) images differ in size from the \(trainedSide)×\(trainedSide) training images "
                 + "and were resized and center-cropped to it: " + mismatched.prefix(3).joined(separator: ", ")
                 + (mismatched.count > 3 ? ", …" : ""))
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// What weights from elsewhere are assumed to want: torchvision's evaluation transform at
    /// 224 (or --image-size) with the ImageNet statistics; numbered classes.
    private func imported(entry: ModelZoo.Entry, classes: Int) throws -> RunInfo {
        let channels = entry.defaultInput.dims[0]
        let side = imageSize ?? (channels == 3 ? 224 : entry.defaultInput.dims[2])
        let statistics = channels == 3 ? ChannelNormalization.imageNet : ChannelNormalization.fashionMNIST
        return RunInfo(model: entry.name, classNames: RunInfo.numberedClasses(classes), inputShape: [channels, side, side],
                       normalization: statistics, preprocessing: channels == 3 ? .imageNetEvaluation : .resize,
                       data: .init(kind: "unknown", path: nil, validation: .none))
    }
}
