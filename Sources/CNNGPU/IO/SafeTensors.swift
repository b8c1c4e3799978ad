import Foundation

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then the raw
/// little-endian data. Reading validates everything a corrupt or hostile file could get wrong.
public struct SafeTensors {
    public struct Tensor: Equatable {
        public var shape: [Int]
        public var values: [Float]
        public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
    }

    /// Floating-point tensors (F32, and F16/BF16/F64 converted to Float32).
    public var tensors: [String: Tensor]
    /// The dtype of every tensor in the file as stored ("F32", "I64", …), integer ones included.
    public var dtypes: [String: String] = [:]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
        for name in tensors.keys { dtypes[name] = "F32" }
    }

    // MARK: Writing

    /// The file's bytes; tensors in name order.
    public func encoded() throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            guard t.shape.reduce(1, *) == t.values.count else {
                throw CNNError.invalidArgument("tensor '\(name)': shape \(t.shape) does not hold \(t.values.count) values")
            }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.values.count * 4]]
            offset += t.values.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names {
            tensors[name]!.values.withUnsafeBytes { data.append(contentsOf: $0) }   // x86/ARM: little-endian
        }
        return data
    }

    /// Writes atomically: a temporary file in the same folder, flushed, then renamed over `url`,
    /// so a crash never leaves a half-written file behind.
    public func write(to url: URL) throws {
        try AtomicFile.write(try encoded(), to: url)
    }

    // MARK: Reading

    public static func read(from url: URL) throws -> SafeTensors {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw CNNError.invalidArgument("cannot read '\(url.path)': \(error.localizedDescription)")
        }
        return try decode(data, source: url.lastPathComponent)
    }

    /// The metadata of a file, reading its header alone (to pick among checkpoints without
    /// loading their tensors). The tensors are not checked: `read` the file to use it.
    public static func metadata(of url: URL) throws -> [String: String] {
        func fail(_ why: String) -> CNNError { .invalidArgument("\(url.lastPathComponent) is not a valid safetensors file: \(why)") }
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw CNNError.invalidArgument("cannot read '\(url.path)': \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        let prefix = try handle.read(upToCount: 8) ?? Data()
        guard prefix.count == 8 else { throw fail("it is shorter than its 8-byte header length") }
        let length = prefix.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(maxHeaderBytes) else { throw fail("the header claims \(length) bytes; the limit is \(maxHeaderBytes)") }
        let headerBytes = try handle.read(upToCount: Int(length)) ?? Data()
        guard headerBytes.count == Int(length), headerBytes.first == UInt8(ascii: "{") else { throw fail("its header is truncated") }
        try HeaderScan.checkKeys(headerBytes, maxEntries: maxEntries, fail: fail)
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        guard let meta = header["__metadata__"] else { return [:] }
        guard let m = meta as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
        return m
    }

    /// The longest header accepted, as in the reference implementation (100 MB).
    public static let maxHeaderBytes = 100_000_000
    /// The most entries (tensors) a header may list. Real checkpoints hold thousands; a header
    /// of a million entries is an attack that would take gigabytes to parse, so it is refused
    /// while scanning, before any JSON object is built.
    public static let maxEntries = 100_000

    /// Parses and validates a whole file as strictly as the reference implementation: the header
    /// is a JSON object with unique keys, every size is computed with overflow checks, and the
    /// tensors tile the data section exactly (no overlaps, no gaps, no trailing bytes).
    public static func decode(_ data: Data, source: String = "safetensors data") throws -> SafeTensors {
        func fail(_ why: String) -> CNNError { .invalidArgument("\(source) is not a valid safetensors file: \(why)") }
        guard data.count >= 8 else { throw fail("it is \(data.count) bytes long, shorter than its 8-byte header length") }
        let length = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(maxHeaderBytes) else {
            throw fail("the header claims \(length) bytes; the limit is \(maxHeaderBytes) bytes (100 MB, as in the reference implementation)")
        }
        guard length <= UInt64(data.count - 8) else {
            throw fail("the header claims \(length) bytes but the file has \(data.count - 8) after the length (truncated?)")
        }
        let headerEnd = 8 + Int(length)
        let headerBytes = data[data.startIndex + 8 ..< data.startIndex + headerEnd]
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("the header does not start with '{'") }
        try HeaderScan.checkKeys(headerBytes, maxEntries: maxEntries, fail: fail)
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let dataSize = data.count - headerEnd
        var result = SafeTensors()
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
            result.metadata = m
        }
        var ranges: [(begin: Int, end: Int, name: String, shape: [Int])] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int],
                  offsets.count == 2 else {
                throw fail("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let width = elementSizes[dtype] else {
                throw fail("tensor '\(name)' has the unknown dtype '\(dtype)'")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)' has a negative dimension") }
            guard let count = CheckedSize.product(shape), let bytes = CheckedSize.product([count, width]) else {
                throw fail("tensor '\(name)' has shape \(shape), whose size overflows 64-bit integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw fail("tensor '\(name)' lies at bytes \(begin)..<\(end), outside the \(dataSize) data bytes (truncated?)")
            }
            guard end - begin == bytes else {
                throw fail("tensor '\(name)' has shape \(shape) (\(bytes) bytes of \(dtype)) but \(end - begin) bytes of data")
            }
            ranges.append((begin, end, name, shape))
            result.dtypes[name] = dtype
        }
        // The tensors must tile the data section: bytes no tensor claims are a sign of a corrupt
        // or doctored file (the reference rejects them as an incomplete buffer).
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for r in ranges {
            guard r.begin <= covered || r.begin == r.end else {
                throw fail("data bytes \(covered)..<\(r.begin) (before tensor '\(r.name)') belong to no tensor")
            }
            guard r.begin >= covered || r.begin == r.end else {
                let other = ranges.first { $0.name != r.name && $0.begin < r.end && r.begin < $0.end }?.name ?? "another tensor"
                throw fail("tensors '\(other)' and '\(r.name)' overlap")
            }
            covered = max(covered, r.end)
        }
        guard covered == dataSize else {
            throw fail("data bytes \(covered)..<\(dataSize) at the end of the file belong to no tensor")
        }
        for r in ranges {
            let dtype = result.dtypes[r.name]!
            let count = (r.end - r.begin) / elementSizes[dtype]!
            guard let values = data.withUnsafeBytes({ raw in
                floats(UnsafeRawBufferPointer(rebasing: raw[(headerEnd + r.begin)..<(headerEnd + r.end)]), dtype: dtype, count: count)
            }) else { continue }   // integer tensors (e.g. batch norm's num_batches_tracked) stay out of `tensors`
            result.tensors[r.name] = Tensor(shape: r.shape, values: values)
        }
        return result
    }

    /// The name and index of the first NaN or infinite value, if any, for errors that name it.
    public func firstNonFinite() -> (name: String, index: Int, value: Float)? {
        for name in tensors.keys.sorted() {
            if let i = tensors[name]!.values.firstIndex(where: { !$0.isFinite }) { return (name, i, tensors[name]!.values[i]) }
        }
        return nil
    }
}

