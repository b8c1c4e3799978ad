/// The trainer reads batches through `BatchSource`; the loader prefetches them on host threads.
extension BatchLoader: BatchSource {
    public var sampleCount: Int { dataset.count }

    public func batches(epoch: Int, skipping: Int) -> AnyIterator<TrainingBatch> {
        let batches = self.epoch(epoch, startingAt: skipping)
        return AnyIterator { batches.next().map { TrainingBatch(images: $0.images, labels: $0.labels, count: $0.count) } }
    }
}
