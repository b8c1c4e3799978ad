@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/pooling.cl once on tiny shapes, for scripts/check-kernels.sh
/// (oclgrind: out-of-bounds, races, uninitialized reads). Results are checked against the CPU
/// backend so a run also shows the kernels did their work.
final class KernelCheckPoolingTests: XCTestCase {
    /// The max and average kernels, forward and backward, at POOL_VEC 1 and 4 (the vector forms
    /// with 1, 2 and 4 rows per work-item), on rows wide enough for their vector taps (stride 1
    /// and 2, borders gathered, a partial last vector, partial row blocks), whichever kind the
    /// checking device is. POOL_VEC 8 is in KernelCheckPoolingVector8Tests.
    func testVectorForms() throws {
        try checkPoolingForms([(1, 1, 1), (4, 1, 4), (4, 2, 4), (4, 4, 4)])
    }

    func testEveryPoolingKernel() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let padding = Padding2D(top: 1, bottom: 0, left: 1, right: 1)
        for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
            let d = try Pool2DDescriptor(batch: 2, channels: 3, inH: 7, inW: 5, windowH: 3, windowW: 2,
                                         strideH: 2, strideW: 1, padding: padding, mode: mode)
            let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
            var results: [[Float]] = []
            for b in [cpu as any PoolingOps, cl as any PoolingOps] {
                let xb = try b.makeBuffer(x), y = try b.hostInitialized(d.outputCount, dtype: .float32)
                let indices = try b.hostInitialized(d.outputCount, dtype: .int32)
                let dx = try b.hostInitialized(d.inputCount, dtype: .float32)
                if mode == .max { try b.poolingForward(d, x: xb, y: y, indices: nil) }  // max_pool_forward
                try b.poolingForward(d, x: xb, y: y, indices: mode == .max ? indices : nil)
                try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: mode == .max ? indices : nil, dx: dx)
                results.append(try b.download(y) + b.download(dx))
            }
            assertClose(results[1], results[0], tolerance: 1e-4, "\(mode) seed \(rng.seed)")
        }
        let (planes, spatial) = (5, 9)
        let x = rng.floats(planes * spatial), dy = rng.floats(planes)
        var results: [[Float]] = []
        for b in [cpu as any PoolingOps, cl as any PoolingOps] {
            let y = try b.hostInitialized(planes, dtype: .float32), dx = try b.hostInitialized(planes * spatial, dtype: .float32)
            try b.globalAveragePoolForward(planes: planes, spatial: spatial, x: try b.makeBuffer(x), y: y)
            try b.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: try b.makeBuffer(dy), dx: dx)
            results.append(try b.download(y) + b.download(dx))
        }
        assertClose(results[1], results[0], tolerance: 1e-4, "global average seed \(rng.seed)")
        // Adaptive pooling, down with overlapping windows on one axis and up on the other.
        for s in [AdaptiveShape(planes: 3, inH: 7, inW: 3, outH: 3, outW: 5),
                  AdaptiveShape(planes: 2, inH: 13, inW: 10, outH: 6, outW: 4)] {
            let x = rng.floats(s.inputCount), dy = rng.floats(s.outputCount)
            var results: [[Float]] = []
            for b in [cpu as any PoolingOps, cl as any PoolingOps] {
                let y = try b.hostInitialized(s.outputCount, dtype: .float32), dx = try b.hostInitialized(s.inputCount, dtype: .float32)
                try b.adaptiveAveragePoolForward(s, x: try b.makeBuffer(x), y: y)
                try b.adaptiveAveragePoolBackward(s, dy: try b.makeBuffer(dy), dx: dx)
                results.append(try b.download(y) + b.download(dx))
            }
            assertClose(results[1], results[0], tolerance: 1e-4, "adaptive average \(s) seed \(rng.seed)")
        }
    }
}

/// The POOL_VEC 8 forms (the CPU default) and the 16-wide max gather of 3-wide stride-2 windows
/// (POOL_MAX_GATHER_VEC 16, the CPU default), in their own class: oclgrind 21.10's --uninitialized
/// checker crashes inside the simulator on their backward gathers (their candidate rows held
/// in private vectors across several input rows; POOL_VEC 4 runs clean under it), so
/// scripts/check-kernels.sh checks them for out-of-bounds accesses and races only.
final class KernelCheckPoolingVector8Tests: XCTestCase {
    func testVectorForms() throws {
        try checkPoolingForms([(8, 1, 8), (8, 2, 16), (8, 4, 16)])
    }
}