/// Bytes per element of the safetensors dtypes.
private let elementSizes: [String: Int] = [
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
]

/// Little-endian floating-point data as Float32; nil for integer dtypes.
private func floats(_ raw: UnsafeRawBufferPointer, dtype: String, count: Int) -> [Float]? {
    switch dtype {
    case "F32":
        return [Float](unsafeUninitializedCapacity: count) { out, n in
            UnsafeMutableRawBufferPointer(out).copyMemory(from: raw); n = count
        }
    case "F64":
        return (0..<count).map { Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
    case "F16":
        return (0..<count).map { Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
    case "BF16":
        return (0..<count).map { Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
    default:
        return nil
    }
}

/// Whole-file writes that never leave a partial file: write a temporary sibling, flush it to
/// disk, rename it over the target (atomic on POSIX file systems), then flush the folder.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temp.path, contents: nil) else {
            throw CNNError.invalidArgument("cannot create '\(temp.path)': is the folder writable?")
        }
        do {
            let handle = try FileHandle(forWritingTo: temp)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temp.path, url.path) == 0 else {
                throw CNNError.invalidArgument("cannot move '\(temp.path)' to '\(url.path)': \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temp)
            if let e = error as? CNNError { throw e }
            throw CNNError.invalidArgument("cannot write '\(url.path)': \(error.localizedDescription)")
        }
        let dir = open(folder.path, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}
