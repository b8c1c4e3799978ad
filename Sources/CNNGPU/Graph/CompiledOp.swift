/// One device op of a compiled plan: what it is (for the profile and `summary`), what it costs,
/// and a closure that queues it. Its descriptors were built and its arguments checked when the
/// plan was compiled; running it only queues work on the backend.
public struct CompiledOp {
    public enum Phase: String, Sendable { case forward, loss, backward, hook, update }

    /// The graph node the op belongs to ("conv1"), or the plan part ("loss", "optimizer").
    public let name: String
    /// What the op computes after fusion: "conv2d+bias+relu", "batchnorm+relu", "relu backward".
    public let kind: String
    public var phase: Phase
    /// The problem, e.g. "8×64×56×56 → 8×64×56×56, 3×3/1".
    public let shape: String
    /// The algorithm chosen at compile time ("direct", "im2colGEMM", "—" where there is one).
    public let algorithm: String
    /// Arithmetic (floating-point operations) and memory traffic (bytes) of one run, for the
    /// profile's GFLOP/s and GB/s; 0 when not meaningful.
    public let flops: Double
    public let bytes: Double
    /// The graph node whose seed the op uses (dropout); -1 for none.
    public let node: Int
    let run: (_ seed: UInt64) throws -> Void

    public init(name: String, kind: String, phase: Phase, shape: String = "", algorithm: String = "—",
                flops: Double = 0, bytes: Double = 0, node: Int = -1, run: @escaping (_ seed: UInt64) throws -> Void) {
        self.name = name; self.kind = kind; self.phase = phase; self.shape = shape; self.algorithm = algorithm
        self.flops = flops; self.bytes = bytes; self.node = node; self.run = run
    }
}

/// Shape text for op descriptions: "8×64×56×56".
func shapeText(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "×") }

extension LayerContext {
    /// One op of this layer: `check` (the shared argument validation) runs now, at compile
    /// time; `encode` runs every step with the step's seed.
    func op(_ kind: String, _ phase: CompiledOp.Phase, bytes: Double = 0, check: () throws -> Void,
            encode: @escaping (_ seed: UInt64) throws -> Void) throws -> CompiledOp {
        try check()
        return CompiledOp(name: name, kind: kind, phase: phase, shape: shapeText, bytes: bytes, node: node, run: encode)
    }
}
