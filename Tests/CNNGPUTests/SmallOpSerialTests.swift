import Foundation
import XCTest
@testable import CNNGPU
import CCPUKernels

/// The CPU backend keeps ops the plan estimated as small on the calling thread
/// (`CPUBackend.run(estimatedFLOPs:bytes:_:)`), and splits the rest over its workers.
final class SmallOpSerialTests: XCTestCase {
    /// The distinct threads `parallelFor` ran chunks on.
    private func threadsUsed(_ b: CPUBackend) -> Set<String> {
        let seen = NSLock()
        nonisolated(unsafe) var names = Set<String>()
        b.parallelFor(64 * b.threads, grain: 1) { _ in
            let id = "\(pthread_self())"
            seen.lock(); names.insert(id); seen.unlock()
        }
        return names
    }

    /// Whether a worker may take chunks is timing (a loaded machine may leave it no core), so
    /// the split side is checked through the region's depth, which is what `parallelFor` reads.
    func testSmallOpsRunOnTheCallingThreadAndLargeOnesMaySplit() throws {
        let b = CPUBackend(threads: 2)
        var small = Set<String>(), depth: Int32 = -1
        try b.run(estimatedFLOPs: 1e6, bytes: 1e5) { small = threadsUsed(b); depth = cnn_serial_region_depth() }
        XCTAssertEqual(small, ["\(pthread_self())"], "a small op's loop ran on another thread")
        XCTAssertEqual(depth, 1)
        // Large by FLOPs, by bytes, or not estimated at all (0, 0): split as before.
        for (flops, bytes) in [(1e9, 1e5), (1e6, 1e8), (0.0, 0.0)] {
            try b.run(estimatedFLOPs: flops, bytes: bytes) { depth = cnn_serial_region_depth() }
            XCTAssertEqual(depth, 0, "(\(flops), \(bytes)) would not split")
        }
        // One thread: nothing to keep.
        try CPUBackend(threads: 1).run(estimatedFLOPs: 1, bytes: 1) { depth = cnn_serial_region_depth() }
        XCTAssertEqual(depth, 0)
        // The region ends with the op, even when the op throws.
        XCTAssertThrowsError(try b.run(estimatedFLOPs: 1, bytes: 1) { throw CNNError.invalidArgument("x") })
        XCTAssertEqual(cnn_serial_region_depth(), 0)
    }

    func testASmallOpGivesTheSameResultsOnOneThread() throws {
        let b = CPUBackend(threads: 2)
        let n = 100_000
        let x = try b.allocate(n, dtype: .float32), y1 = try b.allocate(n, dtype: .float32)
        let y2 = try b.allocate(n, dtype: .float32)
        let values = (0..<n).map { Float(($0 * 7919) % 201) - 100 }
        try b.upload(values, to: x)
        try b.activationForward(.relu, count: n, x: x, y: y1)
        try b.run(estimatedFLOPs: 1e5, bytes: 8e5) { try b.activationForward(.relu, count: n, x: x, y: y2) }
        XCTAssertEqual(try b.download(y1), try b.download(y2))
        XCTAssertEqual(try b.download(y1), values.map { max($0, 0) })
    }
}
