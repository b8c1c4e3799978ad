import Foundation

/// CIFAR-10: 32×32 colour images in 10 classes, 50,000 for training (`data_batch_1.bin` …
/// `data_batch_5.bin`) and 10,000 for testing (`test_batch.bin`), in the "binary version"
/// format: each record is one label byte then 3072 pixel bytes, red plane, green, blue
/// (already CHW).
///
/// No package ships it here: extract `cifar-10-binary.tar.gz` and pass its
/// `cifar-10-batches-bin` directory (or the directory containing it).
///
/// ```swift
/// let train = try CIFAR10.load(split: .train, directory: URL(fileURLWithPath: "data/cifar-10-batches-bin"))
/// ```
public enum CIFAR10 {
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/cifar-10")

    public static let classNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// Bytes per record: the label, then 3 × 32 × 32 pixels.
    public static let recordSize = 1 + 3 * 32 * 32

    /// The batch files of a split, in the order their samples are concatenated.
    public static func fileNames(_ split: DatasetSplit) -> [String] {
        split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }

    /// Loads one split from `directory` or its `cifar-10-batches-bin` subdirectory.
    /// - Throws: `CNNError.invalidArgument` if a file is missing (naming every path tried),
    ///   its size is not a whole number of 3073-byte records, or a label is not 0...9.
    public static func load(split: DatasetSplit, directory: URL = defaultDirectory) throws -> Dataset {
        let title = "CIFAR-10 \(split.rawValue)"
        let fix = "Extract cifar-10-binary.tar.gz (the \"binary version\" from the CIFAR-10 page) "
            + "and pass its cifar-10-batches-bin directory with --data DIR."
        let nested = directory.appendingPathComponent("cifar-10-batches-bin")
        let base = FileManager.default.fileExists(atPath: directory.appendingPathComponent(fileNames(split)[0]).path)
            || !FileManager.default.fileExists(atPath: nested.path) ? directory : nested

        var records = [(URL, [UInt8])]()
        var missing = [String]()
        for name in fileNames(split) {
            let url = base.appendingPathComponent(name)
            if FileManager.default.isReadableFile(atPath: url.path) {
                records.append((url, try readDatasetFile(url)))
            } else {
                missing.append(url.path)
                if base != nested { missing.append(nested.appendingPathComponent(name).path) }
            }
        }
        guard missing.isEmpty else {
            throw CNNError.invalidArgument("\(title): file not found. Looked for:\n"
                + missing.map { "  \($0)" }.joined(separator: "\n") + "\n\(fix)")
        }

        var images = [Float](), labels = [Int32]()
        for (url, bytes) in records {
            let batch = try decode(bytes, source: "\(title): \(url.path)", fix: fix)
            images += batch.images; labels += batch.labels
        }
        return try Dataset(name: title, sampleShape: [3, 32, 32], classes: classNames.count,
                           classNames: classNames, images: images, labels: labels)
    }

    /// One binary batch file's records: pixels scaled to [0, 1] (CHW per image) and labels.
    /// - Throws: `CNNError.invalidArgument` naming `source` unless `bytes` is a whole number of
    ///   records whose labels are classes 0...9.
    public static func decode(_ bytes: [UInt8], source: String, fix: String = "") throws -> (images: [Float], labels: [Int32]) {
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw CNNError.invalidArgument("\(source) is \(bytes.count) bytes, not a whole number of "
                + "\(recordSize)-byte records (1 label + 3072 pixels): the file is truncated or not a CIFAR-10 "
                + "binary batch (CIFAR-100 and the Python version use other formats). \(fix)")
        }
        let count = bytes.count / recordSize, pixelsPerImage = recordSize - 1
        var images = [Float](repeating: 0, count: count * pixelsPerImage)
        var labels = [Int32]()
        labels.reserveCapacity(count)
        try images.withUnsafeMutableBufferPointer { out in
            try bytes.withUnsafeBufferPointer { raw in
                for r in 0..<count {
                    let record = raw.baseAddress! + r * recordSize
                    guard record[0] < classNames.count else {
                        throw CNNError.invalidArgument("\(source): record \(r) has label \(record[0]), "
                            + "not a class 0...9: the file is corrupt or not a CIFAR-10 batch")
                    }
                    let dst = out.baseAddress! + r * pixelsPerImage
                    for p in 0..<pixelsPerImage { dst[p] = Float(record[1 + p]) / 255 }
                    labels.append(Int32(record[0]))
                }
            }
        }
        return (images, labels)
    }
}
