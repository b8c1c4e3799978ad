/// Which half of a dataset to load.
public enum DatasetSplit: String, Sendable, CaseIterable {
    case train
    case test
}

/// A labelled image dataset held in host memory, ready for `BatchLoader`.
///
/// Images are Float32 in `[0, 1]`, stored sample after sample, each in `sampleShape`
/// (`[C, H, W]`, channel-major like the trainer's NCHW batches).
///
/// ```swift
/// let train = try FashionMNIST.load(split: .train)
/// print(train.count, train.sampleShape, train.classNames[Int(train.labels[0])])
/// ```
public struct Dataset: Sendable {
    /// A short name for messages and logs, e.g. "Fashion-MNIST train".
    public var name: String
    /// The shape of one image, `[C, H, W]`.
    public var sampleShape: TensorShape
    /// The number of classes; every label is in `0..<classes`.
    public var classes: Int
    /// Human-readable class names (`classes` of them), or empty when the format has none.
    public var classNames: [String]
    /// `count · C · H · W` values in `[0, 1]`.
    public var images: [Float]
    /// `count` labels, each in `0..<classes`.
    public var labels: [Int32]

    /// The number of samples.
    public var count: Int { labels.count }

    /// Checks that images, labels and classes agree; every loader builds its result this way.
    /// - Throws: `CNNError.invalidArgument` naming the mismatch.
    public init(name: String, sampleShape: TensorShape, classes: Int, classNames: [String] = [],
                images: [Float], labels: [Int32]) throws {
        guard sampleShape.rank == 3, sampleShape.dims.allSatisfy({ $0 > 0 }) else {
            throw CNNError.invalidArgument("\(name): sample shape \(sampleShape) must be [C, H, W] with positive sizes")
        }
        guard classes > 0 else { throw CNNError.invalidArgument("\(name): needs at least one class, got \(classes)") }
        guard classNames.isEmpty || classNames.count == classes else {
            throw CNNError.invalidArgument("\(name): \(classNames.count) class names for \(classes) classes")
        }
        guard images.count == labels.count * sampleShape.count else {
            throw CNNError.invalidArgument("\(name): \(images.count) image values do not make \(labels.count) "
                + "images of \(sampleShape) (\(labels.count * sampleShape.count) values): "
                + "the image and label files do not belong together")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
            throw CNNError.invalidArgument("\(name): label \(labels[bad]) of sample \(bad) is outside 0..<\(classes): "
                + "the label file is corrupt or belongs to another dataset")
        }
        self.name = name
        self.sampleShape = sampleShape
        self.classes = classes
        self.classNames = classNames
        self.images = images
        self.labels = labels
    }

    /// The samples in `range`, e.g. to hold out a validation set: `train.subset(50_000..<60_000)`.
    /// - Throws: `CNNError.invalidArgument` if `range` is not inside `0..<count`.
    public func subset(_ range: Range<Int>) throws -> Dataset {
        guard range.lowerBound >= 0 && range.upperBound <= count else {
            throw CNNError.invalidArgument("\(name): subset \(range.lowerBound)..<\(range.upperBound) is outside 0..<\(count)")
        }
        var copy = self
        let size = sampleShape.count
        copy.name = "\(name) [\(range.lowerBound)..<\(range.upperBound)]"
        copy.images = Array(images[range.lowerBound * size..<range.upperBound * size])
        copy.labels = Array(labels[range])
        return copy
    }

    /// The label name for class `label`, or its number when the dataset has no names.
    public func className(_ label: Int32) -> String {
        classNames.indices.contains(Int(label)) ? classNames[Int(label)] : String(label)
    }
}
