/// The models `cnn-gpu` knows by name.
public enum ModelZoo {
    public struct Entry {
        public let name: String
        public let summary: String
        /// The input it is designed for (used when the user gives none).
        public let defaultInput: TensorShape
        /// The smallest image side it takes (its pools need inputs at least as large as their windows).
        public let minimumSide: Int
        public let build: (_ input: TensorShape, _ classes: Int) throws -> Graph
        /// The classes of the published model: ImageNet's 1000 for the 3-channel models
        /// (torchvision's weights), 10 for LeNet-5 (digits).
        public var publishedClasses: Int { defaultInput.dims[0] == 3 ? 1000 : 10 }

        init(name: String, summary: String, defaultInput: TensorShape, minimumSide: Int,
             build: @escaping (_ input: TensorShape, _ classes: Int) throws -> Graph) {
            self.name = name; self.defaultInput = defaultInput; self.minimumSide = minimumSide; self.build = build
            self.summary = summary + (minimumSide > 1 ? "; images \(minimumSide) or more" : "; any image size")
        }
    }

    public static let entries: [Entry] = [
        Entry(name: "lenet5", summary: "LeNet-5 (6c5-pool-16c5-pool-120-84-10), 61,706 parameters",
              defaultInput: [1, 28, 28], minimumSide: 16, build: { try LeNet5(input: $0, classes: $1) }),
        Entry(name: "lenet5_keras", summary: "Keras' LeNet-inspired MNIST CNN (32c3-64c3-pool-128), 1,199,882 parameters",
              defaultInput: [1, 28, 28], minimumSide: 6, build: { try LeNet5Keras(input: $0, classes: $1) }),
        Entry(name: "alexnet", summary: "AlexNet (torchvision), 61,100,840 parameters at 1000 classes",
              defaultInput: [3, 224, 224], minimumSide: 63, build: { try AlexNet(input: $0, classes: $1) }),
    ] + vggEntries + [
        Entry(name: "googlenet", summary: "GoogLeNet / Inception v1 (torchvision, no auxiliary heads), 6,624,904 parameters at 1000 classes",
              defaultInput: [3, 224, 224], minimumSide: 15, build: { try GoogLeNet(input: $0, classes: $1) }),
    ] + resNetEntries + [
        Entry(name: "densenet121", summary: "DenseNet-121 (torchvision), 7,978,856 parameters at 1000 classes",
              defaultInput: [3, 224, 224], minimumSide: 29, build: { try DenseNet(input: $0, classes: $1) }),
    ]

    private static let vggEntries: [Entry] = [
        ("vgg11", VGGConfiguration.vgg11, "132,863,336", "132,868,840"), ("vgg13", .vgg13, "133,047,848", "133,053,736"),
        ("vgg16", .vgg16, "138,357,544", "138,365,992"), ("vgg19", .vgg19, "143,667,240", "143,678,248"),
    ].flatMap { name, configuration, plain, normalized in
        [false, true].map { batchNorm in
            Entry(name: name + (batchNorm ? "_bn" : ""),
                  summary: "\(name.uppercased())\(batchNorm ? " with batch norm" : "") (torchvision), "
                      + "\(batchNorm ? normalized : plain) parameters at 1000 classes",
                  defaultInput: [3, 224, 224], minimumSide: 32,
                  build: { try VGG(configuration, batchNorm: batchNorm, input: $0, classes: $1) })
        }
    }

    private static let resNetEntries: [Entry] = [
        (18, "11,689,512"), (34, "21,797,672"), (50, "25,557,032"), (101, "44,549,160"), (152, "60,192,808"),
    ].map { depth, count in
        Entry(name: "resnet\(depth)", summary: "ResNet-\(depth) (torchvision, v1.5), \(count) parameters at 1000 classes",
              defaultInput: [3, 224, 224], minimumSide: 1, build: { try ResNet(depth: depth, input: $0, classes: $1) })
    }

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> Entry {
        guard let e = entries.first(where: { $0.name == name.lowercased() }) else {
            throw CNNError.invalidArgument("unknown model '\(name)'. Known models: \(names.joined(separator: ", "))")
        }
        return e
    }

    /// Builds `name` for `input` (its default when nil) and `classes` outputs.
    public static func build(_ name: String, input: TensorShape? = nil, classes: Int = 10) throws -> Graph {
        let e = try entry(name)
        guard classes > 0 else { throw CNNError.invalidArgument("the number of classes must be positive, got \(classes)") }
        return try e.build(input ?? e.defaultInput, classes)
    }
}
