import Foundation

/// The IDX format of MNIST and Fashion-MNIST: a big-endian header
/// `00 00 <type> <rank>`, then `rank` big-endian UInt32 sizes, then the values row-major.
/// Only unsigned bytes (type 0x08) occur in these datasets, so that is what we read.
/// Files may be gzipped (detected by content, not by name).
public struct IDXFile: Sendable {
    /// The sizes from the header, e.g. `[60000, 28, 28]` for an image file.
    public var dims: [Int]
    /// The values, `dims.reduce(1, *)` of them.
    public var bytes: [UInt8]

    /// Magic number of a 3-D unsigned-byte file (images: count, rows, columns).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of a 1-D unsigned-byte file (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// An unsigned-byte IDX array, e.g. to write a dataset with `encoded(magic:)`.
    /// - Throws: `CNNError.invalidArgument` unless `bytes` holds exactly `dims`' product values.
    public init(dims: [Int], bytes: [UInt8]) throws {
        guard !dims.isEmpty, dims.allSatisfy({ $0 >= 0 && $0 <= Int(UInt32.max) }), dims.reduce(1, *) == bytes.count else {
            throw CNNError.invalidArgument("IDX sizes \(dims) do not fit \(bytes.count) values")
        }
        self.dims = dims
        self.bytes = bytes
    }

    /// Reads and checks an IDX file (plain or gzipped) whose magic number must be `magic`.
    /// - Throws: `CNNError.invalidArgument` for an unreadable file, corrupt gzip, wrong magic
    ///   number, or a size that disagrees with the header (truncated or trailing data).
    public init(contentsOf url: URL, magic: UInt32) throws {
        try self.init(parsing: try readDatasetFile(url), magic: magic, source: url.path)
    }

    /// Parses IDX `data` (plain or gzipped); `source` names it in error messages.
    public init(parsing data: [UInt8], magic: UInt32, source: String) throws {
        let raw = Gzip.isGzip(data) || source.hasSuffix(".gz") ? try Gzip.decompress(data, source: source) : data
        func bad(_ why: String) -> CNNError {
            .invalidArgument("\(source): not a valid IDX file: \(why). Reinstall the dataset "
                + "(e.g. `apt-get install --reinstall dataset-fashion-mnist`) or point --data at the right directory.")
        }
        guard raw.count >= 4 else { throw bad("it is \(raw.count) bytes long, shorter than the 4-byte magic number") }
        let found = IDXFile.bigEndian32(raw, at: 0)
        guard found == magic else {
            let what = magic == IDXFile.imagesMagic ? "an image file" : magic == IDXFile.labelsMagic ? "a label file" : "this file"
            throw bad(String(format: "magic number is 0x%08X, expected 0x%08X for %@", found, magic, what)
                + (found == IDXFile.imagesMagic || found == IDXFile.labelsMagic ? " (images and labels swapped?)" : ""))
        }
        let rank = Int(magic & 0xFF)
        let headerSize = 4 + 4 * rank
        guard raw.count >= headerSize else { throw bad("the header needs \(headerSize) bytes, the file has \(raw.count): it is truncated") }
        let dims = (0..<rank).map { Int(IDXFile.bigEndian32(raw, at: 4 + 4 * $0)) }
        var total = 1
        for d in dims {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("sizes \(dims) overflow") }
            total = product
        }
        let body = raw.count - headerSize
        guard body >= total else {
            let promise = rank > 1 ? "\(dims.map(String.init).joined(separator: "×")) = \(total)" : "\(total)"
            throw bad("the header promises \(promise) values, "
                + "but only \(body) follow: the file is truncated")
        }
        guard body == total else {
            throw bad("\(body - total) bytes follow the \(total) values the header promises")
        }
        self.dims = dims
        self.bytes = headerSize == 0 ? raw : Array(raw[headerSize...])
    }

    static func bigEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// The file as written: header then values, for writing test fixtures or exports.
    public func encoded(magic: UInt32) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(4 + 4 * dims.count + bytes.count)
        for word in [magic] + dims.map(UInt32.init) {
            out += [UInt8(word >> 24), UInt8(word >> 16 & 0xFF), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF)]
        }
        return out + bytes
    }
}

/// Reads a whole file as bytes with a clear error if it cannot.
func readDatasetFile(_ url: URL) throws -> [UInt8] {
    do {
        return [UInt8](try Data(contentsOf: url, options: .mappedIfSafe))
    } catch {
        throw CNNError.invalidArgument("cannot read \(url.path): \(error.localizedDescription)")
    }
}

/// Bytes 0...255 → Float 0...1, exactly `Float(b) / 255`.
func normalizedPixels(_ bytes: [UInt8]) -> [Float] {
    // A table lookup vectorizes poorly, but the division does and is exact per value.
    bytes.map { Float($0) / 255 }
}

/// Finds, for each list of `names`, the first existing file (each name tried gzipped, then
/// plain) in `directory`.
/// - Throws: `CNNError.invalidArgument` listing every path tried for every missing file, and
///   `fix`: how to get the data.
func locateDatasetFiles(_ files: [[String]], in directory: URL, dataset: String, fix: String) throws -> [URL] {
    var found = [URL]()
    var tried = [String]()
    for names in files {
        let candidates = names.flatMap { [directory.appendingPathComponent($0 + ".gz"), directory.appendingPathComponent($0)] }
        if let url = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0.path) }) {
            found.append(url)
        } else {
            tried += candidates.map(\.path)
        }
    }
    guard tried.isEmpty else {
        throw CNNError.invalidArgument("\(dataset): file not found. Looked for:\n"
            + tried.map { "  \($0)" }.joined(separator: "\n") + "\n\(fix)")
    }
    return found
}
