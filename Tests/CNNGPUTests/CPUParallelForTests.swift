@testable import CNNGPU
import XCTest

/// The CPU backend's work splitter: every index runs exactly once, chunks are never smaller
/// than the grain (except the last), and their bounds depend only on the arguments, so ops
/// whose bodies write per item give the same bits whichever worker takes a chunk.
final class CPUParallelForTests: XCTestCase {
    func testEveryIndexOnceInChunksOfAtLeastTheGrain() {
        for threads in [1, 2, 3, 8] {
            let backend = CPUBackend(threads: threads)
            for (count, grain) in [(1, 1), (2, 1), (7, 1), (8, 1), (9, 2), (100, 7), (1000, 4096), (65_537, 4096),
                                   (100_000, 16_384)] {
                let hits = UnsafeMutablePointer<Int32>.allocate(capacity: count)
                hits.initialize(repeating: 0, count: count)
                defer { hits.deallocate() }
                let chunks = ChunkLog()
                backend.parallelFor(count, grain: grain) { range in
                    chunks.append(range)
                    for i in range { hits[i] += 1 }
                }
                let label = "threads \(threads) count \(count) grain \(grain)"
                XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, label)
                let ranges = chunks.sorted
                XCTAssertLessThanOrEqual(ranges.count, max(1, threads * CPUBackend.chunksPerWorker), label)
                for r in ranges.dropLast() where count >= grain {
                    XCTAssertGreaterThanOrEqual(r.count, grain, label)
                }
                // The same call splits the same way again.
                let again = ChunkLog()
                backend.parallelFor(count, grain: grain) { again.append($0) }
                XCTAssertEqual(again.sorted, ranges, label)
            }
        }
    }
}

private final class ChunkLog: @unchecked Sendable {
    private let lock = NSLock()
    private var ranges: [Range<Int>] = []
    func append(_ r: Range<Int>) { lock.withLock { ranges.append(r) } }
    var sorted: [Range<Int>] { lock.withLock { ranges.sorted { $0.lowerBound < $1.lowerBound } } }
}
