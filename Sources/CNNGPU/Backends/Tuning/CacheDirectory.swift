import Foundation

/// Where cnn-gpu remembers things between runs (tuning choices, compiled programs):
/// `$XDG_CACHE_HOME/cnn-gpu/` when that variable is set, else `~/.cache/cnn-gpu/`, as the
/// XDG base-directory convention says.
enum CacheDirectory {
    static var root: URL {
        if let xdg = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("cnn-gpu", isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/cnn-gpu", isDirectory: true)
    }

    /// FNV-1a, 64 bits, as 16 hex digits: a stable file-name hash (Swift's `hashValue` is
    /// seeded per process). Not a security hash: entries store their full key and are checked.
    static func stableHash(_ text: String) -> String { stableHash(bytes: text.utf8) }

    static func stableHash<S: Sequence>(bytes: S) -> String where S.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Writes `data` to `url` through a temporary file and a rename, so a reader never sees a
    /// half-written file and concurrent writers leave one whole version.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url, options: .atomic)
    }
}
