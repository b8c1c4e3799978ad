@testable import CNNGPU
import XCTest

/// Global average pooling's kernels in each form, for scripts/check-kernels.sh: staged groups
/// of small planes (local memory at POOL_VEC 1, one plane per work-item with vector loads and
/// stores above it; a partial last group and planes not a multiple of the vector), and large
/// planes (a work-group per plane forward, flattened vectors backward with a partial last
/// one). Results are checked against the CPU backend.
final class KernelCheckGlobalAveragePoolTests: XCTestCase {
    func testStagedForm() throws { try check(vectors: [1]) }
}

/// The POOL_VEC 4 and 8 forms, in their own class: oclgrind 21.10's --uninitialized checker
/// crashes inside the simulator on them (as on the vector softmax), so scripts/check-kernels.sh
/// checks them for out-of-bounds accesses and races only, and the staged form above keeps
/// the uninitialized checker.
final class KernelCheckGlobalAveragePoolVectorTests: XCTestCase {
    func testVectorForms() throws { try check(vectors: [4, 8]) }
}

private func check(vectors: [Int]) throws {
    let cl = try TestBackends.requireOpenCL()
    defer { try? cl.memoryBound.set(MemoryBoundTunables.pooling, nil) }
    var rng = SeededGenerator.fresh()
    for vector in vectors {
        var values = MemoryBoundTunables.pooling.cpuDefault
        values["POOL_VEC"] = vector
        values["POOL_WG"] = 16
        try cl.memoryBound.set(MemoryBoundTunables.pooling, values)
        for (planes, spatial) in [(19, 11), (3, 261)] {
            let x = rng.floats(planes * spatial), dy = rng.floats(planes)
            var results: [[Float]] = []
            for b in [TestBackends.cpu as any PoolingOps, cl as any PoolingOps] {
                let y = try b.hostInitialized(planes, dtype: .float32)
                let dx = try b.hostInitialized(planes * spatial, dtype: .float32)
                try b.globalAveragePoolForward(planes: planes, spatial: spatial, x: try b.makeBuffer(x), y: y)
                try b.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: try b.makeBuffer(dy), dx: dx)
                results.append(try b.download(y) + b.download(dx))
            }
            assertClose(results[1], results[0], tolerance: 1e-4, "POOL_VEC \(vector) \(planes)×\(spatial) seed \(rng.seed)")
        }
    }
}
