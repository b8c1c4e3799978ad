import Foundation

/// Fashion-MNIST (Zalando): 28×28 grayscale clothing images in 10 classes, 60,000 for
/// training and 10,000 for testing, in MNIST's IDX format.
///
/// Debian's `dataset-fashion-mnist` package installs the four gzipped files into
/// `/usr/share/datasets/fashion-mnist/`; nothing is ever downloaded.
///
/// ```swift
/// let train = try FashionMNIST.load(split: .train)   // 60000 × [1, 28, 28]
/// let test = try FashionMNIST.load(split: .test, directory: URL(fileURLWithPath: "data"))
/// ```
public enum FashionMNIST {
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Loads one split from `directory` (the files gzipped or not).
    /// - Throws: `CNNError.invalidArgument` if a file is missing (naming every path tried),
    ///   truncated, corrupt, or the images and labels disagree.
    public static func load(split: DatasetSplit, directory: URL = defaultDirectory) throws -> Dataset {
        try IDXDataset.load(name: "Fashion-MNIST", split: split, directory: directory, classNames: classNames,
                            fix: "Install the dataset with `apt-get install dataset-fashion-mnist`, "
                                + "or pass the directory holding these files with --data DIR.")
    }
}

/// MNIST: 28×28 grayscale handwritten digits 0–9, 60,000 for training and 10,000 for testing,
/// in the IDX format. No package ships it here, so `directory` must hold the files
/// (`train-images-idx3-ubyte.gz`, …, gzipped or not).
public enum MNIST {
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/mnist")

    public static let classNames = (0...9).map(String.init)

    /// Loads one split from `directory` (the files gzipped or not).
    /// - Throws: as `FashionMNIST.load`.
    public static func load(split: DatasetSplit, directory: URL = defaultDirectory) throws -> Dataset {
        try IDXDataset.load(name: "MNIST", split: split, directory: directory, classNames: classNames,
                            fix: "Put the four MNIST IDX files (from the MNIST database) in one directory "
                                + "and pass it with --data DIR.")
    }
}

/// The loading both IDX datasets share.
enum IDXDataset {
    /// The file stems of a split. Both the usual `-idx3-` and the `.idx3-` spelling some
    /// mirrors use are accepted.
    static func fileNames(_ split: DatasetSplit) -> (images: [String], labels: [String]) {
        let prefix = split == .train ? "train" : "t10k"
        return (["\(prefix)-images-idx3-ubyte", "\(prefix)-images.idx3-ubyte"],
                ["\(prefix)-labels-idx1-ubyte", "\(prefix)-labels.idx1-ubyte"])
    }

    static func load(name: String, split: DatasetSplit, directory: URL, classNames: [String], fix: String) throws -> Dataset {
        let names = fileNames(split)
        let title = "\(name) \(split.rawValue)"
        let urls = try locateDatasetFiles([names.images, names.labels], in: directory, dataset: title, fix: fix)
        let (imageURL, labelURL) = (urls[0], urls[1])
        let images = try IDXFile(contentsOf: imageURL, magic: IDXFile.imagesMagic)
        let labels = try IDXFile(contentsOf: labelURL, magic: IDXFile.labelsMagic)
        let (count, rows, cols) = (images.dims[0], images.dims[1], images.dims[2])
        guard count == labels.dims[0] else {
            throw CNNError.invalidArgument("\(title): \(imageURL.path) holds \(count) images but "
                + "\(labelURL.path) holds \(labels.dims[0]) labels: the files do not belong together. \(fix)")
        }
        guard rows > 0, cols > 0 else {
            throw CNNError.invalidArgument("\(title): \(imageURL.path) has empty \(rows)×\(cols) images")
        }
        if let bad = labels.bytes.firstIndex(where: { Int($0) >= classNames.count }) {
            throw CNNError.invalidArgument("\(title): \(labelURL.path): label \(labels.bytes[bad]) of sample \(bad) "
                + "is not a class 0..<\(classNames.count): the file is corrupt or not a \(name) label file")
        }
        return try Dataset(name: title, sampleShape: [1, rows, cols], classes: classNames.count,
                           classNames: classNames, images: normalizedPixels(images.bytes),
                           labels: labels.bytes.map { Int32($0) })
    }
}
