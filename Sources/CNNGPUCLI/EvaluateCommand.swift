import ArgumentParser
import CNNGPU
import Foundation

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a trained classifier: loss, top-1/top-5, per-class precision/recall/F1, confusion matrix.",
        discussion: """
            MODEL is a run folder of `cnn-gpu train` (runs/lenet5), one of its checkpoints \
            (runs/lenet5/best.safetensors), or a model name with --weights FILE. A run is evaluated on \
            the data it trained with, at its input size and normalization, with its class names, unless \
            --data or --dataset say otherwise. Data as `train` takes it (--data, --dataset); otherwise the \
            test split of the default data `train` uses: Fashion-MNIST (normalized with its training set's \
            statistics, as `train` does), or for RGB ImageNet models its Fashion-MNIST stand-in at --image-size. Image folders are evaluated \
            on their validation images (DIR/val/, or the 10% `train` holds out). Writes confusion.png (a \
            heat map labelled with class names), mistakes.png (the most confidently misclassified images \
            with their true and predicted labels) and, with --json, everything for scripts.
            """)

    @Argument(help: "A run folder, or a model name with --weights.") var model: String
    @Option(help: "Weights (safetensors: exported, converted from torchvision, or a checkpoint).") var weights: String?
    @Flag(help: "Evaluate the model's initial weights (seed 1): the chance-level baseline.") var untrained = false
    @OptionGroup var device: DeviceOptions
    @OptionGroup var normalization: NormalizationOptions
    @Option(help: "Dataset folder, as for `train`.") var data: String?
    @Option(help: "Dataset kind: fashion-mnist, mnist, cifar10 or imagefolder (default: detected from --data).") var dataset: String?
    @Option(help: "Image side for image folders and the stand-in data of RGB models.") var imageSize: Int?
    @Option(help: "Samples per forward pass.") var batchSize: Int = 256
    @Option(help: "Text file with one class name per line (default: the dataset's names, else the class numbers).") var labels: String?
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(help: "Folder for confusion.png and mistakes.png (default: RUN/evaluation, or evaluation/MODEL).") var output: String?
    @Option(help: "How many misclassified images to show.") var mistakes: Int = 24

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        guard mistakes >= 0 else { throw ValidationError("--mistakes must be zero or positive, got \(mistakes)") }
        if untrained && weights != nil { throw ValidationError("--untrained and --weights exclude each other") }
        if let imageSize, imageSize < 8 { throw ValidationError("--image-size must be at least 8, got \(imageSize)") }
    }

    func run() throws {
        let trained = untrained ? nil : try ModelSource(model: model, weights: weights)
        let entry = try trained?.entry ?? ModelZoo.entry(model)
        let run = trained?.run
        if trained?.lacksRunInfo == true { FileHandle.standardError.write(Data((RunInfo.unknownNote(source: trained!.origin) + "\n").utf8)) }
        let selected = try device.selection().open()
        // Without --data/--dataset a run is evaluated on what it trained with.
        var (dataPath, datasetKind) = (data, dataset)
        if data == nil, dataset == nil, let run {
            switch run.data.kind {
            case "synthetic":
                throw CNNError.invalidArgument("\(model) trained on synthetic data, which has nothing to evaluate: give --data DIR")
            case "fashion-mnist-stand-in": break   // what the defaults load
            default: (dataPath, datasetKind) = (run.data.path, run.data.kind)
            }
            if let recorded = run.data.path, !FileManager.default.fileExists(atPath: recorded) {
                throw CNNError.invalidArgument("\(model) was trained on \(recorded), which no longer exists: give the data with --data DIR")
            }
        }
        if let imageSize, let run, imageSize != run.inputShape[2] {
            let text = "warning: \(model) was trained on \(run.inputShape[2])×\(run.inputShape[2]) inputs; "
                + "--image-size \(imageSize) evaluates it at another size, which usually lowers its accuracy\n"
            FileHandle.standardError.write(Data(text.utf8))
        }
        let recordedNormalization = normalization.isSet ? nil : run.flatMap { try? $0.normalization }
        let data = try EvaluationData.load(entry: entry, data: dataPath, dataset: datasetKind, imageSize: imageSize ?? run?.inputShape[2],
                                           batchSize: batchSize, normalization: normalization, recorded: recordedNormalization)
        let classCount = data.classNames.isEmpty ? nil : data.classNames.count
        let source = try trained ?? ModelSource(untrained: model, classes: classCount ?? 10, seed: 1)
        let loaded = try source.load(input: data.sampleShape, backend: selected.backend)
        let classes = loaded.graph.outputShape.count
        var names = try labels.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").map(String.init) }
            ?? run?.classNames ?? data.classNames
        if names.count != classes {
            guard labels == nil else { throw CNNError.invalidArgument("--labels has \(names.count) names, the model \(classes) classes") }
            names = (0..<classes).map { "class \($0)" }
        }
        print("model     \(loaded.name) from \(loaded.origin), input \(loaded.graph.inputShape), \(classes) classes")
        print("device    \(selected.backend.info.name) (\(selected.backend.info.backend)) — \(selected.reason)")
        print("data      \(data.description)")
        let report = try ClassificationReport.evaluate(graph: loaded.graph, parameters: loaded.parameters, data: data.source,
                                                       classNames: names, keepMistakes: mistakes)
        print(report.text)

        // Pictures of a run go into its folder (the checkpoint's folder when a file was given).
        let runFolder = trained.flatMap { $0.run != nil || $0.lacksRunInfo ? URL(fileURLWithPath: $0.origin).deletingLastPathComponent() : nil }
        let dir = URL(fileURLWithPath: output ?? (weights == nil ? runFolder?.appendingPathComponent("evaluation").path : nil)
                                       ?? "evaluation/\(loaded.name)")
        let confusionURL = dir.appendingPathComponent("confusion.png")
        try report.confusion.heatmap(names: names, title: String(format: "%@ on %@: top-1 %.2f%%", loaded.name, data.shortName,
                                                                 report.top1 * 100)).writePNG(to: confusionURL)
        print("\nconfusion matrix → \(confusionURL.path)")
        if !report.mistakes.isEmpty {
            let mistakesURL = dir.appendingPathComponent("mistakes.png")
            let shape = loaded.graph.inputShape.dims
            let picture = { (sample: [Float]) in
                Canvas(chw: data.normalization?.denormalized(sample, channels: shape[0]) ?? sample,
                       channels: shape[0] == 3 ? 3 : 1, width: shape[2], height: shape[1])
            }
            try report.mistakesGrid(toPicture: picture, title: "\(loaded.name): most confident mistakes on \(data.shortName)")
                .writePNG(to: mistakesURL)
            print("mistakes         → \(mistakesURL.path)")
        }
        if let json {
            try report.json(model: loaded.name).write(to: URL(fileURLWithPath: json))
            print("json             → \(json)")
        }
    }
}

