import Foundation

/// A folder of labelled images in torchvision's `ImageFolder` layout, `root/<class>/<image>`:
/// the classes are the subfolder names in sorted order (label 0 is the first), the samples
/// every non-hidden file below a class folder (nested folders included), sorted by path.
/// Files are only listed here; each is read, checked and decoded when its sample is loaded.
///
/// ```swift
/// let (train, validation) = try ImageFolder.splits(at: URL(fileURLWithPath: "imagenette2"))
/// print(train.classes.count, train.count, validation.count)
/// ```
public struct ImageFolder: Sendable {
    /// The folder holding the class folders.
    public let root: URL
    /// Class names; `labels` index into them.
    public let classes: [String]
    public let files: [URL]
    public let labels: [Int32]

    public var count: Int { files.count }

    /// Lists `directory/<class>/…`.
    /// - Parameters:
    ///   - directory: the folder whose subfolders are the classes.
    ///   - classes: the class list to label with (a validation folder takes its training
    ///     folder's classes); nil uses this folder's own subfolders.
    /// - Throws: `CNNError.invalidArgument` when the folder is missing, has no class
    ///   subfolders, a class folder holds no files, or (with `classes`) holds a class not in it.
    public init(directory: URL, classes: [String]? = nil) throws {
        let found = try ImageFolder.subfolders(of: directory)
        guard !found.isEmpty else {
            throw CNNError.invalidArgument("\(directory.path) has no class subfolders: an image folder is laid out as "
                + "ROOT/<class>/<image>.jpg (or ROOT/train/<class>/… and ROOT/val/<class>/…)")
        }
        let classList = classes ?? found
        var files: [URL] = [], labels: [Int32] = []
        for name in found {
            guard let label = classList.firstIndex(of: name) else {
                throw CNNError.invalidArgument("\(directory.path)/\(name) is not one of the \(classList.count) training classes; "
                    + "validation class folders must match the training folder's")
            }
            let classFiles = try ImageFolder.files(below: directory.appendingPathComponent(name, isDirectory: true))
            guard !classFiles.isEmpty else {
                throw CNNError.invalidArgument("class folder \(directory.path)/\(name) holds no files: add its images or remove the folder")
            }
            files += classFiles
            labels += Array(repeating: Int32(label), count: classFiles.count)
        }
        self.init(root: directory, classes: classList, files: files, labels: labels)
    }

    init(root: URL, classes: [String], files: [URL], labels: [Int32]) {
        self.root = root; self.classes = classes; self.files = files; self.labels = labels
    }

    /// Training and validation folders: `directory/train` and `directory/val` when `train/`
    /// holds class folders and `val/` exists; else `validationFraction` of every class of
    /// `directory/train` (when it holds class folders) or of `directory` held out, chosen by `seed`.
    public static func splits(at directory: URL, validationFraction: Double = 0.1,
                              seed: UInt64 = 0) throws -> (train: ImageFolder, validation: ImageFolder) {
        let train = directory.appendingPathComponent("train", isDirectory: true)
        let validation = directory.appendingPathComponent("val", isDirectory: true)
        guard hasClassFolders(train) else {
            return try ImageFolder(directory: directory).heldOut(fraction: validationFraction, seed: seed)
        }
        let training = try ImageFolder(directory: train)
        guard isDirectory(validation) else { return try training.heldOut(fraction: validationFraction, seed: seed) }
        return (training, try ImageFolder(directory: validation, classes: training.classes))
    }

    /// Splits each class, holding out round(`fraction` · its size) files (at most all but one)
    /// picked by a permutation seeded with (`seed`, class); both parts keep the sorted order.
    /// - Throws: `CNNError.invalidArgument` for a fraction outside [0, 1).
    public func heldOut(fraction: Double, seed: UInt64) throws -> (train: ImageFolder, validation: ImageFolder) {
        guard fraction >= 0, fraction < 1 else {
            throw CNNError.invalidArgument("the held-out validation fraction must lie in [0, 1), got \(fraction)")
        }
        var held = [Bool](repeating: false, count: count)
        var start = 0
        while start < count {
            var end = start
            while end < count, labels[end] == labels[start] { end += 1 }
            let size = end - start
            let order = BatchLoader.sampleOrder(count: size, shuffle: true, seed: seed, epoch: Int(labels[start]))
            for k in order.prefix(min(Int((Double(size) * fraction).rounded()), size - 1)) { held[start + k] = true }
            start = end
        }
        func part(_ keep: Bool) -> ImageFolder {
            let picked = held.indices.filter { held[$0] == keep }
            return ImageFolder(root: root, classes: classes, files: picked.map { files[$0] }, labels: picked.map { labels[$0] })
        }
        return (part(false), part(true))
    }

    /// Reads and decodes sample `index`.
    /// - Throws: `CNNError.invalidArgument` naming the file when it cannot be read or decoded.
    public func image(_ index: Int) throws -> RGBImage { try ImageDecoder.decode(contentsOf: files[index]) }

    /// Whether `directory` looks like an image folder: class subfolders, or `train/` with them.
    public static func isImageFolder(_ directory: URL) -> Bool { hasClassFolders(directory) }

    private static func hasClassFolders(_ directory: URL) -> Bool {
        isDirectory(directory) && ((try? subfolders(of: directory)) ?? []).isEmpty == false
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
    }

    /// Python's `sorted` order (by code point), which torchvision's class indices follow.
    private static func precedes(_ a: String, _ b: String) -> Bool { a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) }

    private static func subfolders(of directory: URL) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw CNNError.invalidArgument("cannot list image folder \(directory.path): \(error.localizedDescription)")
        }
        return names.filter { !$0.hasPrefix(".") && isDirectory(directory.appendingPathComponent($0, isDirectory: true)) }
            .sorted(by: precedes)
    }

    /// Every non-hidden regular file (or link to one) below `directory`, sorted by relative path.
    /// POSIX `readdir` rather than `FileManager`'s enumerator: an ImageNet class folder list
    /// (1.28 M files) takes seconds this way and minutes that way. Links to folders inside a
    /// class folder are not followed, so a link loop cannot trap the walk.
    private static func files(below directory: URL) throws -> [URL] {
        var found: [String] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let path = relative.isEmpty ? directory.path : directory.path + "/" + relative
            guard let stream = opendir(path) else {
                throw CNNError.invalidArgument("cannot list \(path): \(String(cString: strerror(errno)))")
            }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
                if name.hasPrefix(".") { continue }
                let child = relative.isEmpty ? name : relative + "/" + name
                switch Int32(entry.pointee.d_type) {
                case Int32(DT_DIR): pending.append(child)
                case Int32(DT_REG): found.append(child)
                case Int32(DT_LNK), Int32(DT_UNKNOWN):
                    // Datasets are often assembled from links to files kept elsewhere: follow those.
                    var info = stat()
                    guard stat(path + "/" + name, &info) == 0 else { continue }
                    if info.st_mode & S_IFMT == S_IFREG { found.append(child) }
                    if info.st_mode & S_IFMT == S_IFDIR, entry.pointee.d_type == DT_UNKNOWN { pending.append(child) }
                default: continue
                }
            }
        }
        // UTF-8 byte order is code-point order, Python's.
        return found.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { directory.appendingPathComponent($0, isDirectory: false) }
    }
}
