import Foundation

/// Synthetic data: random ImageNet-shaped batches `[batchSize, 3, S, S]` with random labels,
/// for measuring training throughput without reading or decoding files. There is nothing to
/// learn in it; its accuracy means nothing.
///
/// Values are uniform in [-2, 2) (the range of ImageNet-normalized pixels), labels uniform in
/// `0..<classes`; batch `i` of epoch `e` depends only on (`seed`, `e`, `i`). Batches are made on
/// `workers` host threads ahead of the consumer, like the real loaders.
///
/// ```swift
/// let source = try SyntheticSource(sampleCount: 6_400, batchSize: 64, imageSize: 224, classes: 1000)
/// ```
public final class SyntheticSource: BatchSource, @unchecked Sendable {
    public let sampleCount: Int
    public let batchSize: Int
    public let imageSize: Int
    public let classes: Int
    public let seed: UInt64
    public let prefetch: Int
    public let workers: Int

    /// - Throws: `CNNError.invalidArgument` unless every count is positive and there is at
    ///   least one whole batch.
    public init(sampleCount: Int, batchSize: Int, imageSize: Int = 224, classes: Int = 1000, seed: UInt64 = 0,
                prefetch: Int = 4, workers: Int = BatchLoader.defaultWorkers) throws {
        guard batchSize >= 1, imageSize >= 1, classes >= 1, prefetch >= 1, workers >= 1 else {
            throw CNNError.invalidArgument("synthetic data needs a positive batch size (\(batchSize)), image size (\(imageSize)), "
                + "class count (\(classes)), prefetch (\(prefetch)) and worker count (\(workers))")
        }
        guard sampleCount >= batchSize else {
            throw CNNError.invalidArgument("synthetic data of \(sampleCount) samples is less than one batch of \(batchSize)")
        }
        self.sampleCount = sampleCount; self.batchSize = batchSize; self.imageSize = imageSize
        self.classes = classes; self.seed = seed; self.prefetch = prefetch; self.workers = workers
    }

    /// `[3, imageSize, imageSize]`.
    public var sampleShape: TensorShape { [3, imageSize, imageSize] }

    /// Whole batches only: a throughput run has no use for a short one.
    public var batchesPerEpoch: Int { sampleCount / batchSize }

    public func batches(epoch: Int, skipping: Int) -> AnyIterator<TrainingBatch> {
        let state = PrefetchState<TrainingBatch>(first: min(max(skipping, 0), batchesPerEpoch), end: batchesPerEpoch,
                                                 capacity: prefetch)
        state.startWorkers(workers) { [self] in batch($0, epoch: epoch) }
        let release = PrefetchCancellation(state)
        return AnyIterator { _ = release; return state.take() }
    }

    /// Batch `index` of `epoch`, made on the calling thread.
    public func batch(_ index: Int, epoch: Int) -> TrainingBatch {
        var rng = SplitMix64(seed: seed, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)))
        let count = batchSize * sampleShape.count
        let images = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            // Two values per 64-bit draw: 24 bits each is plenty for noise.
            var i = 0
            while i < count {
                let bits = rng.next()
                out[i] = Float(bits >> 40) * 0x1p-22 - 2
                if i + 1 < count { out[i + 1] = Float((bits >> 8) & 0xFF_FFFF) * 0x1p-22 - 2 }
                i += 2
            }
            initialized = count
        }
        let labels = (0..<batchSize).map { _ in Int32(rng.below(classes)) }
        return TrainingBatch(images: images, labels: labels, count: batchSize)
    }
}
