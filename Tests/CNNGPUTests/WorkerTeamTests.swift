import Foundation
import XCTest
@testable import CNNGPU

/// The CPU backend's `parallelFor` on libgomp's team (worker_team.c).
final class WorkerTeamTests: XCTestCase {
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
}
