@testable import CNNGPU
import XCTest

/// Runs Kernels/pooling_tiled.cl's kernel once on a tiny shape, for scripts/check-kernels.sh
/// (oclgrind: out-of-bounds, races, uninitialized reads), against the CPU backend: 17 outputs
/// a row in groups rounded up to 24, 3 output rows in groups of 2 (a partial last group).
final class KernelCheckPoolingTiledTests: XCTestCase {
    func testTiledAverageBackward() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.poolingTiled, nil) }
        try cl.memoryBound.set(MemoryBoundTunables.poolingTiled, ["POOL_TILED_ROWS": 2, "POOL_TILED_ALIGN": 8])
        var rng = SeededGenerator.fresh()
        let d = try Pool2DDescriptor(batch: 1, channels: 2, inH: 6, inW: 34, windowH: 2, windowW: 2,
                                     strideH: 2, strideW: 2, mode: .averageIncludingPadding)
        XCTAssertTrue(cl.tiledPoolingApplies(d))
        let dy = rng.floats(d.outputCount)
        var results: [[Float]] = []
        for b in [TestBackends.cpu as any PoolingOps, cl as any PoolingOps] {
            let dx = try b.hostInitialized(d.inputCount, dtype: .float32)
            try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: nil, dx: dx)
            results.append(try b.download(dx))
        }
        assertClose(results[1], results[0], tolerance: 1e-6, "seed \(rng.seed)")
    }
}
