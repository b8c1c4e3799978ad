import ArgumentParser
import CNNGPU
import Foundation

struct VisualizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visualize",
        abstract: "Look inside a trained model: saliency, guided backprop, Grad-CAM, feature maps, filters, class models.",
        discussion: """
            MODEL is a run folder of `cnn-gpu train` (runs/lenet5) or a model name with --weights FILE. \
            Images (JPEG or PNG) are resized and center-cropped to the model's input (a run's own input \
            size, statistics and class names; otherwise --image-size, grey-scale for one-channel models \
            such as LeNet-5, normalized with Fashion-MNIST's statistics; RGB models with --mean/--std, \
            ImageNet's by default). Layers are named as `cnn-gpu summary` \
            names them. Gradients come from the layers' own backward ops on the chosen device, with the \
            model evaluated as at inference (batch norm on running statistics, no dropout). \
            Pictures go to --output: per image NAME-saliency.png, NAME-guided-backprop.png, \
            NAME-grad-cam-LAYER.png, NAME-feature-maps-LAYER.png; per model filters-LAYER.png and \
            class-model-CLASS.png.
            """)

    @Argument(help: "A run folder, or a model name with --weights.") var model: String
    @Argument(help: "JPEG or PNG images.") var images: [String] = []
    @Option(help: "Weights (safetensors: exported, converted from torchvision, or a checkpoint).") var weights: String?
    @Flag(help: "Use the model's initial weights (seeded by --seed) instead of trained ones: what an untrained network sees.")
    var untrained = false
    @Option(help: "With --untrained: the number of classes (default 1000 for RGB models, else 10).") var numClasses: Int?
    @Option(help: "With --untrained: the initialization seed.") var seed: UInt64 = 1
    @OptionGroup var device: DeviceOptions
    @OptionGroup var normalization: NormalizationOptions

    @Flag(help: "The gradient of the class score with respect to the input, as a heat map and overlaid.") var saliency = false
    @Flag(help: "The same with guided backpropagation (ReLU gradients pass only where input and gradient are positive).")
    var guidedBackprop = false
    @Option(help: ArgumentHelp("Grad-CAM on this layer's feature maps; 'auto' for the last convolutional block.", valueName: "layer"))
    var gradCam: String?
    @Option(help: ArgumentHelp("Every channel of this layer's output as a grid.", valueName: "layer")) var featureMaps: String?
    @Option(help: ArgumentHelp("This convolution's filters as a grid; 'first' for the first convolution (RGB on colour models).",
                               valueName: "layer"))
    var filters: String?
    @Option(help: ArgumentHelp("Optimize an input for this class's score by gradient ascent (Simonyan et al.).", valueName: "class"))
    var classModel: Int?

    @Option(name: .customLong("class"), help: "The class to explain (default: each image's top prediction).") var classIndex: Int?
    @Option(help: "Class model: gradient-ascent steps.") var steps: Int = 200
    @Option(help: "Class model: step size along the RMS-normalized gradient.") var lr: Float = 0.1
    @Option(help: "Class model: L2 regularization weight λ in S_c(x) - λ‖x‖².") var l2: Float = 0.1
    @Option(help: "Input side (default: the model's, e.g. 28 for LeNet-5, 224 for ResNet).") var imageSize: Int?
    @Flag(help: "Invert grey levels before the model sees the image (Fashion-MNIST shows light objects on black).") var invert = false
    @Option(help: "Text file with one class name per line (default: Fashion-MNIST's names for 10 classes, else numbers).") var labels: String?
    @Option(help: "Folder for the pictures.") var output: String = "visualize"
    @Option(help: "Write predictions and the files written as JSON to this file.") var json: String?

    func validate() throws {
        guard saliency || guidedBackprop || gradCam != nil || featureMaps != nil || filters != nil || classModel != nil else {
            throw ValidationError("choose at least one of --saliency, --guided-backprop, --grad-cam, --feature-maps, --filters, --class-model")
        }
        let perImage = saliency || guidedBackprop || gradCam != nil || featureMaps != nil
        if perImage && images.isEmpty { throw ValidationError("--saliency, --guided-backprop, --grad-cam and --feature-maps need an image") }
        if untrained && weights != nil { throw ValidationError("--untrained and --weights exclude each other") }
        if let numClasses, numClasses < 1 { throw ValidationError("--num-classes must be positive, got \(numClasses)") }
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        if let imageSize, imageSize < 8 { throw ValidationError("--image-size must be at least 8, got \(imageSize)") }
    }

    func run() throws {
        let source = untrained ? try ModelSource(untrained: model, classes: numClasses, seed: seed)
            : try ModelSource(model: model, weights: weights)
        let selected = try device.selection().open()
        // A run brings its input size, statistics and class names; other weights get the model's defaults.
        let run = source.run
        if source.lacksRunInfo { FileHandle.standardError.write(Data((RunInfo.unknownNote(source: source.origin) + "\n").utf8)) }
        let defaultInput = run?.inputShape ?? source.entry.defaultInput.dims
        let channels = defaultInput[0], side = imageSize ?? defaultInput[1]
        let loaded = try source.load(input: [channels, side, side], backend: selected.backend)
        let graph = loaded.graph
        let classes = graph.outputShape.count
        let names = try labels == nil && run?.classNames.count == classes ? run!.classNames : classNames(classes)
        let statistics = try normalization.isSet || run == nil
            ? (channels == 1 ? ChannelNormalization.fashionMNIST : normalization.normalization()) : run!.normalization
        let dir = URL(fileURLWithPath: output)
        print("model     \(loaded.name) from \(loaded.origin), input \(graph.inputShape), \(classes) classes")
        print("device    \(selected.backend.info.name) (\(selected.backend.info.backend)) — \(selected.reason)")

        // Names are checked before any work, so a typo fails at once with the valid names.
        let camLayer = try gradCam.map { $0 == "auto" ? try GradCAM.defaultLayer(of: graph) : try checked($0, in: graph) }
        if let featureMaps { _ = try checked(featureMaps, in: graph) }
        if let classIndex, !(0..<classes).contains(classIndex) {
            throw CNNError.invalidArgument("--class \(classIndex) is out of range: the model has \(classes) classes (0...\(classes - 1))")
        }
        if let classModel, !(0..<classes).contains(classModel) {
            throw CNNError.invalidArgument("--class-model \(classModel) is out of range: the model has \(classes) classes (0...\(classes - 1))")
        }

        let probe = try ModelProbe(graph: graph, parameters: loaded.parameters)
        let guidedProbe = guidedBackprop ? try ModelProbe(graph: graph, parameters: loaded.parameters, guided: true) : nil
        let scale = max(1, 168 / side)
        func picture(_ sample: [Float]) -> Canvas {
            Canvas(chw: statistics.denormalized(sample, channels: channels), channels: channels, width: side, height: side)
        }
        var written: [String] = []
        func save(_ canvas: Canvas, _ name: String) throws {
            let url = dir.appendingPathComponent(name)
            try canvas.writePNG(to: url)
            written.append(url.path)
            print("  → \(url.path)")
        }
        var results: [[String: Any]] = []

        for path in images {
            let sample = try preprocess(path, channels: channels, side: side, statistics: statistics)
            let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let logits = try probe.forward(sample)
            let probabilities = softmax(logits)
            let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(min(5, classes))
            print(path)
            for c in ranked { print(String(format: "  %6.2f%%  %d %@", probabilities[c] * 100, c, names[c] as NSString)) }
            let target = classIndex ?? ranked.first!
            let about = String(format: "%@ (p = %.1f%%)", label(target, names), probabilities[target] * 100)
            let input = picture(sample)
            var record: [String: Any] = ["image": path, "class": target,
                                         "top": ranked.map { ["class": $0, "name": names[$0], "probability": Double(probabilities[$0])] }]

            if saliency {
                let s = try Saliency.compute(probe, image: sample, classIndex: target)
                try save(panel("Saliency: d score / d input, \(about)", notes: ["heat: max |gradient| over channels, scaled by its maximum"],
                               [(input, "input"), (Canvas(plane: s.map[...], width: side, height: side, colormap: .inferno), "saliency"),
                                (input.overlaid(heat: s.map), "overlay")], scale: scale), "\(stem)-saliency.png")
            }
            if let guidedProbe {
                let s = try Saliency.compute(guidedProbe, image: sample, classIndex: target)
                let gradientPicture = Canvas(chw: s.gradient, channels: channels, width: side, height: side,
                                             scaling: DisplayScaling(symmetric: s.gradient))
                try save(panel("Guided backpropagation, \(about)",
                               notes: ["gradient: -m..+m -> 0..255 (grey 0); heat: max |gradient|, scaled by its maximum"],
                               [(input, "input"), (gradientPicture, "guided gradient"),
                                (Canvas(plane: s.map[...], width: side, height: side, colormap: .inferno), "heat"),
                                (input.overlaid(heat: s.map), "overlay")], scale: scale), "\(stem)-guided-backprop.png")
            }
            if let camLayer {
                let cam = try GradCAM.compute(probe, image: sample, layer: camLayer, classIndex: target)
                let coarse = Canvas(plane: cam.raw[...], width: cam.layerWidth, height: cam.layerHeight, colormap: .inferno,
                                    scaling: DisplayScaling(low: 0, high: max(cam.raw.max() ?? 1, .leastNormalMagnitude)))
                try save(panel("Grad-CAM on \(camLayer), \(about)",
                               notes: ["map \(cam.layerWidth)x\(cam.layerHeight): ReLU(sum_k mean(dS/dA_k) A_k), 0..max; "
                                       + "overlay: bilinear to \(side)x\(side)"],
                               [(input, "input"), (coarse.resized(width: side, height: side), "\(camLayer) map"),
                                (input.overlaid(heat: cam.map), "overlay")], scale: scale), "\(stem)-grad-cam-\(camLayer).png")
            }
            if let featureMaps {
                try probe.forward(sample)
                try save(FeatureMaps.grid(probe, layer: featureMaps, title: "\(featureMaps) feature maps for \(stem)"),
                         "\(stem)-feature-maps-\(featureMaps).png")
            }
            results.append(record.merging(["files": written]) { a, _ in a })
            record = [:]
            written = []
        }
        if let filters {
            let layer = filters == "first" ? try LayerFilters.firstConvolution(of: graph) : filters
            try save(LayerFilters.grid(graph: graph, parameters: loaded.parameters, layer: layer), "filters-\(layer).png")
        }
        if let classModel {
            print("class model for \(label(classModel, names)): \(steps) steps of gradient ascent, lr \(lr), λ \(l2)")
            let result = try ClassModel.optimize(probe, classIndex: classModel, steps: steps, learningRate: lr, l2: l2)
            let image = statistics.denormalized(result.image, channels: channels)
            let scaling = DisplayScaling(fitting: image)
            let p = softmax(try probe.forward(result.image))[classModel]
            print(String(format: "  score %.3f → %.3f, p = %.1f%%", result.scores.first!, result.scores.last!, p * 100))
            try save(panel("Class model: \(label(classModel, names))",
                           notes: [String(format: "%d steps, lr %g, L2 %g; score %.2f, p = %.1f%%", steps, lr, l2, result.scores.last!, p * 100),
                                   "pixels: \(scaling) (min-max of the image)"],
                           [(Canvas(chw: image, channels: channels, width: side, height: side, scaling: scaling), "")], scale: scale),
                     "class-model-\(classModel).png")
            results.append(["class_model": classModel, "scores": result.scores.map(Double.init), "files": written])
        }
        if let json {
            let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
            print("json → \(json)")
        }
    }

    /// "class 9 Ankle boot", or "class 9" when the class has no name.
    private func label(_ c: Int, _ names: [String]) -> String {
        names[c] == "class \(c)" ? names[c] : "class \(c) \(names[c])"
    }

    private func checked(_ layer: String, in graph: Graph) throws -> String {
        _ = try graph.node(named: layer)
        return layer
    }

    private func classNames(_ classes: Int) throws -> [String] {
        if let labels {
            let names = try String(contentsOfFile: labels, encoding: .utf8).split(separator: "\n").map(String.init)
            guard names.count == classes else { throw CNNError.invalidArgument("--labels has \(names.count) names, the model \(classes) classes") }
            return names
        }
        return classes == FashionMNIST.classNames.count ? FashionMNIST.classNames : (0..<classes).map { "class \($0)" }
    }

    /// Decodes, resizes and center-crops to side × side, then grey (luma) for one-channel models, and normalizes.
    private func preprocess(_ path: String, channels: Int, side: Int, statistics: ChannelNormalization) throws -> [Float] {
        let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
        let rgb = try ImageNetTransform(size: side, geometry: .resizeAndCenterCrop(shorterSide: side), normalization: nil)
            .apply(image, seed: 0, epoch: 0, index: 0)
        var unit = channels == 1 ? ClassicFilters.grayscale(rgb, width: side, height: side) : rgb
        if invert { unit = unit.map { 1 - $0 } }
        let plane = side * side
        return unit.enumerated().map { i, v in (v - statistics.mean[i / plane]) / statistics.std[i / plane] }
    }

    private func softmax(_ logits: [Float]) -> [Float] {
        let top = logits.max() ?? 0
        let e = logits.map { exp(Double($0 - top)) }
        let sum = e.reduce(0, +)
        return e.map { Float($0 / sum) }
    }

    /// Pictures side by side with captions, under a title.
    private func panel(_ title: String, notes: [String], _ pictures: [(Canvas, String)], scale: Int) -> Canvas {
        ImageGrid(title: title, notes: notes, columns: pictures.count, scale: scale)
            .render(pictures.map { ImageGrid.Tile($0.0, caption: $0.1) })
    }
}
