@testable import CNNGPU
import XCTest

/// The parts of data-parallel training that need no second process: shards, buckets, the
/// launcher check and device choice per rank.
final class DistributedPartsTests: XCTestCase {
    /// 40 samples of 1×2×2 whose pixels and labels name their index.
    func loader(batch: Int) throws -> BatchLoader {
        let data = try Dataset(name: "indexed", sampleShape: [1, 2, 2], classes: 40,
                               images: (0..<40).flatMap { i in [Float](repeating: Float(i), count: 4) },
                               labels: (0..<40).map(Int32.init))
        return try BatchLoader(dataset: data, batchSize: batch, shuffle: true, seed: 9, dropLast: true, workers: 1)
    }

    func testShardsSplitEveryGlobalBatchInRankOrder() throws {
        let global = try loader(batch: 8)
        let shards = try (0..<4).map { try ShardedBatchSource(global: loader(batch: 8), sampleValues: 4, rank: $0, ranks: 4) }
        XCTAssertEqual(shards[0].batchSize, 2)
        XCTAssertEqual(shards[0].sampleCount, 40)
        for epoch in 1...2 {
            let whole = Array(global.batches(epoch: epoch, skipping: 1))
            let parts = shards.map { Array($0.batches(epoch: epoch, skipping: 1)) }
            XCTAssertEqual(whole.count, 4)
            for (b, batch) in whole.enumerated() {
                // The ranks' parts, in rank order, are the global batch: same samples, same order.
                XCTAssertEqual(parts.flatMap { $0[b].labels }, batch.labels)
                XCTAssertEqual(parts.flatMap { $0[b].images }, Array(batch.images.prefix(8 * 4)))
                XCTAssertEqual(parts.map { $0[b].count }, [2, 2, 2, 2])
            }
        }
    }

    /// Image folders build only a rank's part (nothing of the others' is decoded), and the
    /// parts are the global batches' slices: the same files, crops and flips.
    func testImageFolderShardsAreTheGlobalBatchesSlices() throws {
        var rng = SeededGenerator.fresh()
        let root = try ImageFiles.temporaryFolder(self)
        for (name, count) in ["cat": 7, "dog": 6] {
            for i in 0..<count {
                try ImageFiles.write(ImageFiles.png(ImageFiles.noise(24 * 20 * 3, &rng), width: 24, height: 20),
                                     to: "\(name)/\(i).png", in: root)
            }
        }
        let make = { try ImageFolderSource(folder: try ImageFolder(directory: root), transform: .training(size: 16), batchSize: 6,
                                           shuffle: true, seed: 4, dropLast: true) }
        let global = try make()
        let shards = try (0..<3).map { try ShardedBatchSource(global: make(), sampleValues: 3 * 16 * 16, rank: $0, ranks: 3) }
        let whole = Array(global.batches(epoch: 2, skipping: 0))
        let parts = shards.map { Array($0.batches(epoch: 2, skipping: 0)) }
        XCTAssertEqual(whole.count, 2)
        for (b, batch) in whole.enumerated() {
            XCTAssertEqual(parts.map { $0[b].count }, [2, 2, 2])
            XCTAssertEqual(parts.flatMap { $0[b].labels }, batch.labels)
            XCTAssertEqual(parts.flatMap { $0[b].images }, batch.images)
        }
    }

    func testAGlobalBatchThatDoesNotSplitNamesTheSizesThatDo() throws {
        XCTAssertThrowsError(try ShardedBatchSource(global: loader(batch: 10), sampleValues: 4, rank: 0, ranks: 4)) { error in
            XCTAssertEqual(error as? DistributedError, .unevenBatch(batch: 10, ranks: 4))
            XCTAssertTrue("\(error)".contains("--batch-size 8 or 12"), "\(error)")
        }
        XCTAssertTrue("\(DistributedError.unevenBatch(batch: 3, ranks: 4))".contains("--batch-size 4 "))
    }

