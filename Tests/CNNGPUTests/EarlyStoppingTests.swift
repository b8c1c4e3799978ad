@testable import CNNGPU
import Foundation
import XCTest

/// `Trainer` keeps the best epoch's checkpoint and stops early, through the library API.
final class EarlyStoppingTests: XCTestCase {
    func testBestCheckpointIsTheBestEpochsAndPatienceStopsTheRun() throws {
        let dir = try ImageFiles.temporaryFolder(self)
        let train = ArrayBatchSource.synthetic(count: 32, shape: [1, 8, 8], classes: 3, batchSize: 8, seed: 1)
        let validation = ArrayBatchSource.synthetic(count: 16, shape: [1, 8, 8], classes: 3, batchSize: 8, seed: 2)
        let graph = try Sequential(input: [1, 8, 8]) { Conv2D(4, kernel: 3, padding: .same); ReLU(); Flatten(); Dense(3) }
        var config = TrainingConfig()
        config.epochs = 8; config.batchSize = 8; config.modelName = "tiny"; config.checkpointDirectory = dir
        // A rate too small to move any prediction: validation accuracy never beats epoch 1.
        config.schedule = LearningRateSchedule(base: 1e-12)
        config.earlyStoppingPatience = 2
        let trainer = try Trainer(graph: graph, backend: TestBackends.cpu, config: config,
                                  reporter: ProgressReporter(isTerminal: false, output: { _ in }))
        let history = try trainer.fit(train: train, validation: validation)
        XCTAssertEqual(history.count, 3)
        XCTAssertEqual(trainer.stoppedEarly?.bestEpoch, 1)
        XCTAssertEqual(trainer.stoppedEarly?.patience, 2)
        XCTAssertEqual(trainer.bestEpoch?.epoch, 1)
        let best = try Checkpoint.read(from: XCTUnwrap(trainer.bestCheckpointURL))
        let latest = try Checkpoint.read(from: XCTUnwrap(trainer.checkpointURL))
        XCTAssertEqual(best.epochsCompleted, 1)
        XCTAssertEqual(latest.epochsCompleted, 3)
        XCTAssertEqual(best.optimizerStep, 4)
        // A later save (as Ctrl-C makes mid-epoch) leaves the best epoch's file as it was.
        let bestBytes = try Data(contentsOf: XCTUnwrap(trainer.bestCheckpointURL))
        try trainer.saveCheckpoint()
        XCTAssertEqual(try Data(contentsOf: XCTUnwrap(trainer.bestCheckpointURL)), bestBytes)

        // Without patience the run goes on to its last epoch; without validation there is no best.
        config.earlyStoppingPatience = nil
        config.checkpointDirectory = nil
        let full = try Trainer(graph: graph, backend: TestBackends.cpu, config: config,
                               reporter: ProgressReporter(isTerminal: false, output: { _ in }))
        XCTAssertEqual(try full.fit(train: train, validation: validation).count, 8)
        XCTAssertNil(full.stoppedEarly)
        let blind = try Trainer(graph: graph, backend: TestBackends.cpu, config: config,
                                reporter: ProgressReporter(isTerminal: false, output: { _ in }))
        try blind.fit(train: train, validation: nil)
        XCTAssertNil(blind.bestEpoch)
    }
}
