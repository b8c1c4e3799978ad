@testable import CNNGPU
import Foundation
import XCTest

/// BatchLoader: order, completeness, determinism under any thread timing, and its checks.
final class DataLoaderTests: XCTestCase {
    /// `count` 1×2×3 images whose pixels all equal `id / count`, so each sample is
    /// recognisable in a batch; labels are `id % classes`.
    func numbered(_ count: Int, classes: Int = 7) throws -> Dataset {
        try Dataset(name: "numbered", sampleShape: [1, 2, 3], classes: classes,
                    images: (0..<count).flatMap { [Float](repeating: Float($0) / Float(count), count: 6) },
                    labels: (0..<count).map { Int32($0 % classes) })
    }

    /// The sample ids in a batch of `numbered` images (unaugmented).
    func ids(_ batch: BatchLoader.Batch, of count: Int) -> [Int] {
        (0..<batch.count).map { Int((batch.images[$0 * 6] * Float(count)).rounded()) }
    }

    func testSampleOrderIsASeededPermutationPerEpoch() throws {
        let seed = SeededGenerator.fresh().seed
        let a = BatchLoader.sampleOrder(count: 1000, shuffle: true, seed: seed, epoch: 3)
        XCTAssertEqual(a.sorted(), Array(0..<1000), "a permutation, seed \(seed)")
        XCTAssertEqual(a, BatchLoader.sampleOrder(count: 1000, shuffle: true, seed: seed, epoch: 3), "reproducible")
        XCTAssertNotEqual(a, BatchLoader.sampleOrder(count: 1000, shuffle: true, seed: seed, epoch: 4), "new order each epoch")
        XCTAssertNotEqual(a, BatchLoader.sampleOrder(count: 1000, shuffle: true, seed: seed &+ 1, epoch: 3), "seed matters")
        XCTAssertNotEqual(a, Array(0..<1000))
        XCTAssertEqual(BatchLoader.sampleOrder(count: 5, shuffle: false, seed: seed, epoch: 3), [0, 1, 2, 3, 4])
        XCTAssertEqual(BatchLoader.sampleOrder(count: 1, shuffle: true, seed: seed, epoch: 0), [0])
        // Pinned: a change to the shuffle or the draws would silently change every resumed run.
        XCTAssertEqual(BatchLoader.sampleOrder(count: 8, shuffle: true, seed: 42, epoch: 0), [6, 1, 4, 5, 3, 0, 7, 2])
        XCTAssertEqual(BatchLoader.sampleOrder(count: 8, shuffle: true, seed: 42, epoch: 1), [7, 0, 1, 3, 4, 6, 2, 5])
        let augmented = try Augmentation(horizontalFlip: true, shift: 1, brightness: 0.5)
            .apply(to: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], shape: [1, 2, 3], seed: 42)
        assertClose(augmented, [0.34419066, 0.44419068, 0, 0, 0, 0], tolerance: 1e-6, "pinned augmentation draw")
    }

    func testEveryEpochDeliversEverySampleExactlyOnce() throws {
        let n = 50
        let data = try numbered(n)
        for (dropLast, workers) in [(false, 2), (true, 3), (false, 0)] {
            let loader = try BatchLoader(dataset: data, batchSize: 7, seed: 9, dropLast: dropLast, workers: workers)
            XCTAssertEqual(loader.batchesPerEpoch, dropLast ? 7 : 8)
            for epoch in 0..<3 {
                var seen = [Int]()
                var batches = 0
                for batch in loader.epoch(epoch) {
                    XCTAssertEqual(batch.index, batches)
                    XCTAssertEqual(batch.epoch, epoch)
                    let expected = batches == 7 ? 1 : 7
                    XCTAssertEqual(batch.count, expected, "last partial batch holds the remainder")
                    XCTAssertEqual(batch.images.count, batch.count * 6, "images sized to count, not padded")
                    XCTAssertEqual(batch.labels.count, batch.count)
                    let batchIDs = ids(batch, of: n)
                    XCTAssertEqual(batch.labels, batchIDs.map { Int32($0 % 7) }, "labels travel with their images")
                    seen += batchIDs
                    batches += 1
                }
                XCTAssertEqual(batches, loader.batchesPerEpoch)
                XCTAssertEqual(seen.count, loader.samplesPerEpoch)
                XCTAssertEqual(Set(seen).count, seen.count, "no sample twice (dropLast \(dropLast), epoch \(epoch))")
                if !dropLast { XCTAssertEqual(seen.sorted(), Array(0..<n)) }
            }
        }
        let plain = try BatchLoader(dataset: data, batchSize: 16, shuffle: false)
        XCTAssertEqual(plain.epoch(0).flatMap { ids($0, of: n) }, Array(0..<n), "unshuffled keeps file order")
    }

    func testSameSeedSameBatchesAndResumeMidEpoch() throws {
        var rng = SeededGenerator.fresh()
        let data = try Dataset(name: "random", sampleShape: [3, 5, 4], classes: 4,
                               images: rng.floats(37 * 60, in: 0...1), labels: rng.ints(37, below: 4))
        let aug = Augmentation(horizontalFlip: true, shift: 1, rotation: 10, zoom: 0.9...1.1, brightness: 0.1)
        let norm = try ChannelNormalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3])
        func make(workers: Int) throws -> BatchLoader {
            try BatchLoader(dataset: data, batchSize: 5, seed: rng.seed, augmentation: aug, normalization: norm, workers: workers)
        }
        let first = Array(try make(workers: 2).epoch(4))
        XCTAssertEqual(first, Array(try make(workers: 3).epoch(4)), "same seed, same batches; seed \(rng.seed)")
        XCTAssertNotEqual(first, Array(try make(workers: 2).epoch(5)), "another epoch, other batches")
        XCTAssertEqual(Array(try make(workers: 1).epoch(4, startingAt: 3)), Array(first[3...]), "resume at batch 3")
        XCTAssertEqual(try make(workers: 0).batch(6, epoch: 4), first[6])
        XCTAssertEqual(Array(try make(workers: 2).epoch(4, startingAt: 99)), [])
        assertThrowsCNNError({ _ = try make(workers: 0).batch(8, epoch: 0) })
    }

    func testBatchesDoNotDependOnConsumerSpeed() throws {
        var rng = SeededGenerator.fresh()
        let data = try Dataset(name: "random", sampleShape: [1, 6, 6], classes: 3,
                               images: rng.floats(45 * 36, in: 0...1), labels: rng.ints(45, below: 3))
        let aug = Augmentation(horizontalFlip: true, shift: 2, brightness: 0.2)
        let reference = Array(try BatchLoader(dataset: data, batchSize: 4, seed: rng.seed, augmentation: aug, workers: 0).epoch(1))
        for (workers, prefetch) in [(1, 1), (4, 2), (3, 8)] {
            let loader = try BatchLoader(dataset: data, batchSize: 4, seed: rng.seed, augmentation: aug,
                                         prefetch: prefetch, workers: workers)
            XCTAssertEqual(Array(loader.epoch(1)), reference, "fast consumer, \(workers) workers, seed \(rng.seed)")
            var slow = [BatchLoader.Batch]()
            for batch in loader.epoch(1) {
                slow.append(batch)
                usleep(UInt32.random(in: 0...3000, using: &rng))  // a consumer busy with training steps
            }
            XCTAssertEqual(slow, reference, "slow consumer, \(workers) workers, seed \(rng.seed)")
        }
    }

    func testAbandonedEpochStopsAndTheNextStartsClean() throws {
        let data = try numbered(100)
        let loader = try BatchLoader(dataset: data, batchSize: 3, seed: 1, prefetch: 2, workers: 3)
        for batch in loader.epoch(0) {
            XCTAssertEqual(batch.index, 0)
            break
        }
        XCTAssertEqual(Array(loader.epoch(0)).count, 34)
    }

    func testNormalizationIsAppliedLast() throws {
        let data = try numbered(10)
        let norm = try ChannelNormalization(mean: [0.25], std: [0.5])
        let loader = try BatchLoader(dataset: data, batchSize: 10, shuffle: false, normalization: norm)
        let batch = Array(loader.epoch(0))[0]
        assertClose(batch.images, data.images.map { ($0 - 0.25) / 0.5 }, tolerance: 1e-6)
        let bright = try BatchLoader(dataset: data, batchSize: 10, shuffle: false,
                                     augmentation: Augmentation(brightness: 0.5), normalization: norm)
        let shifted = Array(bright.epoch(0))[0]
        XCTAssertTrue(shifted.images.allSatisfy { $0 >= -0.5 - 1e-6 && $0 <= 1.5 + 1e-6 }, "clamped to [0, 1] before normalizing")
    }

    func testBadSettingsAreRejected() throws {
        let data = try numbered(10)
        assertThrowsCNNError({ _ = try BatchLoader(dataset: data, batchSize: 0) })
        assertThrowsCNNError({ _ = try BatchLoader(dataset: data, batchSize: 4, prefetch: 0) })
        assertThrowsCNNError({ _ = try BatchLoader(dataset: data, batchSize: 4, workers: -1) })
        assertThrowsCNNError({ _ = try BatchLoader(dataset: data, batchSize: 4, augmentation: Augmentation(shift: -2)) })
        let channels = assertThrowsCNNError({
            _ = try BatchLoader(dataset: data, batchSize: 4, normalization: .cifar10)
        }) ?? ""
        XCTAssertTrue(channels.contains("3 channels"), channels)
        let tooFew = assertThrowsCNNError({ _ = try BatchLoader(dataset: data, batchSize: 11, dropLast: true) }) ?? ""
        XCTAssertTrue(tooFew.contains("fewer than one batch"), tooFew)
        XCTAssertEqual(try BatchLoader(dataset: data, batchSize: 11).batchesPerEpoch, 1)
    }

    /// Loads the real Fashion-MNIST training set through the loader, checks the epoch is
    /// complete, and prints throughput (a measurement, not an assertion: debug builds are slow;
    /// use `swift test -c release -Xswiftc -enable-testing` for real numbers).
    func testFashionMNISTThroughput() throws {
        guard InstalledFashionMNIST.isInstalled else { throw XCTSkip("dataset-fashion-mnist is not installed") }
        let start = Date()
        let train = try InstalledFashionMNIST.train.get()
        print("Fashion-MNIST train: loaded \(train.count) images in \(String(format: "%.2f", Date().timeIntervalSince(start))) s "
            + "(0 if another test loaded it first)")
        for (name, aug) in [("no augmentation", Augmentation()), ("flip + shift 2", Augmentation(horizontalFlip: true, shift: 2)),
                            ("rotation 10 + zoom", Augmentation(rotation: 10, zoom: 0.9...1.1))] {
            let loader = try BatchLoader(dataset: train, batchSize: 64, seed: 5, augmentation: aug,
                                         normalization: .fashionMNIST)
            let t0 = Date()
            var samples = 0, labelSum = 0
            for batch in loader.epoch(0) {
                samples += batch.count
                labelSum += batch.labels.reduce(0) { $0 + Int($1) }
            }
            let seconds = Date().timeIntervalSince(t0)
            XCTAssertEqual(samples, 60_000)
            XCTAssertEqual(labelSum, 6_000 * 45, "every label once")
            print("BatchLoader Fashion-MNIST, batch 64, \(loader.workers) workers, \(name): "
                + "\(Int(Double(samples) / seconds)) images/s")
        }
    }
}
