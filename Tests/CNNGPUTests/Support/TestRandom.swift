import Foundation

/// SplitMix64: a tiny, seeded generator so a failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    let seed: UInt64

    init(seed: UInt64) { self.state = seed; self.seed = seed }

    /// The seed of this test process: `CNNGPU_TEST_SEED` when set (to replay a failure), else
    /// drawn fresh. Printed once, and named in `assertClose` failures.
    static let sessionSeed: UInt64 = {
        let variable = ProcessInfo.processInfo.environment["CNNGPU_TEST_SEED"]
        if let variable, variable.isEmpty == false {
            guard let seed = UInt64(variable) else {
                fatalError("CNNGPU_TEST_SEED must be an unsigned 64-bit integer, got '\(variable)'")
            }
            print("test seed \(seed) (from CNNGPU_TEST_SEED)")
            return seed
        }
        let seed = UInt64.random(in: 0...UInt64.max)
        print("test seed \(seed) (replay with CNNGPU_TEST_SEED=\(seed))")
        return seed
    }()

    nonisolated(unsafe) private static var drawsPerCallSite: [String: UInt64] = [:]
    private static let drawsLock = NSLock()

    /// A generator for one call site: its seed mixes the session seed with the call site and how
    /// often that site has drawn before, so a test draws the same values whenever the session
    /// seed is the same, whichever other tests run (an `--filter` replay reproduces it). A helper
    /// shared by several tests passes its caller's line, so each test keeps its own draws.
    static func fresh(file: String = #fileID, line: Int = #line) -> SeededGenerator {
        let site = "\(file):\(line)"
        let occurrence: UInt64 = drawsLock.withLock {
            defer { drawsPerCallSite[site, default: 0] += 1 }
            return drawsPerCallSite[site, default: 0]
        }
        var mixer = SeededGenerator(seed: (sessionSeed ^ stableHash(site)) &+ occurrence &* 0xD1B5_4A32_D192_ED03)
        return SeededGenerator(seed: mixer.next())
    }

    /// FNV-1a: unlike `Hasher`, the same in every process.
    private static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` values uniform in `range`.
    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }

    mutating func ints(_ count: Int, below bound: Int) -> [Int32] {
        (0..<count).map { _ in Int32(Int.random(in: 0..<bound, using: &self)) }
    }
}
