import Foundation

/// Training or evaluation batches from an `ImageFolder`: files read, decoded and transformed
/// on `workers` host threads, at most `prefetch` batches ahead of the consumer.
///
/// Every batch is `[batchSize, 3, S, S]` (S = `transform.size`); a short last batch (without
/// `dropLast`) is zero-padded and says how many samples are real in `count`. Batch `i` of
/// epoch `e` depends only on (`seed`, `e`, `i`): the order is a permutation seeded by
/// (`seed`, `e`) and each sample's augmentation is seeded by (`seed`, `e`, file index), so
/// thread timing never changes what is delivered.
///
/// A file that cannot be decoded stops the iteration; `iterationError` names it (the trainer
/// throws it). With `skipCorrupt`, the sample is replaced by the next readable one of the epoch's
/// order instead, a warning goes to standard error once per file, and `skippedFiles` lists it.
///
/// ```swift
/// let (train, val) = try ImageFolder.splits(at: URL(fileURLWithPath: "imagenette2"))
/// let source = try ImageFolderSource(folder: train, transform: .training(size: 224), batchSize: 64, seed: 1)
/// let history = try trainer.fit(train: source, validation: ImageFolderSource(
///     folder: val, transform: .evaluation(size: 224), batchSize: 64, shuffle: false))
/// ```
public final class ImageFolderSource: BatchSource, @unchecked Sendable {
    public let folder: ImageFolder
    public let transform: ImageNetTransform
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    public let prefetch: Int
    /// Threads decoding ahead; 0 decodes on the consumer's thread.
    public let workers: Int
    public let skipCorrupt: Bool

    private let lock = NSLock()
    private var skipped: Set<String> = []
    private var lastError: Error?

    /// - Throws: `CNNError.invalidArgument` for a batch size or prefetch < 1, negative workers,
    ///   an empty folder, or `dropLast` with fewer files than one batch.
    public init(folder: ImageFolder, transform: ImageNetTransform, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
                dropLast: Bool = false, prefetch: Int = 4, workers: Int = BatchLoader.defaultWorkers,
                skipCorrupt: Bool = false) throws {
        try checkLoaderSettings(source: "image folder \(folder.root.path)", samples: folder.count, batchSize: batchSize,
                                prefetch: prefetch, workers: workers, dropLast: dropLast)
        self.folder = folder; self.transform = transform; self.batchSize = batchSize; self.shuffle = shuffle
        self.seed = seed; self.dropLast = dropLast; self.prefetch = prefetch; self.workers = workers
        self.skipCorrupt = skipCorrupt
    }

    public var sampleCount: Int { folder.count }

    public var batchesPerEpoch: Int { dropLast ? folder.count / batchSize : (folder.count + batchSize - 1) / batchSize }

    /// Paths of the files skipped so far (with `skipCorrupt`), sorted.
    public var skippedFiles: [String] { lock.withLock { skipped.sorted() } }

    public var iterationError: Error? { lock.withLock { lastError } }

    /// Builds batch `index` of `epoch` on the calling thread: exactly what `batches` yields there.
    /// - Throws: the decoding error naming the file (unless `skipCorrupt`), or an index out of range.
    public func batch(_ index: Int, epoch: Int) throws -> TrainingBatch {
        guard (0..<batchesPerEpoch).contains(index) else {
            throw CNNError.invalidArgument("batch \(index) is outside 0..<\(batchesPerEpoch) for \(folder.root.path)")
        }
        return try makeBatch(index, epoch: epoch, order: order(for: epoch)).get()
    }

    public func batches(epoch: Int, skipping: Int) -> AnyIterator<TrainingBatch> {
        batches(epoch: epoch, skipping: skipping, part: 0..<batchSize)
    }

    /// Only `part` of each batch (positions within it), for one rank of a data-parallel run:
    /// the other ranks' images are never decoded. Short batches hold what is left of `part`.
    func batches(epoch: Int, skipping: Int, part: Range<Int>) -> AnyIterator<TrainingBatch> {
        lock.withLock { lastError = nil }
        let order = order(for: epoch)
        let state = PrefetchState<Result<TrainingBatch, Error>>(first: min(max(skipping, 0), batchesPerEpoch),
                                                                 end: batchesPerEpoch, capacity: prefetch)
        state.startWorkers(workers) { [self] in makeBatch($0, epoch: epoch, order: order, part: part) }
        let cancelOnRelease = PrefetchCancellation(state)
        return AnyIterator { [self] in
            let result: Result<TrainingBatch, Error>?
            if workers == 0 {
                result = state.claim().map { index in
                    state.consumed(index)
                    return makeBatch(index, epoch: epoch, order: order, part: part)
                }
            } else {
                result = state.take()
            }
            switch result {
            case .success(let batch)?: return batch
            case .failure(let error)?:
                lock.withLock { lastError = error }
                cancelOnRelease.state.cancel()
                return nil
            case nil: return nil
            }
        }
    }

    private func order(for epoch: Int) -> [Int] {
        BatchLoader.sampleOrder(count: folder.count, shuffle: shuffle, seed: seed, epoch: epoch)
    }

    /// Decodes and transforms one batch (its positions `part`) straight into its output array.
    private func makeBatch(_ index: Int, epoch: Int, order: [Int], part: Range<Int>? = nil) -> Result<TrainingBatch, Error> {
        let part = part ?? 0..<batchSize
        let size = transform.sampleCount
        let start = index * batchSize + part.lowerBound
        let count = max(0, min(part.count, folder.count - start))
        var labels = [Int32](repeating: 0, count: part.count)
        var images = [Float](repeating: 0, count: part.count * size)
        do {
            try images.withUnsafeMutableBufferPointer { out in
                for j in 0..<count {
                    let (sample, image) = try readable(position: start + j, order: order)
                    transform.apply(image, seed: seed, epoch: epoch, index: sample, into: out.baseAddress! + j * size)
                    labels[j] = folder.labels[sample]
                }
            }
        } catch {
            return .failure(error)
        }
        return .success(TrainingBatch(images: images, labels: labels, count: count))
    }

    /// The sample at `position` of the epoch's order, decoded; with `skipCorrupt`, the first
    /// readable one from there on (wrapping), so the choice depends on the files alone.
    private func readable(position: Int, order: [Int]) throws -> (Int, RGBImage) {
        var firstError: Error?
        for step in 0..<(skipCorrupt ? order.count : 1) {
            let sample = order[(position + step) % order.count]
            do {
                return (sample, try folder.image(sample))
            } catch {
                guard skipCorrupt else { throw error }
                firstError = firstError ?? error
                let path = folder.files[sample].path
                let isNew = lock.withLock { skipped.insert(path).inserted }
                if isNew { FileHandle.standardError.write(Data("warning: skipping an unreadable image (skipCorrupt): \(error)\n".utf8)) }
            }
        }
        throw CNNError.invalidArgument("no file in \(folder.root.path) could be decoded; the first failure: \(firstError!)")
    }
}

/// A rank decodes only its own part of each global batch.
extension ImageFolderSource: ShardableBatchSource {
    public func batches(epoch: Int, skipping: Int, part: Int, of parts: Int) -> AnyIterator<TrainingBatch> {
        let share = batchSize / parts
        return batches(epoch: epoch, skipping: skipping, part: (part * share)..<((part + 1) * share))
    }
}
