import CCPUKernels

/// Batch norm on short rows (inner = H·W below 64: ResNet-50's last stages at 64² input have 16
/// and 4), where loops over one channel's rows are mostly loop overhead: runs of consecutive
/// channels go to the `cnn_bn_*_across` kernels, which sweep the run's contiguous values in each
/// row (measured 3× faster at 4×4 and 10× at 2×2 than per channel; at 8×8 they tie).
struct BatchNormChannelRuns {
    static func applies(inner: Int) -> Bool { inner < 64 }

    let channels: Int
    /// Channels per run: at most 64 K values per run, so a run stays in L2 between its passes,
    /// and at least one run per worker.
    let length: Int
    var count: Int { (channels + length - 1) / length }

    init(outer: Int, channels: Int, inner: Int, workers: Int) {
        self.channels = channels
        let cached = max(1, 65_536 / max(1, outer * inner))
        length = max(1, min(cached, (channels + workers - 1) / workers))
    }

    func channels(ofRun run: Int) -> Range<Int> { (run * length)..<min(channels, (run + 1) * length) }
}

/// One worker's scratch for a run: the kernels' own, and per-channel sums and coefficients.
struct BatchNormRunScratch {
    let kernel: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>
    let mean: UnsafeMutablePointer<Float>, a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>

    init(channels: Int, inner: Int) {
        kernel = .allocate(capacity: cnn_bn_across_scratch_floats(channels, inner))
        sums = .allocate(capacity: channels); squares = .allocate(capacity: channels)
        mean = .allocate(capacity: channels); a = .allocate(capacity: channels)
        b = .allocate(capacity: channels); k = .allocate(capacity: channels)
    }

    func deallocate() {
        kernel.deallocate(); sums.deallocate(); squares.deallocate()
        mean.deallocate(); a.deallocate(); b.deallocate(); k.deallocate()
    }
}
