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

    /// `parallelFor` runs on libgomp's team (worker_team.c): every index exactly once, for
    /// uneven chunks, nested loops (the inner one on its caller's thread) and two threads
    /// calling at once (each gets a team of its own).
    func testParallelForCoversEveryIndexOnce() throws {
        final class Counts: @unchecked Sendable {
            let lock = NSLock()
            var hits: [Int]
            init(_ n: Int) { hits = Array(repeating: 0, count: n) }
            func add(_ r: Range<Int>) { lock.lock(); for i in r { hits[i] += 1 }; lock.unlock() }
        }
        for threads in [1, 2, 3, 5] {
            let b = CPUBackend(threads: threads)
            for count in [1, 2, 7, 1000, 4097] {
                let counts = Counts(count)
                b.parallelFor(count, grain: 1) { counts.add($0) }
                XCTAssertEqual(counts.hits, Array(repeating: 1, count: count), "\(threads) threads, \(count)")
            }
            let nested = Counts(12 * 10)
            b.parallelFor(12, grain: 1) { outer in
                for i in outer { b.parallelFor(10, grain: 1) { nested.add((i * 10 + $0.lowerBound)..<(i * 10 + $0.upperBound)) } }
            }
            XCTAssertEqual(nested.hits, Array(repeating: 1, count: 120), "nested, \(threads) threads")
        }
        let b = CPUBackend(threads: 2), both = Counts(2 * 5000), done = DispatchGroup()
        for t in 0..<2 {
            done.enter()
            Thread {
                for _ in 0..<50 { b.parallelFor(100, grain: 1) { _ in } }
                b.parallelFor(5000, grain: 1) { both.add((t * 5000 + $0.lowerBound)..<(t * 5000 + $0.upperBound)) }
                done.leave()
            }.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(both.hits, Array(repeating: 1, count: 10_000))
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