/// Runs the max and average kernels in the given (POOL_VEC, POOL_ROWS, POOL_MAX_GATHER_VEC) forms
/// against the CPU backend (see KernelCheckPoolingTests.testVectorForms).
private func checkPoolingForms(_ forms: [(Int, Int, Int)]) throws {
    let cl = try TestBackends.requireOpenCL()
    defer { try? cl.memoryBound.set(MemoryBoundTunables.pooling, nil) }
    var rng = SeededGenerator.fresh()
    var problems: [Pool2DDescriptor] = []
    for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
        problems.append(try Pool2DDescriptor(batch: 1, channels: 2, inH: 5, inW: 37, windowH: 3, windowW: 3,
                                             strideH: 2, strideW: 2, padding: Padding2D(1), mode: mode))
        problems.append(try Pool2DDescriptor(batch: 1, channels: 2, inH: 4, inW: 21, windowH: 3, windowW: 3,
                                             strideH: 1, strideW: 1, padding: Padding2D(1), mode: mode))
        // A last vector whose last taps end on the row's last column.
        problems.append(try Pool2DDescriptor(batch: 1, channels: 1, inH: 3, inW: 32, windowH: 3, windowW: 3,
                                             strideH: 2, strideW: 2, padding: Padding2D(1), mode: mode))
        // Stride 3: a vector's candidate outputs start at a different lane in every vector.
        problems.append(try Pool2DDescriptor(batch: 1, channels: 1, inH: 6, inW: 26, windowH: 2, windowW: 4,
                                             strideH: 2, strideW: 3, padding: Padding2D(top: 1, bottom: 0, left: 1, right: 2),
                                             mode: mode))
    }
    // Max pooling with ReLU's backward folded in (POOL_MASK_NON_POSITIVE): winners −1.
    problems.append(try Pool2DDescriptor(batch: 1, channels: 2, inH: 5, inW: 37, windowH: 3, windowW: 3, strideH: 2,
                                         strideW: 2, padding: Padding2D(1), mode: .max, masksNonPositiveWinners: true))
    for (vector, rows, gather) in forms {
        var values = MemoryBoundTunables.pooling.cpuDefault
        values["POOL_VEC"] = vector
        values["POOL_ROWS"] = rows
        values["POOL_MAX_GATHER_VEC"] = gather
        try cl.memoryBound.set(MemoryBoundTunables.pooling, values)
        for d in problems {
            // Mostly non-positive where windows are masked, so many winners are.
            let shift: Float = d.masksNonPositiveWinners ? 0.7 : 0
            let x = (0..<d.inputCount).map { Float($0) / Float(d.inputCount) - shift }.shuffled(using: &rng)
            let dy = rng.floats(d.outputCount)
            var results: [[Float]] = []
            for b in [TestBackends.cpu as any PoolingOps, cl as any PoolingOps] {
                let xb = try b.makeBuffer(x), y = try b.hostInitialized(d.outputCount, dtype: .float32)
                let dx = try b.hostInitialized(d.inputCount, dtype: .float32)
                guard d.mode == .max else {
                    try b.poolingForward(d, x: xb, y: y, indices: nil)
                    try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: nil, dx: dx)
                    results.append(try b.download(y) + b.download(dx))
                    continue
                }
                let plain = try b.hostInitialized(d.outputCount, dtype: .float32)
                let indices = try b.hostInitialized(d.outputCount, dtype: .int32)
                try b.poolingForward(d, x: xb, y: plain, indices: nil)
                try b.poolingForward(d, x: xb, y: y, indices: indices)
                try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: indices, dx: dx)
                results.append(try b.download(plain) + b.download(y) + b.downloadInt32(indices).map { Float($0) }
                    + b.download(dx))
            }
            assertClose(results[1], results[0], tolerance: 1e-6,
                        "POOL_VEC \(vector) POOL_ROWS \(rows) POOL_MAX_GATHER_VEC \(gather) \(d) seed \(rng.seed)")
        }
    }
}
