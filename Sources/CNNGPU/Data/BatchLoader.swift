import Foundation

/// Turns a `Dataset` into training batches: Float32 NCHW images and Int32 labels, shuffled,
/// augmented and normalized, prepared on background threads ahead of the consumer.
///
/// Everything is deterministic: batch `i` of epoch `e` depends only on (`seed`, `e`, `i`) and
/// the settings, never on thread timing, so a run resumed at epoch `e` (even mid-epoch with
/// `startingAt:`) sees exactly the batches the original run saw.
///
/// ```swift
/// let loader = try BatchLoader(dataset: train, batchSize: 64, seed: 42,
///                              augmentation: Augmentation(horizontalFlip: true, shift: 2),
///                              normalization: .fashionMNIST)
/// for epoch in 0..<10 {
///     for batch in loader.epoch(epoch) {
///         // batch.images: batch.count × 1 × 28 × 28, batch.labels: batch.count
///     }
/// }
/// ```
public final class BatchLoader {
    /// One batch. When `dropLast` is false the epoch's last batch may be short: then
    /// `count < batchSize` and `images` / `labels` hold exactly `count` samples (they are
    /// sized to the batch, never padded).
    public struct Batch: Sendable, Equatable {
        /// `count · C · H · W` values, sample after sample, each `[C, H, W]`.
        public var images: [Float]
        /// `count` class indices.
        public var labels: [Int32]
        /// Samples in this batch.
        public var count: Int
        /// Position of this batch in its epoch.
        public var index: Int
        public var epoch: Int
    }

    public let dataset: Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let augmentation: Augmentation
    public let normalization: ChannelNormalization?
    public let dropLast: Bool
    /// At most this many batches are built or waiting ahead of the consumer.
    public let prefetch: Int
    /// Background threads building batches; 0 builds each batch on the consumer's thread.
    public let workers: Int

    /// One worker per spare core, at most 4: enough to keep ahead of a training step, while
    /// leaving cores to a CPU backend.
    public static var defaultWorkers: Int { max(1, min(4, ProcessInfo.processInfo.activeProcessorCount - 1)) }

    /// - Throws: `CNNError.invalidArgument` for a batch size or prefetch depth < 1, negative
    ///   workers, an empty dataset, invalid augmentation, normalization whose channel count
    ///   differs from the images', or `dropLast` with fewer samples than one batch.
    public init(dataset: Dataset, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
                augmentation: Augmentation = Augmentation(), normalization: ChannelNormalization? = nil,
                dropLast: Bool = false, prefetch: Int = 4, workers: Int = BatchLoader.defaultWorkers) throws {
        try checkLoaderSettings(source: dataset.name, samples: dataset.count, batchSize: batchSize, prefetch: prefetch,
                                workers: workers, dropLast: dropLast)
        try augmentation.validate(for: dataset.sampleShape)
        if let normalization, normalization.mean.count != dataset.sampleShape.dims[0] {
            throw CNNError.invalidArgument("normalization has \(normalization.mean.count) channels but "
                + "\(dataset.name) images have \(dataset.sampleShape.dims[0]) (shape \(dataset.sampleShape))")
        }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.augmentation = augmentation
        self.normalization = normalization
        self.dropLast = dropLast
        self.prefetch = prefetch
        self.workers = workers
    }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// Samples delivered per epoch (fewer than `dataset.count` only with `dropLast`).
    public var samplesPerEpoch: Int { min(dataset.count, batchesPerEpoch * batchSize) }

