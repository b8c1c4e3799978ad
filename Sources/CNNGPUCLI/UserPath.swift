import CNNGPU
import Foundation

/// Paths the user typed, checked before use so an error names what is wrong with *that* path
/// (as typed, `~` and all) instead of a file deeper down or a dataset the user never asked for.
enum UserPath {
    /// The path with a leading `~` expanded (a quoted `"~/photos"` reaches us unexpanded).
    static func expanded(_ path: String) -> String { (path as NSString).expandingTildeInPath }

    /// Whether MODEL names a file or folder rather than a zoo model.
    static func looksLikePath(_ text: String) -> Bool {
        FileManager.default.fileExists(atPath: expanded(text)) || text.contains("/") || text.hasPrefix("~")
            || text.hasSuffix(".safetensors")
    }

    /// What kind of thing is at `path`; throws when nothing is, naming `what` (e.g. "--data").
    private static func kind(_ path: String, what: String) throws -> (url: URL, isFolder: Bool) {
        let full = expanded(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else {
            throw CNNError.invalidArgument("\(what)\(path) does not exist")
        }
        return (URL(fileURLWithPath: full), isDirectory.boolValue)
    }

    /// The checkpoint of a run: `path` is a run folder (its `checkpoint.safetensors`) or a
    /// checkpoint or exported weights file. `weightsAllowed`: whether the command also takes a
    /// model name with --weights (said in the error).
    static func checkpoint(_ path: String, weightsAllowed: Bool = true) throws -> URL {
        let (url, isFolder) = try kind(path, what: "")
        guard isFolder else {
            guard FileManager.default.isReadableFile(atPath: url.path) else {
                throw CNNError.invalidArgument("\(path) cannot be read (\(String(cString: strerror(EACCES)))): check its permissions")
            }
            return url
        }
        let checkpoint = url.appendingPathComponent("checkpoint.safetensors")
        guard FileManager.default.fileExists(atPath: checkpoint.path) else {
            throw CNNError.invalidArgument("\(path) has no checkpoint.safetensors: is it a run folder of `cnn-gpu train`? "
                + (weightsAllowed ? "Give a run folder, a checkpoint file, or a model name with --weights FILE" : "Give the run's folder or its checkpoint file"))
        }
        return checkpoint
    }

    /// A file given with `flag` (such as --weights): it must exist and be a file.
    static func existingFile(_ path: String, flag: String) throws -> URL {
        let (url, isFolder) = try kind(path, what: "\(flag) ")
        guard !isFolder else { throw CNNError.invalidArgument("\(flag) \(path) is a folder: give a .safetensors file") }
        return url
    }

    /// The --data folder: it must exist, be a folder and be readable.
    static func dataFolder(_ path: String) throws -> URL {
        let (url, isFolder) = try kind(path, what: "--data ")
        guard isFolder else {
            throw CNNError.invalidArgument("--data \(path) is a file, not a folder: give the folder that holds the dataset's files "
                + "(IDX or CIFAR-10 batches) or its class subfolders (DIR/<class>/<image>)")
        }
        guard (try? FileManager.default.contentsOfDirectory(atPath: url.path)) != nil else {
            throw CNNError.invalidArgument("--data \(path) cannot be read (\(String(cString: strerror(EACCES)))): check its permissions")
        }
        return url
    }

    /// Every JPEG or PNG file below each of `paths` (folders searched recursively, in name
    /// order), with files given by name kept as given.
    static func images(_ paths: [String]) throws -> [(shown: String, url: URL)] {
        let extensions: Set<String> = ["jpg", "jpeg", "png"]
        var found: [(String, URL)] = []
        for path in paths {
            let (url, isFolder) = try kind(path, what: "")
            guard isFolder else { found.append((path, url)); continue }
            guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else {
                throw CNNError.invalidArgument("\(path) cannot be read: check its permissions")
            }
            var inFolder: [URL] = []
            for case let file as URL in walker where extensions.contains(file.pathExtension.lowercased()) { inFolder.append(file) }
            guard !inFolder.isEmpty else {
                throw CNNError.invalidArgument("no JPEG or PNG images in \(path) (searched with its subfolders)")
            }
            let base = path.hasSuffix("/") ? String(path.dropLast()) : path
            for file in inFolder.sorted(by: { $0.path < $1.path }) {
                found.append((base + String(file.path.dropFirst(url.path.count)), file))
            }
        }
        return found
    }
}
