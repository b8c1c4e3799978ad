@testable import CNNGPU
import Foundation
import XCTest

/// Bandwidth of the memory-bound ops at ResNet-50 batch-8 shapes, on the OpenCL device and on the
/// CPU backend, next to a plain copy of the same number of bytes on the same backend
/// (Benchmarks/NOTES-memory-bound.md), and next to the device's copy bandwidth: a copy of 256 MB,
/// far beyond the caches, timed before and after the ops (the best of both). The first ratio is
/// the stricter one for small tensors, whose own copy runs from the caches at up to 5× the
/// device's bandwidth; the second is the issues' wording ("≥ 50% of the device's measured copy
/// bandwidth"). A measurement, not a test: skipped unless CNNGPU_BENCH=1, and it asserts
/// nothing about speed. CNNGPU_BENCH_BACKEND=cpu|opencl runs one backend only.
final class MemoryBoundBenchmarkTests: XCTestCase {
    /// One op: the bytes it must move at least (each input read once, each output written
    /// once) and how to enqueue it once.
    private struct Case {
        let name: String
        let bytes: Int
        let run: () throws -> Void
    }

    func testMemoryBoundBandwidthOpenCL() throws {
        let environment = try benchmarkEnvironment(backend: "opencl")
        let b = try TestBackends.requireOpenCL()
        try forceTunables(b, environment["CNNGPU_BENCH_TUNABLES"])
        defer { for family in Self.families { try? b.memoryBound.set(family, nil) } }
        try measure(b, only: environment["CNNGPU_BENCH_ONLY"])
    }

    /// The host's share of a small op on OpenCL: a softmax over 8×1000 floats (the classifier's,
    /// 32 KB) enqueued 50 times, timed once when the 50 are queued and once when the device has
    /// run them; best of 400 rounds, µs per launch. On PoCL the device runs on the same cores,
    /// so every µs the host spends per launch is taken from the kernels.
    func testHostLaunchCostOpenCL() throws {
        _ = try benchmarkEnvironment(backend: "opencl")
        let b = try TestBackends.requireOpenCL()
        let shape = AxisShape(outer: 8, axis: 1000, inner: 1)
        let x = try filled(b, shape.count), y = try filled(b, shape.count)
        var queued = Double.infinity, done = Double.infinity
        for _ in 0..<400 {
            let start = Date()
            for _ in 0..<50 { try b.encodeSoftmaxForward(shape, log: false, x: x, y: y) }
            queued = min(queued, Date().timeIntervalSince(start) / 50)
            try b.synchronize()
            done = min(done, Date().timeIntervalSince(start) / 50)
        }
        print(String(format: "softmax fwd 8x1000 on %@: host %.2f µs per launch, %.2f µs per launch run",
                     b.info.name, queued * 1e6, done * 1e6))
    }

    func testMemoryBoundBandwidthCPU() throws {
        let environment = try benchmarkEnvironment(backend: "cpu")
        try measure(CPUBackend(), only: environment["CNNGPU_BENCH_ONLY"])
    }

    private func benchmarkEnvironment(backend: String) throws -> [String: String] {
        let environment = ProcessInfo.processInfo.environment
        guard environment["CNNGPU_BENCH"] == "1" else {
            throw XCTSkip("a benchmark: set CNNGPU_BENCH=1 to run it")
        }
        if let only = environment["CNNGPU_BENCH_BACKEND"], only != backend {
            throw XCTSkip("CNNGPU_BENCH_BACKEND=\(only)")
        }
        return environment
    }