    func testBucketsCoverTheGradientsAndStartInTheOrderBackwardCompletesThem() throws {
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 10)
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
        let plan = try Plan(graph: graph, parameters: store, batch: 2, mode: .training)
        for bucketBytes in [1 << 20, 4 << 20, Int.max] {
            let buckets = GradientAverager.buckets(plan: plan, bucketBytes: bucketBytes)
            // Disjoint, and together the whole flat buffer.
            let sorted = buckets.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
            XCTAssertEqual(sorted.first?.lowerBound, 0)
            XCTAssertEqual(sorted.last?.upperBound, store.trainableSpan)
            for (a, b) in zip(sorted, sorted.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
            // Started as backward completes them: the highest range (the head) first.
            XCTAssertEqual(buckets.map(\.readyAfter), buckets.map(\.readyAfter).sorted())
            XCTAssertEqual(buckets.first?.range.upperBound, store.trainableSpan)
            // No gradient in a bucket is written by a backward op after the bucket starts.
            for bucket in buckets {
                let nodes = Set(store.entries.filter { $0.spec.trainable && bucket.range.contains($0.offset) }.map(\.node))
                for (i, op) in plan.backwardOps.enumerated() where nodes.contains(op.node) {
                    XCTAssertLessThanOrEqual(i, bucket.readyAfter, "\(op.name) runs after its bucket started")
                }
            }
            if bucketBytes == .max { XCTAssertEqual(buckets.count, 1) }
            if bucketBytes == 4 << 20 { XCTAssertGreaterThan(buckets.count, 4) }   // 44.7 MB of gradients
        }
    }

    func testAnotherMPIsLauncherIsRefusedNotRunAlone() {
        XCTAssertFalse(MPIWorld.launchedByMPIRun([:]))
        XCTAssertTrue(MPIWorld.launchedByMPIRun(["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertThrowsError(try MPIWorld.start(environment: ["PMI_RANK": "1", "PMI_SIZE": "2"])) { error in
            XCTAssertEqual(error as? DistributedError, .foreignLauncher(variables: ["PMI_RANK", "PMI_SIZE"]))
            XCTAssertTrue("\(error)".contains("not Open MPI's mpirun") && "\(error)".contains("apt-get install"), "\(error)")
        }
    }

    func testDevicesPerLocalRank() throws {
        XCTAssertEqual(try DeviceSelection(parsing: "cpu,opencl:1", localRank: 1), .openCL(index: 1))
        XCTAssertEqual(try DeviceSelection(parsing: "cpu,opencl:1", localRank: 0), .cpu)
        XCTAssertEqual(try DeviceSelection(parsing: "opencl:0", localRank: 3), .openCL(index: 0))
        XCTAssertThrowsError(try DeviceSelection(parsing: "cpu,cpu", localRank: 2)) { error in
            XCTAssertTrue("\(error)".contains("lists 2 devices, but this is local rank 2"), "\(error)")
        }
        // Fewer OpenCL GPUs than ranks (none here: PoCL is a CPU): every rank gets the CPU backend.
        let gpus = ((try? OpenCLDevice.all()) ?? []).filter { $0.info.kind == .gpu || $0.info.kind == .accelerator }
        let opened = try DeviceSelection.auto.open(localRank: 1, localSize: gpus.count + 1)
        XCTAssertEqual(opened.backend.info.backend, CPUBackend().info.backend)
        XCTAssertTrue(opened.reason.contains("one GPU per rank"), opened.reason)
        // Each rank's CPU backend takes its share of the cores, at least one.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        XCTAssertEqual((opened.backend as? CPUBackend)?.threads, max(1, cores / (gpus.count + 1)))
        for size in [1, 2, 64] {
            let cpu = try DeviceSelection.cpu.open(localRank: 0, localSize: size)
            XCTAssertEqual((cpu.backend as? CPUBackend)?.threads, max(1, cores / size), "\(size) ranks")
        }
    }
}
