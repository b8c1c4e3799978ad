import CZlib
import Foundation

/// gzip (and zlib) decompression through zlib's `inflate`, for the `.gz` files datasets ship as.
enum Gzip {
    /// Whether `bytes` start with the gzip magic number (1f 8b).
    static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }

    /// The decompressed contents of a gzip (or zlib) stream. Concatenated gzip members, which
    /// `gzip` itself produces when files are appended, are decompressed one after another.
    /// - Parameter source: names the file in error messages.
    /// - Throws: `CNNError.invalidArgument` if the stream is corrupt or ends early.
    /// - Parameter limit: the most bytes the output may reach (default: half the memory this
    ///   process may use, at least 64 MiB).
    static func decompress(_ input: [UInt8], source: String, limit: Int? = nil) throws -> [UInt8] {
        func corrupt(_ why: String) -> CNNError {
            .invalidArgument("\(source): corrupt gzip data (\(why)). The file is damaged or was cut short; "
                + "reinstall or re-download it, or decompress it yourself with `gunzip` to see the problem.")
        }
        guard !input.isEmpty else { throw corrupt("the file is empty") }

        var output = [UInt8]()
        output.reserveCapacity(expectedSize(of: input))
        var stream = z_stream()
        // 15 + 32: the largest window, and detect a gzip or zlib header automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }

        let chunk = 1 << 18
        let outputLimit = limit ?? max(HostMemory.availableBytes / 2, 1 << 26)
        var buffer = [UInt8](repeating: 0, count: chunk)
        try input.withUnsafeBufferPointer { inBuf in
            let base = UnsafeMutablePointer(mutating: inBuf.baseAddress!)
            var fed = 0  // bytes handed to zlib so far; avail_in is 32-bit, so huge inputs go in slices
            while true {
                if stream.avail_in == 0 && fed < inBuf.count {
                    let slice = min(inBuf.count - fed, Int(UInt32.max))
                    stream.next_in = base + fed
                    stream.avail_in = UInt32(slice)
                    fed += slice
                }
                var status: Int32 = Z_OK
                let produced: Int = buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                output.append(contentsOf: buffer[0..<produced])
                // A few megabytes of deflate can expand a thousandfold: stop a "gzip bomb"
                // before it takes the machine's memory.
                guard output.count <= outputLimit else {
                    throw CNNError.outOfMemory(requestedBytes: output.count, detail: "\(source) decompresses to more than "
                        + "\(outputLimit) bytes, half the memory this process may use: a corrupt or hostile file "
                        + "(a \"gzip bomb\"), or a dataset too large for this machine's memory.")
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another member may follow (`cat a.gz b.gz`); trailing zero padding is allowed.
                    let consumed = fed - Int(stream.avail_in)
                    if inBuf[consumed...].allSatisfy({ $0 == 0 }) { return }
                    guard inflateReset(&stream) == Z_OK else { throw corrupt("could not restart for the next member") }
                case Z_BUF_ERROR where stream.avail_in == 0 && fed == inBuf.count:
                    throw corrupt("the stream ends early: the file is truncated")
                case Z_BUF_ERROR:
                    continue
                case Z_NEED_DICT:
                    throw corrupt("it asks for a preset dictionary")
                case Z_MEM_ERROR:
                    throw CNNError.outOfMemory(requestedBytes: chunk, detail: "decompressing \(source)")
                default:
                    throw corrupt(stream.msg.map { String(cString: $0) } ?? "inflate error \(status)")
                }
            }
        }
        return output
    }

    /// The decompressed size a gzip trailer announces (modulo 2^32), as a capacity hint;
    /// bounded so a corrupt trailer cannot make us reserve absurd amounts.
    private static func expectedSize(of input: [UInt8]) -> Int {
        guard isGzip(input), input.count >= 18 else { return input.count * 4 }
        let n = input.count
        let size = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        return min(size, input.count * 1032)  // deflate cannot expand beyond ~1032:1
    }

    /// gzip-compresses `bytes` (zlib `deflate` with a gzip header). Used to write test fixtures
    /// and any dataset files we export, so they read back through `decompress`.
    static func compress(_ bytes: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: the largest window, with a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CNNError.invalidArgument("gzip: zlib's deflate could not start")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(bytes.count)))
        var output = [UInt8](repeating: 0, count: bound)
        var status: Int32 = Z_OK
        bytes.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                status = deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            throw CNNError.invalidArgument("gzip: deflate failed with status \(status)")
        }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }
}
