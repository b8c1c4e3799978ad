@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/pooling_same.cl once on tiny shapes, for scripts/check-kernels.sh
/// (oclgrind: out-of-bounds, races, uninitialized reads), against the CPU backend: three
/// planes (the average's interior kernels on the middle one, its `_edge` kernels on the first
/// and last), a 17-wide row in groups rounded up to 24 work-items, and 4-row strips with a
/// partial last. The max kernels with one column per work-item (the GPU form), 8 (a last strip
/// that overlaps the one before and stores one column) and 4 with a 5×5 window (a middle strip
/// whose window reaches past the row), with and without indices.
final class KernelCheckPoolingSameTests: XCTestCase {
    func testEveryPoolingSameKernel() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.poolingSame, nil) }
        var rng = SeededGenerator.fresh()
        let runs: [(PoolingMode, window: Int, vector: Int)] = [
            (.averageIncludingPadding, 3, 8), (.averageExcludingPadding, 3, 8), (.max, 3, 1), (.max, 3, 8), (.max, 5, 4),
        ]
        for (mode, window, vector) in runs {
            try cl.memoryBound.set(MemoryBoundTunables.poolingSame,
                                   ["POOL_SAME_ROWS": 4, "POOL_SAME_ALIGN": 8, "POOL_SAME_VEC": vector])
            let d = try Pool2DDescriptor(batch: 1, channels: 3, inH: 6, inW: 17, windowH: window, windowW: window,
                                         strideH: 1, strideW: 1, padding: Padding2D(window / 2), mode: mode)
            XCTAssertTrue(cl.samePoolingApplies(d))
            let x = (0..<d.inputCount).map { Float($0) / Float(d.inputCount) }.shuffled(using: &rng)
            let dy = rng.floats(d.outputCount)
            var results: [[Float]] = []
            for b in [TestBackends.cpu as any PoolingOps, cl as any PoolingOps] {
                let xb = try b.makeBuffer(x), y = try b.hostInitialized(d.outputCount, dtype: .float32)
                let indices = try b.hostInitialized(d.outputCount, dtype: .int32)
                let dx = try b.hostInitialized(d.inputCount, dtype: .float32)
                try b.poolingForward(d, x: xb, y: y, indices: mode == .max ? indices : nil)
                try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: mode == .max ? indices : nil, dx: dx)
                results.append(try b.download(y) + b.download(dx))
                if mode == .max {
                    // The forward pass without indices (inference).
                    try b.poolingForward(d, x: xb, y: y, indices: nil)
                    results[results.count - 1] += try b.download(y)
                }
            }
            assertClose(results[1], results[0], tolerance: 1e-5, "\(mode) \(window)×\(window) vector \(vector) seed \(rng.seed)")
        }
    }
}
