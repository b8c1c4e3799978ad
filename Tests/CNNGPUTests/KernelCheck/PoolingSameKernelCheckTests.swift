@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/pooling_same.cl once on tiny shapes, for scripts/check-kernels.sh
/// (oclgrind: out-of-bounds, races, uninitialized reads), against the CPU backend: three
/// planes (the interior kernels on the middle one, the `_edge` kernels on the first and last),
/// a 17-wide row in groups rounded up to 24 work-items, and 4-row strips with a partial last.
final class KernelCheckPoolingSameTests: XCTestCase {
    func testEveryPoolingSameKernel() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.poolingSame, nil) }
        try cl.memoryBound.set(MemoryBoundTunables.poolingSame, ["POOL_SAME_ROWS": 4, "POOL_SAME_ALIGN": 8])
        var rng = SeededGenerator.fresh()
        for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
            let d = try Pool2DDescriptor(batch: 1, channels: 3, inH: 6, inW: 17, windowH: 3, windowW: 3,
                                         strideH: 1, strideW: 1, padding: Padding2D(1), mode: mode)
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
            }
            assertClose(results[1], results[0], tolerance: 1e-5, "\(mode) seed \(rng.seed)")
        }
    }
}
