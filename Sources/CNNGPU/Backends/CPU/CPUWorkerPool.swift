import CCPUKernels
import Foundation

/// The CPU backend's worker threads (Sources/CCPUKernels/cpu_workers.c): `parallelFor` runs the
/// chunks of an op on them and on its calling thread. The workers stay awake for 50 µs after
/// each op, so the ~15 split ops of a 1 ms LeNet-5 step never wait for a thread to be woken
/// and placed; Dispatch's `concurrentPerform` (used before) woke a sleeping worker for every
/// op, and the scheduler mostly put it on the caller's own core (Benchmarks/NOTES-lenet.md,
/// branch lenet7).
///
/// One job at a time: a call made from inside a chunk, or while another thread's job holds
/// the pool, runs its chunks on its own thread, one after another. A chunk's bounds never
/// depend on which thread runs it, so results do not either.
///
/// ```swift
/// let pool = CPUWorkerPool(workers: 1)
/// pool.run(chunks: 2) { c in sums[c] = partialSum(c) }   // chunk 0 and 1, each exactly once
/// ```
final class CPUWorkerPool: @unchecked Sendable {
    /// The process's pool: one worker per core besides the calling thread's.
    static let shared = CPUWorkerPool(workers: ProcessInfo.processInfo.activeProcessorCount - 1)

    /// Thread-safe by the C side's atomics; the pointer itself never changes.
    private let pool: OpaquePointer

    /// A pool of `workers` threads (0: every job runs on its caller), started on the first job.
    init(workers: Int) {
        guard let pool = cnn_workers_create(Int32(clamping: max(0, workers))) else {
            fatalError("CPUWorkerPool: out of memory allocating a worker pool")
        }
        self.pool = pool
    }

    /// Stops and joins the threads; no job can be running (`run` holds a reference).
    deinit { cnn_workers_destroy(pool) }

    /// Threads running, 0 before the first job that splits.
    var startedWorkers: Int { Int(cnn_workers_started(pool)) }

    /// Runs `body(c)` once for each `c` in `0..<chunks` and returns when all have finished;
    /// returns whether the pool's workers were offered the job (false: all ran on the caller).
    @discardableResult
    func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        guard chunks > 0 else { return false }
        precondition(chunks < 65536, "CPUWorkerPool.run: \(chunks) chunks; split into fewer than 65536")
        return withoutActuallyEscaping(body) { body in
            var body = body
            return withUnsafeMutablePointer(to: &body) { context in
                cnn_workers_run(pool, chunks, { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
                }, context)
            }
        }
    }
}