    /// The order in which epoch `epoch` visits the samples: `0..<count` unshuffled, else a
    /// Fisher–Yates permutation seeded by (`seed`, `epoch`).
    public static func sampleOrder(count: Int, shuffle: Bool, seed: UInt64, epoch: Int) -> [Int] {
        var order = Array(0..<max(count, 0))
        guard shuffle, count > 1 else { return order }
        var rng = SplitMix64(seed: seed, UInt64(bitPattern: Int64(epoch)))
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.below(i + 1))
        }
        return order
    }

    /// The batches of epoch `epoch`, from batch `startingAt` on, built ahead on background
    /// threads. Iterate it once; dropping it early stops its threads.
    public func epoch(_ epoch: Int, startingAt first: Int = 0) -> Epoch {
        Epoch(loader: self, epoch: epoch, first: min(max(first, 0), batchesPerEpoch))
    }

    /// Builds batch `index` of `epoch` on the calling thread: exactly what `epoch(_:)` yields
    /// at that position. Computes the epoch's order each call, so prefer `epoch(_:)` in loops.
    public func batch(_ index: Int, epoch: Int) throws -> Batch {
        guard (0..<batchesPerEpoch).contains(index) else {
            throw CNNError.invalidArgument("batch \(index) is outside 0..<\(batchesPerEpoch) for \(dataset.name)")
        }
        return makeBatch(index, epoch: epoch, order: order(for: epoch))
    }

    func order(for epoch: Int) -> [Int] {
        BatchLoader.sampleOrder(count: dataset.count, shuffle: shuffle, seed: seed, epoch: epoch)
    }

    /// The unit of work: gathers, augments and normalizes one batch straight into its output
    /// array. Per sample it allocates nothing; its randomness comes from (seed, epoch, position).
    func makeBatch(_ index: Int, epoch: Int, order: [Int]) -> Batch {
        let (channels, height, width) = dataset.sampleShape.chw!
        let size = channels * height * width
        let start = index * batchSize
        let count = min(batchSize, dataset.count - start)
        let plain = augmentation.isIdentity
        let epochBits = UInt64(bitPattern: Int64(epoch))
        var labels = [Int32](repeating: 0, count: count)
        let images = [Float](unsafeUninitializedCapacity: count * size) { out, initialized in
            dataset.images.withUnsafeBufferPointer { source in
                for j in 0..<count {
                    let sample = order[start + j]
                    let src = source.baseAddress! + sample * size
                    let dst = out.baseAddress! + j * size
                    // Float is trivial, so writing the uninitialized output directly is allowed;
                    // every path below writes all `size` values.
                    if plain {
                        if let normalization {
                            normalization.apply(from: src, to: dst, channels: channels, plane: height * width)
                        } else {
                            dst.initialize(from: src, count: size)
                        }
                    } else {
                        var rng = SplitMix64(seed: seed, epochBits, UInt64(start + j))
                        augmentation.draw(&rng).apply(from: src, to: dst, channels: channels, height: height, width: width)
                        normalization?.apply(dst, channels: channels, plane: height * width)
                    }
                    labels[j] = dataset.labels[sample]
                }
            }
            initialized = count * size
        }
        return Batch(images: images, labels: labels, count: count, index: index, epoch: epoch)
    }

    /// One epoch's batches in order. A bounded queue: workers claim batch indices in order but
    /// never more than `prefetch` ahead of the consumer, and `next()` hands batches out by
    /// index, so which thread built a batch, or when, never changes what is delivered.
    public final class Epoch: Sequence, IteratorProtocol {
        public let epoch: Int
        /// Batches this iteration delivers in all.
        public let batchCount: Int
        private let loader: BatchLoader
        private let state: PrefetchState<Batch>
        private let order: [Int]

        init(loader: BatchLoader, epoch: Int, first: Int) {
            self.loader = loader
            self.epoch = epoch
            self.order = loader.order(for: epoch)
            self.batchCount = loader.batchesPerEpoch - first
            self.state = PrefetchState(first: first, end: loader.batchesPerEpoch, capacity: loader.prefetch)
            state.startWorkers(loader.workers) { [order] in loader.makeBatch($0, epoch: epoch, order: order) }
        }

        deinit { state.cancel() }

        public func next() -> Batch? {
            if loader.workers == 0 {
                guard let index = state.claim() else { return nil }
                state.consumed(index)
                return loader.makeBatch(index, epoch: epoch, order: order)
            }
            return state.take()
        }
    }
}
