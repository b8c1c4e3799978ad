import Foundation

/// The shared state of one epoch's prefetching, guarded by one condition variable.
/// Used by every batch source that builds batches on host threads (`BatchLoader`,
/// `ImageFolderSource`, `SyntheticSource`).
final class PrefetchState<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var ready: [Int: Item] = [:]
    private var nextToClaim: Int
    private var nextToTake: Int
    private let end: Int
    private let capacity: Int
    private var cancelled = false

    init(first: Int, end: Int, capacity: Int) {
        nextToClaim = first
        nextToTake = first
        self.end = end
        self.capacity = capacity
    }

    /// Starts `count` threads (at most one per item) that claim indices in order and deliver
    /// `build(index)`; they end with the epoch or when it is cancelled.
    func startWorkers(_ count: Int, build: @escaping (Int) -> Item) {
        for w in 0..<Swift.min(count, end - nextToClaim) {
            let thread = Thread { [self] in
                while let index = claim() { deliver(build(index), at: index) }
            }
            thread.name = "cnn-gpu data \(w)"
            thread.qualityOfService = .userInitiated
            thread.start()
        }
    }

    /// The next batch index to build, waiting while `capacity` batches are already ahead of
    /// the consumer; nil when the epoch is done or abandoned.
    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && nextToClaim < end && nextToClaim >= nextToTake + capacity { condition.wait() }
        guard !cancelled, nextToClaim < end else { return nil }
        nextToClaim += 1
        return nextToClaim - 1
    }

    func deliver(_ batch: Item, at index: Int) {
        condition.lock()
        ready[index] = batch
        condition.broadcast()
        condition.unlock()
    }

    /// The next batch in order, waiting for a worker to finish it; nil after the last, and
    /// after `cancel` (a source that stopped on an error must not wait for workers that quit).
    func take() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        guard nextToTake < end else { return nil }
        while !cancelled && ready[nextToTake] == nil { condition.wait() }
        guard !cancelled else { return nil }
        let batch = ready.removeValue(forKey: nextToTake)
        nextToTake += 1
        condition.broadcast()
        return batch
    }

    /// Marks `index` consumed when the consumer builds batches itself.
    func consumed(_ index: Int) {
        condition.lock()
        nextToTake = index + 1
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

/// Cancels an iteration's workers when the iterator holding it is released before the end.
final class PrefetchCancellation<Item> {
    let state: PrefetchState<Item>
    init(_ state: PrefetchState<Item>) { self.state = state }
    deinit { state.cancel() }
}

/// The settings every prefetching batch source checks before it starts.
func checkLoaderSettings(source: String, samples: Int, batchSize: Int, prefetch: Int, workers: Int,
                         dropLast: Bool) throws {
    guard batchSize >= 1 else { throw CNNError.invalidArgument("batch size must be at least 1, got \(batchSize)") }
    guard prefetch >= 1 else { throw CNNError.invalidArgument("prefetch must be at least 1 batch, got \(prefetch)") }
    guard workers >= 0 else { throw CNNError.invalidArgument("data loader workers must be ≥ 0, got \(workers)") }
    guard samples > 0 else { throw CNNError.invalidArgument("\(source) is empty: nothing to load") }
    guard !dropLast || samples >= batchSize else {
        throw CNNError.invalidArgument("\(source) has \(samples) samples, fewer than one batch of \(batchSize), "
            + "so dropping the last partial batch leaves nothing: use a smaller batch size")
    }
}
