@testable import CNNGPU
import Foundation
import Synchronization
import XCTest

/// The CPU backend's worker pool (CPUWorkerPool, cpu_workers.c): every chunk runs exactly once
/// whatever the timing, nested and concurrent calls fall back to their own thread without
/// deadlocking, and a pool shuts down from any state. No timing is asserted.
final class CPUWorkerPoolTests: XCTestCase {
    /// Per-chunk run counts, written from several threads.
    private final class Counts: @unchecked Sendable {
        let values: UnsafeMutablePointer<Atomic<Int>>
        let count: Int
        init(_ count: Int) {
            self.count = count
            values = .allocate(capacity: count)
            for i in 0..<count { (values + i).initialize(to: Atomic(0)) }
        }
        deinit {
            values.deinitialize(count: count)
            values.deallocate()
        }
        func add(_ i: Int) { values[i].wrappingAdd(1, ordering: .relaxed) }
        subscript(i: Int) -> Int { values[i].load(ordering: .relaxed) }
        var all: [Int] { (0..<count).map { self[$0] } }
    }

    func testEveryChunkRunsExactlyOnce() {
        var rng = SeededGenerator.fresh()
        for workers in [0, 1, 3] {
            let pool = CPUWorkerPool(workers: workers)
            for round in 0..<2000 {
                // Zero and one chunk, fewer chunks than threads, and many more; chunks of uneven
                // lengths so that threads finish in varying order.
                let chunks = round < 4 ? round : 1 + Int(rng.ints(1, below: 40)[0])
                let counts = Counts(max(chunks, 1))
                let spins = Int(rng.ints(1, below: 200)[0])
                pool.run(chunks: chunks) { c in
                    var x = 0.0
                    for i in 0..<(spins * (c % 3 + 1)) { x += Double(i) }
                    if x >= 0 { counts.add(c) }
                }
                let expected = (0..<max(chunks, 1)).map { $0 < chunks ? 1 : 0 }
                XCTAssertEqual(counts.all, expected, "workers \(workers), round \(round), \(chunks) chunks")
            }
            XCTAssertEqual(pool.startedWorkers, workers)
        }
    }

    func testTheWorkersRunChunksBesideTheCaller() {
        // Chunk 0 waits for chunk 1 to start, which only another thread can do (bounded, so a
        // missing worker fails instead of hanging).
        let pool = CPUWorkerPool(workers: 1)
        let started = Atomic(false), sawPartner = Atomic(false)
        let offered = pool.run(chunks: 2) { c in
            if c == 1 { started.store(true, ordering: .releasing); return }
            let deadline = Date().addingTimeInterval(30)
            while !started.load(ordering: .acquiring) && Date() < deadline { usleep(50) }
            sawPartner.store(started.load(ordering: .acquiring), ordering: .relaxed)
        }
        XCTAssertTrue(offered)
        XCTAssertTrue(sawPartner.load(ordering: .relaxed), "no worker ran chunk 1 while the caller ran chunk 0")
    }

    func testNestedCallsRunOnTheirOwnThread() {
        let pool = CPUWorkerPool(workers: 2)
        let outer = Counts(4), inner = Counts(4 * 5)
        let nestedOffers = Atomic(0)
        pool.run(chunks: 4) { c in
            outer.add(c)
            let offered = pool.run(chunks: 5) { i in inner.add(c * 5 + i) }
            if offered { nestedOffers.wrappingAdd(1, ordering: .relaxed) }
        }
        XCTAssertEqual(outer.all, [Int](repeating: 1, count: 4))
        XCTAssertEqual(inner.all, [Int](repeating: 1, count: 20))
        XCTAssertEqual(nestedOffers.load(ordering: .relaxed), 0, "a nested call must not wait on the busy pool")
    }

    func testConcurrentCallersShareThePoolWithoutDeadlock() {
        let pool = CPUWorkerPool(workers: 1)
        let callers = 4, rounds = 500, chunks = 6
        let counts = Counts(callers * rounds * chunks)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for round in 0..<rounds {
                pool.run(chunks: chunks) { c in counts.add((caller * rounds + round) * chunks + c) }
            }
        }
        XCTAssertEqual(counts.all, [Int](repeating: 1, count: callers * rounds * chunks))
    }

    func testShutdownFromEveryState() {
        // Never started; just after a job (workers still polling); after they fell asleep.
        _ = CPUWorkerPool(workers: 2)
        for pause in [0, 20_000] {
            var pool: CPUWorkerPool? = CPUWorkerPool(workers: 2)
            let counts = Counts(8)
            pool!.run(chunks: 8) { counts.add($0) }
            XCTAssertEqual(pool!.startedWorkers, 2)
            if pause > 0 { usleep(useconds_t(pause)) }
            pool = nil
            XCTAssertEqual(counts.all, [Int](repeating: 1, count: 8))
        }
    }

    func testParallelForCoversTheRangeWithFixedChunks() {
        // The backend's split: contiguous chunks that cover 0..<count once, the same on every run.
        for threads in [1, 2, 3, 8] {
            let b = CPUBackend(threads: threads)
            for (count, grain) in [(0, 1), (1, 1), (5, 1), (1000, 7), (4096, 4096), (8193, 4096), (100_000, 1)] {
                let covered = Counts(max(count, 1))
                let ranges = Mutex<[Range<Int>]>([])
                b.parallelFor(count, grain: grain) { r in
                    for i in r { covered.add(i) }
                    ranges.withLock { $0.append(r) }
                }
                XCTAssertEqual(covered.all, (0..<max(count, 1)).map { $0 < count ? 1 : 0 }, "\(threads) threads, \(count) items")
                let sorted = ranges.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
                XCTAssertLessThanOrEqual(sorted.count, threads)
                let chunks = min(threads, max(1, count / grain))
                if count > 0 { XCTAssertEqual(sorted.first?.count, (count + chunks - 1) / chunks) }
            }
        }
    }
}