    private func measure(_ b: any Backend, only: String?) throws {
        let deviceBytes = 256 << 20
        var deviceCopy = try bestSeconds(b, try copy(b, bytes: deviceBytes))
        var lines: [(name: String, bytes: Int, seconds: Double, copySeconds: Double)] = []
        for c in try cases(b, only: only) where only.map({ c.name.contains($0) }) ?? true {
            let (seconds, copySeconds) = try bestSeconds(b, c.run, alternatingWith: try copy(b, bytes: c.bytes))
            lines.append((c.name, c.bytes, seconds, copySeconds))
        }
        deviceCopy = min(deviceCopy, try bestSeconds(b, try copy(b, bytes: deviceBytes)))
        let deviceGBps = Double(deviceBytes) / deviceCopy / 1e9
        var report = "\(b.info.backend) \(b.info.name), \(b.info.computeUnits) compute units; device copy "
            + String(format: "%.1f GB/s (256 MB)\n", deviceGBps)
        report += "op                               MB     ms   GB/s  copy GB/s  ratio  ÷device\n"
        for line in lines {
            let gbps = Double(line.bytes) / line.seconds / 1e9, copy = Double(line.bytes) / line.copySeconds / 1e9
            report += line.name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(format: " %6.1f %6.2f %6.1f %10.1f %6.2f %8.2f\n", Double(line.bytes) / 1e6,
                         line.seconds * 1e3, gbps, copy, gbps / copy, gbps / deviceGBps)
        }
        print(report)
    }

    /// The best time per call of `run` alone, in the rounds `bestSeconds(_:_:alternatingWith:)` uses.
    private func bestSeconds(_ b: any Backend, _ run: () throws -> Void) throws -> Double {
        try bestSeconds(b, run, alternatingWith: {}).op
    }

    private static let families = [MemoryBoundTunables.streaming, MemoryBoundTunables.batchNorm,
                                   MemoryBoundTunables.pooling, MemoryBoundTunables.softmax,
                                   MemoryBoundTunables.poolingSame, MemoryBoundTunables.poolingTiled]

    /// "POOL_WG=256,BN_VEC=8": values that replace the defaults of the families naming them, to
    /// compare candidates when choosing the defaults.
    private func forceTunables(_ b: OpenCLBackend, _ text: String?) throws {
        guard let text, !text.isEmpty else { return }
        let pairs = text.split(separator: ",").map { $0.split(separator: "=") }
        for family in Self.families {
            var values = b.memoryBound.values(family)
            for pair in pairs where pair.count == 2 && family.names.contains(String(pair[0])) {
                values[String(pair[0])] = Int(pair[1])
            }
            try b.memoryBound.set(family, values)
            print("tunables: \(family.options(values))")
        }
    }

    /// The best time per call of the op and of its copy, measured in turns (op, copy, op, copy,
    /// …) so that both see the same load on a shared machine; a round runs one of them `repeats`
    /// times and waits once. The CPU backend runs ops synchronously, so its rounds are short
    /// (~2 ms, 15 turns): a round the other builds interrupt is then one of many, not part of
    /// every average (its copy ran at 12–130 GB/s from line to line in 0.2 s rounds under load,
    /// NOTES-memory-bound.md). OpenCL keeps 0.2 s rounds, 3 turns: its launch cost is in the op.
    /// A round holds at most 50 calls, so an op of a few µs (softmax at 8×1000) would be timed
    /// for well under a millisecond in all; such ops get more turns, up to 40 or about 20 ms of
    /// rounds, so that one wake-up of PoCL's workers does not decide the figure (at 8×1000 the
    /// best of 3 turns ranged 4.4–5.5 µs a call where `testHostLaunchCostOpenCL`'s best of 400
    /// rounds was 3.7).
    private func bestSeconds(_ b: any Backend, _ run: () throws -> Void,
                             alternatingWith copy: () throws -> Void) throws -> (op: Double, copy: Double) {
        let cpu = b is CPUBackend
        let roundSeconds = cpu ? 0.002 : 0.2
        func repeats(_ body: () throws -> Void) throws -> Int {
            try body(); try b.synchronize()
            let start = Date()
            try body(); try b.synchronize()
            return max(1, min(50, Int(roundSeconds / max(Date().timeIntervalSince(start), 1e-5))))
        }
        func round(_ body: () throws -> Void, _ repeats: Int) throws -> Double {
            let start = Date()
            for _ in 0..<repeats { try body() }
            try b.synchronize()
            return Date().timeIntervalSince(start) / Double(repeats)
        }
        let opRepeats = try repeats(run), copyRepeats = try repeats(copy)
        var turns = 15
        if !cpu {
            let roundEstimate = try round(run, opRepeats) + round(copy, copyRepeats)
            turns = max(3, min(40, Int(0.02 / roundEstimate)))
        }
        var best = (op: Double.infinity, copy: Double.infinity)
        for _ in 0..<turns {
            best.op = min(best.op, try round(run, opRepeats))
            best.copy = min(best.copy, try round(copy, copyRepeats))
        }
        return best
    }

