import Foundation

/// Hand-made hostile files from the reliability report (issue 14), built in code so each says
/// what it attacks.
enum HostileInputs {
    /// A safetensors file from a raw JSON header and data section.
    static func safetensors(header: String, data: [UInt8] = []) -> Data {
        let json = Array(header.utf8)
        var out = Data(withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) })
        out.append(contentsOf: json)
        out.append(contentsOf: data)
        return out
    }

    static func floats(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    /// `png` with its IHDR width and height replaced (and the chunk's CRC fixed, so the
    /// decoder reaches the size check rather than a checksum error).
    static func png(_ png: Data, claimingWidth width: UInt32, height: UInt32) -> Data {
        var bytes = [UInt8](png)
        // Signature (8), chunk length (4), "IHDR" (4), then width and height, big-endian.
        for (k, value) in [width, height].enumerated() {
            for b in 0..<4 { bytes[16 + 4 * k + b] = UInt8(value >> (24 - 8 * UInt32(b)) & 0xFF) }
        }
        let crc = crc32(bytes[12..<29])
        for b in 0..<4 { bytes[29 + b] = UInt8(crc >> (24 - 8 * UInt32(b)) & 0xFF) }
        return Data(bytes)
    }

    /// `jpeg` with its frame header (SOF0) claiming another size.
    static func jpeg(_ jpeg: Data, claimingWidth width: UInt16, height: UInt16) -> Data {
        var bytes = [UInt8](jpeg)
        let sof = (2..<bytes.count - 9).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }!
        bytes[sof + 5] = UInt8(height >> 8); bytes[sof + 6] = UInt8(height & 0xFF)
        bytes[sof + 7] = UInt8(width >> 8); bytes[sof + 8] = UInt8(width & 0xFF)
        return Data(bytes)
    }

    /// CRC-32 (ISO 3309, as PNG uses), bit by bit: short chunks only.
    static func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
