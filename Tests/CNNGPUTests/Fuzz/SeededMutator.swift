import Foundation

/// A deterministic byte-level mutator in the style of libFuzzer's: each mutation of a seed is
/// reproducible from (seed index, iteration), so a crash found in CI replays exactly. Crashing
/// is the failure: a parser must either parse or throw.
struct SeededMutator {
    private var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    /// Values that break size arithmetic: zero, one, sign and width boundaries.
    static let interesting32: [UInt32] = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000,
                                          0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
    static let interesting64: [UInt64] = [0, 1, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
                                          1 << 32, 1 << 40, 100_000_001]

    /// One to four stacked mutations of `input`.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) { mutateOnce(&bytes) }
        return bytes
    }

    private mutating func position(_ bytes: [UInt8]) -> Int { Int.random(in: 0..<max(bytes.count, 1), using: &random) }

    private mutating func mutateOnce(_ bytes: inout [UInt8]) {
        if bytes.isEmpty { bytes = [UInt8.random(in: 0...255, using: &random)]; return }
        switch Int.random(in: 0..<9, using: &random) {
        case 0:   // flip a bit
            let i = position(bytes)
            bytes[i] ^= 1 << UInt8.random(in: 0...7, using: &random)
        case 1:   // a random byte
            bytes[position(bytes)] = UInt8.random(in: 0...255, using: &random)
        case 2:   // an interesting 32-bit value, either endianness
            let value = SeededMutator.interesting32.randomElement(using: &random)!
            let i = position(bytes)
            let word = Bool.random(using: &random) ? value.bigEndian : value.littleEndian
            withUnsafeBytes(of: word) { for (k, b) in $0.enumerated() where i + k < bytes.count { bytes[i + k] = b } }
        case 3:   // an interesting 64-bit value, little-endian (safetensors' header length)
            let value = SeededMutator.interesting64.randomElement(using: &random)!
            let i = Bool.random(using: &random) ? 0 : position(bytes)
            withUnsafeBytes(of: value.littleEndian) { for (k, b) in $0.enumerated() where i + k < bytes.count { bytes[i + k] = b } }
        case 4:   // truncate
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
        case 5:   // delete a run
            let i = position(bytes)
            bytes.removeSubrange(i..<min(bytes.count, i + Int.random(in: 1...16, using: &random)))
        case 6:   // insert random bytes
            let run = (0..<Int.random(in: 1...16, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            bytes.insert(contentsOf: run, at: position(bytes))
        case 7:   // duplicate a chunk elsewhere (repeats JSON keys, markers, chunks)
            let i = position(bytes)
            let chunk = Array(bytes[i..<min(bytes.count, i + Int.random(in: 1...64, using: &random))])
            bytes.insert(contentsOf: chunk, at: position(bytes))
        default:  // an ASCII digit run (sizes written as text in JSON headers)
            let digits = Array(String(SeededMutator.interesting64.randomElement(using: &random)!).utf8)
            let i = position(bytes)
            bytes.replaceSubrange(i..<min(bytes.count, i + digits.count), with: digits)
        }
    }
}