    /// A device-to-device copy that moves `bytes` (half read, half written): the same bytes and
    /// working set as the op it is compared with. On the CPU backend it is split into rows so
    /// that every core copies, as the ops run on every core; on OpenCL it is one
    /// `clEnqueueCopyBuffer`.
    private func copy(_ b: any Backend, bytes: Int) throws -> () throws -> Void {
        let rows = b is CPUBackend ? 64 : 1
        let length = max(1, bytes / 8 / rows), count = rows * length
        let src = try b.allocate(count, dtype: .float32), dst = try b.allocate(count, dtype: .float32)
        try b.encodeFill(src, value: 1, offset: 0, count: count)
        return {
            try b.encodeCopyStrided(rows: rows, rowLength: length, src: src, srcOffset: 0, srcStride: length,
                                    dst: dst, dstOffset: 0, dstStride: length)
        }
    }

    private func filled(_ b: any Backend, _ count: Int, _ value: Float = 0.5) throws -> any DeviceBuffer {
        let buffer = try b.allocate(count, dtype: .float32)
        var rng = SeededGenerator(seed: UInt64(count))
        try b.upload(rng.floats(count).map { $0 + value }, to: buffer)
        return buffer
    }

    /// The cases whose name contains `only` (all when nil). Buffers are made only for the groups
    /// asked for: filling ResNet-50's parameters alone takes a minute in an unoptimized test.
    private func cases(_ b: any Backend, only: String?) throws -> [Case] {
        var cases: [Case] = []
        func wanted(_ names: String...) -> Bool { only.map { o in names.contains { $0.contains(o) } } ?? true }
        let f = 4
        // Max pool 3×3/2, padding 1, 8×64×112² → 56² (ResNet-50's stem) and 2×2/2 on 8×128×112²
        // (VGG-16's second pool); average pool 2×2/2 on 8×128×56² (DenseNet's transitions) and
        // 3×3/1 padding 1 on 8×192×28² (Inception-v3's pool branches); max pool 3×3/1 padding 1
        // on 8×192×28² (GoogLeNet's pool branches, inception 3a).
        let pools = [
            ("maxpool", "8x64x112 3x3/2", try Pool2DDescriptor(batch: 8, channels: 64, inH: 112, inW: 112, windowH: 3,
                                                                windowW: 3, strideH: 2, strideW: 2, padding: Padding2D(1), mode: .max)),
            // ResNet-50's stem pool at batch 32, 64² input: rows of 32 in, 16 out.
            ("maxpool", "32x64x32 3x3/2", try Pool2DDescriptor(batch: 32, channels: 64, inH: 32, inW: 32, windowH: 3,
                                                                windowW: 3, strideH: 2, strideW: 2, padding: Padding2D(1), mode: .max)),
            ("maxpool", "8x128x112 2x2/2", try Pool2DDescriptor(batch: 8, channels: 128, inH: 112, inW: 112, windowH: 2,
                                                                 windowW: 2, strideH: 2, strideW: 2, padding: Padding2D(0), mode: .max)),
            ("avgpool", "8x128x56 2x2/2", try Pool2DDescriptor(batch: 8, channels: 128, inH: 56, inW: 56, windowH: 2,
                                                                windowW: 2, strideH: 2, strideW: 2, padding: Padding2D(0), mode: .averageIncludingPadding)),
            ("avgpool", "8x192x28 3x3/1", try Pool2DDescriptor(batch: 8, channels: 192, inH: 28, inW: 28, windowH: 3,
                                                                windowW: 3, strideH: 1, strideW: 1, padding: Padding2D(1), mode: .averageIncludingPadding)),
            ("maxpool", "8x192x28 3x3/1", try Pool2DDescriptor(batch: 8, channels: 192, inH: 28, inW: 28, windowH: 3,
                                                                windowW: 3, strideH: 1, strideW: 1, padding: Padding2D(1), mode: .max)),
        ]
        for (kind, label, pool) in pools where wanted("\(kind) fwd \(label)", "\(kind) bwd \(label)") {
            let px = try filled(b, pool.inputCount), py = try filled(b, pool.outputCount)
            let pidx = pool.mode == .max ? try b.allocate(pool.outputCount, dtype: .int32) : nil
            let pdx = try filled(b, pool.inputCount)
            // Max pooling also writes (forward) and reads (backward) one index per output.
            let outputs = pool.mode == .max ? 2 * pool.outputCount : pool.outputCount
            try b.encodePoolingForward(pool, x: px, y: py, indices: pidx)
            cases.append(Case(name: "\(kind) fwd \(label)", bytes: f * (pool.inputCount + outputs)) {
                try b.encodePoolingForward(pool, x: px, y: py, indices: pidx)
            })
            cases.append(Case(name: "\(kind) bwd \(label)", bytes: f * (pool.inputCount + outputs)) {
                try b.encodePoolingBackward(pool, dy: py, indices: pidx, dx: pdx)
            })
        }
        // Global average pooling on ResNet-50's head, 8×2048×7².
        if wanted("gap fwd 8x2048x7", "gap bwd 8x2048x7") {
            let planes = 8 * 2048, spatial = 49
            let gx = try filled(b, planes * spatial), gy = try filled(b, planes), gdx = try filled(b, planes * spatial)
            cases.append(Case(name: "gap fwd 8x2048x7", bytes: f * (planes * spatial + planes)) {
                try b.encodeGlobalAveragePoolForward(planes: planes, spatial: spatial, x: gx, y: gy)
            })
            cases.append(Case(name: "gap bwd 8x2048x7", bytes: f * (planes * spatial + planes)) {
                try b.encodeGlobalAveragePoolBackward(planes: planes, spatial: spatial, dy: gy, dx: gdx)
            })
        }
        // Batch norm (and BN+ReLU) on ResNet-50's two largest activations.
        for shape in [AxisShape(outer: 8, axis: 64, inner: 112 * 112), AxisShape(outer: 8, axis: 256, inner: 56 * 56)] {
            let label = "8x\(shape.axis)x\(Int(Double(shape.inner).squareRoot()))"
            guard wanted("bn train fwd \(label)", "bn infer fwd \(label)", "bn+relu bwd \(label)",
                         "bn+relu bwd from x \(label)") else { continue }
            let n = shape.count, c = shape.axis
            let x = try filled(b, n), y = try filled(b, n), dy = try filled(b, n), dx = try filled(b, n)
            let gamma = try filled(b, c, 1), beta = try filled(b, c), mean = try filled(b, c), invStd = try filled(b, c, 1)
            let rm = try filled(b, c), rv = try filled(b, c, 1), dg = try filled(b, c), db = try filled(b, c)
            cases.append(Case(name: "bn train fwd \(label)", bytes: f * 2 * n) {
                try b.encodeBatchNormForwardTraining(shape, x: x, gamma: gamma, beta: beta, y: y, runningMean: rm,
                                                     runningVar: rv, momentum: 0.1, epsilon: 1e-5, savedMean: mean,
                                                     savedInvStd: invStd, relu: true)
            })
            cases.append(Case(name: "bn infer fwd \(label)", bytes: f * 2 * n) {
                try b.encodeBatchNormForwardInference(shape, x: x, gamma: gamma, beta: beta, runningMean: rm,
                                                      runningVar: rv, epsilon: 1e-5, y: y, relu: true)
            })
            cases.append(Case(name: "bn+relu bwd \(label)", bytes: f * 4 * n) {
                try b.encodeBatchNormReLUBackward(shape, x: x, y: y, dy: dy, gamma: gamma, beta: nil, savedMean: mean,
                                                  savedInvStd: invStd, dx: dx, dGamma: dg, dBeta: db)
            })
            // The same with β: the mask recomputed from x where the backend can (y unread), counted
            // with the same 4 floats per element so that the two ratios compare.
            cases.append(Case(name: "bn+relu bwd from x \(label)", bytes: f * 4 * n) {
                try b.encodeBatchNormReLUBackward(shape, x: x, y: y, dy: dy, gamma: gamma, beta: beta, savedMean: mean,
                                                  savedInvStd: invStd, dx: dx, dGamma: dg, dBeta: db)
            })
        }
        // ReLU, add+ReLU and concatenation on 8×256×56².
        let n = 8 * 256 * 56 * 56
        if wanted("relu fwd 8x256x56", "relu bwd 8x256x56", "add+relu 8x256x56", "concat 2x 8x128x56") {
            let a = try filled(b, n), a2 = try filled(b, n), out = try filled(b, n), g = try filled(b, n)
            cases.append(Case(name: "relu fwd 8x256x56", bytes: f * 2 * n) {
                try b.encodeActivationForward(.relu, count: n, x: a, y: out)
            })
            cases.append(Case(name: "relu bwd 8x256x56", bytes: f * 3 * n) {
                try b.encodeActivationBackward(.relu, count: n, x: a, y: a, dy: g, dx: out)
            })
            cases.append(Case(name: "add+relu 8x256x56", bytes: f * 3 * n) {
                try b.encodeAdd(count: n, a: a, b: a2, out: out, activation: .relu)
            })
            // Concatenation of two 8×128×56² halves into 8×256×56² (Inception's Concat): strided copies.
            let half = 128 * 56 * 56
            cases.append(Case(name: "concat 2x 8x128x56", bytes: f * 2 * n) {
                try b.encodeCopyStrided(rows: 8, rowLength: half, src: a, srcOffset: 0, srcStride: half,
                                        dst: out, dstOffset: 0, dstStride: 2 * half)
                try b.encodeCopyStrided(rows: 8, rowLength: half, src: a2, srcOffset: 0, srcStride: half,
                                        dst: out, dstOffset: half, dstStride: 2 * half)
            })
        }
        // Softmax over 1000 classes at batch 8 (32 KB: launch cost) and batch 512 (2 MB: bandwidth).
        for rows in [8, 512] where wanted("softmax fwd \(rows)x1000", "softmax bwd \(rows)x1000") {
            let logits = AxisShape(outer: rows, axis: 1000, inner: 1)
            let sx = try filled(b, logits.count), sy = try filled(b, logits.count), sdy = try filled(b, logits.count)
            cases.append(Case(name: "softmax fwd \(rows)x1000", bytes: f * 2 * logits.count) {
                try b.encodeSoftmaxForward(logits, log: false, x: sx, y: sy)
            })
            cases.append(Case(name: "softmax bwd \(rows)x1000", bytes: f * 3 * logits.count) {
                try b.encodeSoftmaxBackward(logits, log: false, y: sy, dy: sdy, dx: sx)
            })
        }
        // Optimizer updates on ResNet-50's 25.6 M parameters.
        guard wanted("sgd momentum 25.6M", "adam 25.6M", "adamw 25.6M", "rmsprop 25.6M") else { return cases }
        let params = 25_557_032
        let w = try filled(b, params), grad = try filled(b, params, 0), m = try filled(b, params, 0)
        let v = try filled(b, params, 1)
        let sgd = SGDParameters(learningRate: 1e-6, momentum: 0.9)
        cases.append(Case(name: "sgd momentum 25.6M", bytes: f * 5 * params) {
            try b.encodeSGDUpdate(sgd, count: params, weights: w, gradients: grad, velocity: m)
        })
        let adam = AdamParameters(learningRate: 1e-6, step: 3)
        cases.append(Case(name: "adam 25.6M", bytes: f * 7 * params) {
            try b.encodeAdamUpdate(adam, count: params, weights: w, gradients: grad, m: m, v: v)
        })
        let adamW = AdamParameters(learningRate: 1e-6, weightDecay: 1e-2, decoupledWeightDecay: true, step: 3)
        cases.append(Case(name: "adamw 25.6M", bytes: f * 7 * params) {
            try b.encodeAdamUpdate(adamW, count: params, weights: w, gradients: grad, m: m, v: v)
        })
        // RMSprop with momentum: weights, square average and momentum read and written, gradients read.
        let rmsprop = RMSpropParameters(learningRate: 1e-6, momentum: 0.9)
        cases.append(Case(name: "rmsprop 25.6M", bytes: f * 7 * params) {
            try b.encodeRMSpropUpdate(rmsprop, count: params, weights: w, gradients: grad, square: v, momentum: m)
        })
        return cases
    }
}
