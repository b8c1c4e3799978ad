import Foundation

/// What a trained model needs besides its weights to be used again: the model, its class
/// names, the input it was trained on and how that input was prepared, where the data came
/// from, and the run's settings. Stored as JSON in the safetensors metadata of checkpoints
/// (key `run`) and exported weights, so a run folder alone is enough for `predict`,
/// `evaluate` and `export`.
///
/// ```swift
/// let info = RunInfo(model: "lenet5", classNames: FashionMNIST.classNames, inputShape: [1, 28, 28],
///                    normalization: .fashionMNIST, preprocessing: .resize,
///                    data: .init(kind: "fashion-mnist", path: nil, validation: .testSet))
/// let sample = try info.sample(from: try ImageDecoder.decode(contentsOf: url))   // 1·28·28 values
/// ```
public struct RunInfo: Codable, Equatable, Sendable {
    /// The metadata key checkpoints and exported weights keep it under.
    public static let metadataKey = "run"

    /// How an image file becomes a model input.
    public enum Preprocessing: String, Codable, Sendable {
        /// The shorter side resized to the input side, then center-cropped (datasets whose
        /// images all have the model's size: Fashion-MNIST, MNIST, CIFAR-10).
        case resize
        /// torchvision's evaluation transform: shorter side to 256/224 of the input side, then
        /// center-cropped (image folders, trained on random resized crops).
        case imageNetEvaluation = "imagenet-evaluation"
    }

    /// Which split measured the run's validation numbers.
    public enum ValidationSplit: String, Codable, Sendable {
        /// The dataset's own test set.
        case testSet = "test"
        /// Images held out of the training data (an image folder's val/ or its 10%).
        case heldOut = "validation"
        /// No validation (synthetic data).
        case none

        /// What to call the numbers: "test" only when they come from a test set.
        public var word: String { self == .testSet ? "test" : "validation" }
    }

    /// Where the training data came from, so `evaluate RUN` can find it again.
    public struct DataSource: Codable, Equatable, Sendable {
        /// fashion-mnist, mnist, cifar10, imagefolder, fashion-mnist-stand-in or synthetic.
        public var kind: String
        /// The --data folder, as an absolute path; nil for the installed default.
        public var path: String?
        public var validation: ValidationSplit

        public init(kind: String, path: String?, validation: ValidationSplit) {
            self.kind = kind; self.path = path; self.validation = validation
        }
    }

    public var model: String
    public var classNames: [String]
    /// [channels, height, width].
    public var inputShape: [Int]
    /// Per-channel statistics of values in [0, 1].
    public var mean: [Float]
    public var std: [Float]
    public var preprocessing: Preprocessing
    public var data: DataSource
    /// The run's settings by flag name (optimizer, lr, schedule, …), for the record.
    public var settings: [String: String]

    public init(model: String, classNames: [String], inputShape: [Int], normalization: ChannelNormalization,
                preprocessing: Preprocessing, data: DataSource, settings: [String: String] = [:]) {
        self.model = model; self.classNames = classNames; self.inputShape = inputShape
        self.mean = normalization.mean; self.std = normalization.std
        self.preprocessing = preprocessing; self.data = data; self.settings = settings
    }

    /// "class 0", "class 1", … for data without names (synthetic batches).
    public static func numberedClasses(_ count: Int) -> [String] { (0..<count).map { "class \($0)" } }

    public var normalization: ChannelNormalization {
        get throws { try ChannelNormalization(mean: mean, std: std) }
    }

    /// The JSON kept in metadata (keys sorted, so equal runs write equal files).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A non-finite statistic (set through the public fields) is written as a string, which
        // `from(metadata:)` then refuses by name; plain strings, numbers and arrays cannot fail.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// The run information in a safetensors file's metadata: nil when the file predates it
    /// (checkpoints before run information was recorded, or weights from elsewhere).
    /// - Throws: when the entry exists but is not valid, naming `source`.
    public static func from(metadata: [String: String], source: String) throws -> RunInfo? {
        guard let text = metadata[metadataKey] else { return nil }
        let info: RunInfo
        do {
            info = try JSONDecoder().decode(RunInfo.self, from: Data(text.utf8))
        } catch {
            throw CNNError.invalidArgument("\(source): its '\(metadataKey)' metadata is not valid run information (\(error)); "
                + "the file is corrupt. Use the weights with a model name and --weights FILE instead")
        }
        guard info.inputShape.count == 3, info.inputShape.allSatisfy({ $0 > 0 }), [1, 3].contains(info.inputShape[0]),
              info.inputShape[1] == info.inputShape[2], info.classNames.count > 0,
              info.mean.count == info.inputShape[0], info.std.count == info.inputShape[0],
              info.std.allSatisfy({ $0 > 0 && $0.isFinite }), info.mean.allSatisfy(\.isFinite) else {
            throw CNNError.invalidArgument("\(source): its run information is inconsistent (input \(info.inputShape), "
                + "\(info.classNames.count) classes, \(info.mean.count) means, \(info.std.count) deviations); the file is corrupt")
        }
        try InputLimits.checkSampleShape(info.inputShape, flag: "the run's input shape")
        return info
    }

    /// What an older file leaves unknown, for the user to read.
    public static func unknownNote(source: String) -> String {
        "note: \(source) predates recorded run information: its class names, input size and normalization are unknown, "
            + "so classes are numbered and the defaults (or --image-size, --mean, --std, --labels) are used"
    }

    /// An image file prepared as this run's inputs were: resized and cropped to the input
    /// side, scaled to [0, 1], made gray (ITU-R 601 luma, as PIL's "L" mode) for one-channel
    /// models, and normalized.
    public func sample(from image: RGBImage) throws -> [Float] {
        let (channels, side) = (inputShape[0], inputShape[2])
        let shorterSide = preprocessing == .resize ? side : side * 256 / 224
        let transform = try ImageNetTransform(size: side, geometry: .resizeAndCenterCrop(shorterSide: shorterSide), normalization: nil)
        let rgb = transform.apply(image, seed: 0, epoch: 0, index: 0)
        let plane = side * side
        let statistics = try normalization
        let unit = channels == 3 ? rgb : ClassicFilters.grayscale(rgb, width: side, height: side)
        return unit.enumerated().map { i, v in (v - statistics.mean[i / plane]) / statistics.std[i / plane] }
    }
}
