/// One rank's share of another source's batches: from each global batch of `batchSize ×
/// ranks` samples, the `batchSize` samples at `rank × batchSize`. Every rank walks the same
/// global order (the same shuffle, the same augmentation seeds) as one process with the same
/// seed would, so together the ranks see exactly its batches.
///
/// A `ShardableBatchSource` (image folders) builds only the rank's part, so no rank decodes
/// another's images; any other source builds the whole global batch on every rank and this
/// keeps the rank's part (cheap for in-memory datasets, where a batch is a gather).
///
/// ```swift
/// let shard = try ShardedBatchSource(global: loader, sampleValues: 28 * 28, rank: world.rank, ranks: world.size)
/// ```
public final class ShardedBatchSource: BatchSource {
    public let global: BatchSource
    public let rank: Int
    public let ranks: Int
    /// Values per sample (the model's input shape's count).
    public let sampleValues: Int

    /// Throws when the global batch does not split evenly over the ranks.
    public init(global: BatchSource, sampleValues: Int, rank: Int, ranks: Int) throws {
        guard ranks > 0, (0..<ranks).contains(rank) else {
            throw CNNError.invalidArgument("rank \(rank) is not one of \(ranks) ranks")
        }
        guard global.batchSize % ranks == 0 else { throw DistributedError.unevenBatch(batch: global.batchSize, ranks: ranks) }
        self.global = global; self.sampleValues = sampleValues; self.rank = rank; self.ranks = ranks
    }

    /// Samples per rank and step.
    public var batchSize: Int { global.batchSize / ranks }
    /// The whole data set's size: every rank's epoch has the same number of steps as one process's.
    public var sampleCount: Int { global.sampleCount }
    public var iterationError: Error? { global.iterationError }

    /// This rank's part of each full global batch; a short last batch (which training drops)
    /// gives each rank its part of what it holds, possibly nothing.
    public func batches(epoch: Int, skipping: Int) -> AnyIterator<TrainingBatch> {
        if let shardable = global as? ShardableBatchSource {
            return shardable.batches(epoch: epoch, skipping: skipping, part: rank, of: ranks)
        }
        let source = global.batches(epoch: epoch, skipping: skipping)
        let share = batchSize, rank = rank, sample = sampleValues
        return AnyIterator {
            guard let batch = source.next() else { return nil }
            let start = min(rank * share, batch.count), end = min(start + share, batch.count)
            return TrainingBatch(images: Array(batch.images[start * sample ..< end * sample]),
                                 labels: Array(batch.labels[start ..< end]), count: end - start)
        }
    }
}

/// A source that can build one rank's part of each batch alone: part `p` of `n` is positions
/// `p·b/n ..< (p+1)·b/n` of every batch of `b`, exactly those samples, augmented exactly so.
public protocol ShardableBatchSource: BatchSource {
    func batches(epoch: Int, skipping: Int, part: Int, of parts: Int) -> AnyIterator<TrainingBatch>
}
