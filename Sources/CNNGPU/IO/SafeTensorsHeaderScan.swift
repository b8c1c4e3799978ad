import Foundation

/// A single pass over a safetensors header that checks what `JSONSerialization` cannot: its
/// top-level keys must be unique (the parser silently keeps the last of two equal keys, so a
/// doctored file could shadow a tensor), and their number must stay under a cap, so a header of
/// a million entries is refused in milliseconds instead of after gigabytes of parsing.
enum HeaderScan {
    static func checkKeys(_ header: Data, maxEntries: Int, fail: (String) -> CNNError) throws {
        try header.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
            var keys = Set<String>()
            var depth = 0
            var expectKey = false
            var i = 0
            while i < b.count {
                let c = b[i]
                if c == quote {
                    let start = i + 1
                    var escaped = false
                    i += 1
                    while i < b.count && b[i] != quote {
                        if b[i] == backslash { escaped = true; i += 1 }
                        i += 1
                    }
                    guard i < b.count else { throw fail("the header has an unterminated string") }
                    if depth == 1 && expectKey {
                        expectKey = false
                        let key = try decodeKey(UnsafeBufferPointer(rebasing: b[start..<i]), escaped: escaped, fail: fail)
                        guard keys.insert(key).inserted else {
                            throw fail("the header lists '\(key)' twice (a later entry would silently replace the first)")
                        }
                        guard keys.count <= maxEntries else {
                            throw fail("the header lists more than \(maxEntries) entries, the most this reader accepts")
                        }
                    }
                } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    depth += 1
                    if depth == 1 { expectKey = c == UInt8(ascii: "{") }
                } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                } else if c == UInt8(ascii: ",") && depth == 1 {
                    expectKey = true
                }
                i += 1
            }
        }
    }

    /// A key as JSON means it: escapes (`\u0061` is "a") are resolved so that spelled-differently
    /// duplicates are caught too.
    private static func decodeKey(_ bytes: UnsafeBufferPointer<UInt8>, escaped: Bool, fail: (String) -> CNNError) throws -> String {
        guard escaped else { return String(decoding: bytes, as: UTF8.self) }
        let literal = Data([UInt8(ascii: "\"")] + Array(bytes) + [UInt8(ascii: "\"")])
        guard let key = try? JSONSerialization.jsonObject(with: literal, options: .fragmentsAllowed) as? String else {
            throw fail("the header has a key with an invalid escape")
        }
        return key
    }
}
