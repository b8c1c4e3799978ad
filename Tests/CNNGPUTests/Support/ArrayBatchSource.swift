import CNNGPU

/// A tiny in-memory `BatchSource` for training tests: a fixed permutation per (seed, epoch).
struct ArrayBatchSource: BatchSource {
    let images: [Float]
    let labels: [Int32]
    let sampleSize: Int
    let batchSize: Int
    let seed: UInt64
    let shuffle: Bool

    var sampleCount: Int { labels.count }

    func batches(epoch: Int, skipping: Int) -> AnyIterator<TrainingBatch> {
        var order = Array(0..<labels.count)
        if shuffle {
            var g = SplitMix64(seed: seed ^ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
            order.shuffle(using: &g)
        }
        var start = skipping * batchSize
        return AnyIterator {
            guard start < order.count else { return nil }
            let idx = order[start..<min(start + batchSize, order.count)]
            start += batchSize
            var x = [Float](); x.reserveCapacity(batchSize * sampleSize)
            for i in idx { x += images[(i * sampleSize)..<((i + 1) * sampleSize)] }
            return TrainingBatch(images: x, labels: idx.map { labels[$0] }, count: idx.count)
        }
    }

    /// `count` random samples whose label is a simple function of the image, so a model can learn it.
    static func synthetic(count: Int, shape: TensorShape, classes: Int, batchSize: Int, seed: UInt64) -> ArrayBatchSource {
        var g = SplitMix64(seed: seed)
        let n = shape.count
        var images = [Float](), labels = [Int32]()
        for _ in 0..<count {
            let label = Int(g.next() % UInt64(classes))
            // Class k brightens the k-th band of rows, on top of noise.
            for j in 0..<n {
                let band = (j % (n / max(shape.dims[0], 1))) * classes / max(n / max(shape.dims[0], 1), 1)
                images.append(Float(g.uniform(0, 0.5)) + (band == label ? 0.5 : 0))
            }
            labels.append(Int32(label))
        }
        return ArrayBatchSource(images: images, labels: labels, sampleSize: n, batchSize: batchSize, seed: seed, shuffle: true)
    }
}