/// The evaluation split and how its samples were normalized (to show them as pictures again).
struct EvaluationData {
    var sampleShape: TensorShape
    var classNames: [String]
    var source: BatchSource
    var normalization: ChannelNormalization?
    var description: String
    var shortName: String

    /// `recorded`: the statistics a run's image folder was normalized with, used unless --mean/--std are given.
    static func load(entry: ModelZoo.Entry, data: String?, dataset: String?, imageSize: Int?, batchSize: Int,
                     normalization options: NormalizationOptions, recorded: ChannelNormalization? = nil) throws -> EvaluationData {
        if data == nil, dataset == nil, entry.defaultInput.dims.first == 3 {
            let demo = try DemoData.load(for: entry, imageSize: imageSize, batchSize: batchSize)
            return try inMemory(train: demo.train, test: demo.test, batchSize: batchSize,
                                name: "Fashion-MNIST stand-in (the test images `train \(entry.name)` uses without --data)",
                                shortName: "Fashion-MNIST")
        }
        let dir = try data.map(UserPath.dataFolder)
        let kind = try dataset?.lowercased() ?? data.map { try DatasetKind.detect(in: dir!, shown: $0, rgbModel: entry.defaultInput.dims.first == 3) }
            ?? "fashion-mnist"
        switch kind {
        case "imagefolder":
            guard let dir else { throw CNNError.invalidArgument("--dataset imagefolder needs --data DIR") }
            let side = imageSize ?? 224
            let (_, validation) = try ImageFolder.splits(at: dir, validationFraction: 0.1, seed: 0)
            guard validation.count > 0 else { throw CNNError.invalidArgument("\(dir.path) has no validation images to evaluate") }
            let statistics = try recorded ?? options.normalization()
            let source = try ImageFolderSource(folder: validation, transform: .evaluation(size: side, normalization: statistics),
                                               batchSize: batchSize, shuffle: false, seed: 0)
            return EvaluationData(sampleShape: [3, side, side], classNames: validation.classes, source: source,
                                  normalization: statistics,
                                  description: "image folder \(dir.path): \(validation.count) validation images, \(side)×\(side) center crops",
                                  shortName: dir.lastPathComponent)
        case "fashion-mnist", "fashion_mnist", "fashionmnist":
            let d = dir ?? FashionMNIST.defaultDirectory
            return try inMemory(train: FashionMNIST.load(split: .train, directory: d), test: FashionMNIST.load(split: .test, directory: d),
                                batchSize: batchSize, name: "Fashion-MNIST test split (\(d.path))", shortName: "Fashion-MNIST")
        case "mnist":
            let d = dir ?? MNIST.defaultDirectory
            return try inMemory(train: MNIST.load(split: .train, directory: d), test: MNIST.load(split: .test, directory: d),
                                batchSize: batchSize, name: "MNIST test split (\(d.path))", shortName: "MNIST")
        case "cifar10", "cifar-10":
            let d = dir ?? CIFAR10.defaultDirectory
            return try inMemory(train: CIFAR10.load(split: .train, directory: d), test: CIFAR10.load(split: .test, directory: d),
                                batchSize: batchSize, name: "CIFAR-10 test split (\(d.path))", shortName: "CIFAR-10")
        default:
            throw CNNError.invalidArgument("unknown dataset '\(kind)': use fashion-mnist, mnist, cifar10 or imagefolder")
        }
    }

    /// The test split normalized with the training split's statistics, as `train` normalizes it.
    private static func inMemory(train: Dataset, test: Dataset, batchSize: Int, name: String, shortName: String) throws -> EvaluationData {
        let statistics = try ChannelNormalization(fittedTo: train)
        let loader = try BatchLoader(dataset: test, batchSize: batchSize, shuffle: false, seed: 0, normalization: statistics, dropLast: false)
        return EvaluationData(sampleShape: test.sampleShape,
                              classNames: test.classNames.count == test.classes ? test.classNames : [],
                              source: loader, normalization: statistics,
                              description: "\(name): \(test.count) images, \(test.classes) classes", shortName: shortName)
    }
}

extension ChannelNormalization {
    /// A normalized CHW sample back in [0, 1] (x · std + mean per channel), to show it.
    func denormalized(_ sample: [Float], channels: Int) -> [Float] {
        guard mean.count == channels else { return sample }
        let plane = sample.count / channels
        return sample.enumerated().map { i, v in v * std[i / plane] + mean[i / plane] }
    }
}
