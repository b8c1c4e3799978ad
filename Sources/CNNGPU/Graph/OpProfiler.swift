import Foundation

/// Times every compiled op of the steps it watches — what PyTorch's profiler and tinygrad's
/// DEBUG=2 give their users. On OpenCL (a backend opened with `profiling: true`) each op is
/// bracketed by device markers, so its time is device time, and the gap between one op's end
/// and the next one's start is time the device waited for the host. On the CPU backend, whose
/// ops run as they are called, it is wall-clock time.
public final class OpProfiler {
    public struct Record {
        public let step: Int
        public let name: String, kind: String, phase: CompiledOp.Phase
        public let shape: String, algorithm: String
        public let flops: Double, bytes: Double
        /// Start relative to the step's first op, and duration, in seconds.
        public let start: Double, seconds: Double
    }

    let backend: any Backend
    public private(set) var records: [Record] = []
    /// Completed steps.
    public private(set) var steps = 0
    /// Per step: the device (or op) time, and the wall time of the whole step.
    public private(set) var stepWallSeconds: [Double] = []

    private var pending: [(op: CompiledOp, begin: DeviceTimestamp, end: DeviceTimestamp)] = []
    private var hostTimes: [(op: CompiledOp, begin: Double, end: Double)] = []
    private var stepStart: Date?

    public init(backend: any Backend) throws {
        if let cl = backend as? OpenCLBackend, !cl.profiling {
            throw CNNError.invalidArgument("profiling OpenCL ops needs a queue with profiling: open the backend with "
                + "OpenCLBackend(deviceIndex:profiling: true)")
        }
        self.backend = backend
    }

    private var openCL: OpenCLBackend? { backend as? OpenCLBackend }

    /// Queues `body` (one op) between two timestamps.
    func time(_ op: CompiledOp, _ body: () throws -> Void) throws {
        if stepStart == nil { stepStart = Date() }
        if let cl = openCL {
            let begin = try cl.timestamp()
            try body()
            pending.append((op, begin, try cl.timestamp()))
        } else {
            let t0 = Date().timeIntervalSince1970
            try body()
            hostTimes.append((op, t0, Date().timeIntervalSince1970))
        }
    }

    /// Wraps the step's final read (which waits for the device) and closes the step.
    func timeRead<T>(_ read: () throws -> T) throws -> T {
        let value = try read()
        try finishStep()
        return value
    }

    private func finishStep() throws {
        defer { pending = []; hostTimes = []; stepStart = nil; steps += 1 }
        stepWallSeconds.append(Date().timeIntervalSince(stepStart ?? Date()))
        if let cl = openCL, let first = pending.first {
            for p in pending {
                let start = try cl.deviceSeconds(from: first.begin, to: p.begin)
                let seconds = try cl.deviceSeconds(from: p.begin, to: p.end)
                records.append(record(p.op, start: start, seconds: seconds))
            }
        } else if let first = hostTimes.first {
            for h in hostTimes { records.append(record(h.op, start: h.begin - first.begin, seconds: h.end - h.begin)) }
        }
    }

    private func record(_ op: CompiledOp, start: Double, seconds: Double) -> Record {
        Record(step: steps, name: op.name, kind: op.kind, phase: op.phase, shape: op.shape, algorithm: op.algorithm,
               flops: op.flops, bytes: op.bytes, start: start, seconds: seconds)
    }

    /// Forgets what was recorded (after warm-up steps).
    public func reset() { records = []; stepWallSeconds = []; steps = 0 }

    // MARK: Reports

    /// Mean time per step spent in ops, and in gaps between them (the device waiting for the
    /// host to queue the next op), in seconds.
    public var perStep: (ops: Double, gaps: Double, wall: Double) {
        guard steps > 0 else { return (0, 0, 0) }
        var ops = 0.0, gaps = 0.0
        for s in 0..<steps {
            let r = records.filter { $0.step == s }
            ops += r.reduce(0) { $0 + $1.seconds }
            if let last = r.last { gaps += max(0, last.start + last.seconds - r.reduce(0) { $0 + $1.seconds }) }
        }
        let n = Double(steps)
        return (ops / n, gaps / n, stepWallSeconds.reduce(0, +) / n)
    }

    /// The ops that took the most time, averaged over the recorded steps: op, shape,
    /// algorithm, ms, GFLOP/s or GB/s, and share of the step's op time.
    public func table(top: Int = 25) -> String {
        guard steps > 0 else { return "no profiled steps" }
        struct Row { var name: String, kind: String, shape: String, algorithm: String, flops: Double, bytes: Double, seconds: Double }
        var byOp: [String: Row] = [:]
        var order: [String] = []
        for r in records {
            let key = "\(r.name)|\(r.kind)|\(r.phase.rawValue)|\(r.shape)"
            if byOp[key] == nil {
                order.append(key)
                byOp[key] = Row(name: r.name, kind: r.kind, shape: r.shape, algorithm: r.algorithm, flops: r.flops, bytes: r.bytes, seconds: 0)
            }
            byOp[key]!.seconds += r.seconds / Double(steps)
        }
        let t = perStep
        let sorted = order.map { byOp[$0]! }.sorted { $0.seconds > $1.seconds }
        var rows: [[String]] = [["op", "kind", "shape", "algorithm", "ms", "rate", "share"]]
        for r in sorted.prefix(top) {
            let rate: String
            if r.flops > 0 { rate = String(format: "%.1f GFLOP/s", r.flops / r.seconds / 1e9) }
            else if r.bytes > 0 { rate = String(format: "%.2f GB/s", r.bytes / r.seconds / 1e9) }
            else { rate = "—" }
            rows.append([clip(r.name, 24), clip(r.kind, 30), clip(r.shape, 44), clip(r.algorithm, 16),
                         String(format: "%.3f", r.seconds * 1e3), rate, String(format: "%.1f%%", 100 * r.seconds / max(t.ops, 1e-12))])
        }
        // Text columns left-aligned, numbers right-aligned.
        let widths = (0..<7).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c >= 4 ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        if sorted.count > top { lines.append("… \(sorted.count - top) more ops") }
        lines.append(String(format: "per step: %.2f ms in %d ops, %.2f ms device idle between ops (waiting for the host), %.2f ms wall",
                            t.ops * 1e3, records.count / steps, t.gaps * 1e3, t.wall * 1e3))
        return lines.joined(separator: "\n")
    }

    /// A Chrome trace-event file (`{"traceEvents": [...]}`) that Perfetto and chrome://tracing open.
    public func chromeTrace() throws -> Data {
        var offset = 0.0
        var events: [[String: Any]] = [["name": "process_name", "ph": "M", "pid": 1,
                                        "args": ["name": "\(backend.info.name) (\(backend.info.backend))"]]]
        for s in 0..<steps {
            let r = records.filter { $0.step == s }
            for e in r {
                events.append(["name": e.kind == e.name ? e.name : "\(e.name) \(e.kind)", "cat": e.phase.rawValue, "ph": "X",
                               "pid": 1, "tid": 1, "ts": (offset + e.start) * 1e6, "dur": e.seconds * 1e6,
                               "args": ["shape": e.shape, "algorithm": e.algorithm, "step": s]])
            }
            offset += (r.last.map { $0.start + $0.seconds } ?? 0) + 1e-3
        }
        return try JSONSerialization.data(withJSONObject: ["traceEvents": events, "displayTimeUnit": "ms"],
                                          options: [.sortedKeys])
    }
}

private func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
