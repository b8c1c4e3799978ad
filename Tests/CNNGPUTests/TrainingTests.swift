@testable import CNNGPU
import Foundation
import XCTest

final class TrainingTests: XCTestCase {
    var backends: [any Backend] { TestBackends.all }

    func tinyModel(dropout: Bool = true, batchNorm: Bool = true) throws -> Graph {
        try Sequential(input: [1, 8, 8]) {
            Conv2D(4, kernel: 3, padding: .same)
            if batchNorm { BatchNorm() }
            ReLU(); MaxPool2D(2)
            Flatten()
            if dropout { Dropout(0.2) }
            Dense(3)
        }
    }

    func config(epochs: Int, dir: URL? = nil, resume: Bool = false) -> TrainingConfig {
        var c = TrainingConfig()
        c.epochs = epochs; c.batchSize = 8; c.seed = 42; c.modelName = "tiny"
        c.optimizer = .sgd(momentum: 0.9, nesterov: true, weightDecay: 1e-4)
        c.schedule = LearningRateSchedule(base: 0.05, shape: .cosine(totalSteps: 40, minimum: 0.001), warmupSteps: 3)
        c.checkpointDirectory = dir; c.resume = resume
        return c
    }

    func quietReporter() -> ProgressReporter { ProgressReporter(isTerminal: false, output: { _ in }) }

    func testLossFallsOnAFixedBatch() throws {
        let data = ArrayBatchSource.synthetic(count: 16, shape: [1, 28, 28], classes: 10, batchSize: 16, seed: 3)
        let batch = data.batches(epoch: 0, skipping: 0).next()!
        for backend in TestBackends.withGPUPolicy {
            let graph = try ModelZoo.build("lenet5")
            let store = try ParameterStore(graph: graph, backend: backend, seed: 7)
            let plan = try Plan(graph: graph, parameters: store, batch: 16, training: true)
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0.9), parameters: store))
            var losses: [Float] = []
            for _ in 0..<40 {
                losses.append(try step.run(images: batch.images, labels: batch.labels, learningRate: 0.02, seed: 0).loss)
            }
            XCTAssertLessThan(losses.last!, losses.first! * 0.3, "\(backend.testName): \(losses)")
        }
    }

    func testMeanSquaredErrorPlanFitsARegression() throws {
        // y = 2·x0 − x1 + 0.5 from four features: a Dense layer trained on MSE must find it.
        var g = SplitMix64(seed: 21)
        let x = (0..<32 * 4).map { _ in Float(g.uniform(-1, 1)) }
        let y: [Float] = (0..<32).map { i -> Float in
            let a: Float = 2 * x[i * 4], b: Float = x[i * 4 + 1]
            return a - b + 0.5
        }
        for backend in backends {
            let graph = try Sequential(input: [4]) { Dense(1) }
            let store = try ParameterStore(graph: graph, backend: backend, seed: 3)
            let plan = try Plan(graph: graph, parameters: store, batch: 32, training: true, loss: .meanSquaredError)
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0.9), parameters: store))
            try backend.upload(x, to: plan.input)
            try backend.upload(y, to: plan.targets!)
            var loss: Float = .infinity
            for _ in 0..<200 { loss = try step.runOnUploaded(learningRate: 0.05, seed: 0).loss }
            XCTAssertLessThan(loss, 1e-4, backend.info.backend)
            let w = try store.read()
            assertClose(w["dense1.weight"]!, [2.0, -1.0, 0.0, 0.0] as [Double], tolerance: 1e-2, backend.info.backend)
            XCTAssertEqual(Double(w["dense1.bias"]![0]), 0.5, accuracy: 1e-2)
        }
    }

    func testResumeIsExact() throws {
        let data = ArrayBatchSource.synthetic(count: 40, shape: [1, 8, 8], classes: 3, batchSize: 8, seed: 5)
        for backend in backends {
            let straight = try Trainer(graph: tinyModel(), backend: backend, config: config(epochs: 2), reporter: quietReporter())
            try straight.fit(train: data, validation: data)

            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-resume-\(UUID())")
            defer { try? FileManager.default.removeItem(at: dir) }
            let first = try Trainer(graph: tinyModel(), backend: backend, config: config(epochs: 1, dir: dir), reporter: quietReporter())
            try first.fit(train: data, validation: data)
            let second = try Trainer(graph: tinyModel(), backend: backend, config: config(epochs: 2, dir: dir, resume: true),
                                     reporter: quietReporter())
            try second.fit(train: data, validation: data)

            XCTAssertEqual(try straight.parameters.read(), try second.parameters.read(), backend.info.backend)
            XCTAssertEqual(try straight.optimizer.read(), try second.optimizer.read(), backend.info.backend)
            XCTAssertEqual(second.history.count, 2)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("curves.svg").path))
            XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").count, 2)
        }
    }

    func testNonFiniteLossStopsAndKeepsTheLastCheckpoint() throws {
        let good = ArrayBatchSource.synthetic(count: 16, shape: [1, 8, 8], classes: 3, batchSize: 8, seed: 9)
        for backend in backends {
            var data = good
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-nan-\(UUID())")
            defer { try? FileManager.default.removeItem(at: dir) }
            let trainer = try Trainer(graph: tinyModel(), backend: backend, config: config(epochs: 1, dir: dir), reporter: quietReporter())
            try trainer.fit(train: data, validation: nil)
            let saved = try Data(contentsOf: trainer.checkpointURL!)
            // A label outside the classes makes the loss NaN on the device.
            data = ArrayBatchSource(images: data.images, labels: data.labels.map { _ in 7 }, sampleSize: data.sampleSize,
                                    batchSize: 8, seed: 9, shuffle: true)
            let again = try Trainer(graph: tinyModel(), backend: backend, config: config(epochs: 2, dir: dir, resume: true),
                                    reporter: quietReporter())
            XCTAssertThrowsError(try again.fit(train: data, validation: nil)) { error in
                guard case TrainingStop.nonFiniteLoss(let step, _, _, let checkpoint) = error else {
                    return XCTFail("expected a non-finite loss stop, got \(error)")
                }
                XCTAssertEqual(step, 3)
                XCTAssertEqual(checkpoint, trainer.checkpointURL)
                XCTAssertTrue("\(error)".contains("step 3"))
            }
            XCTAssertEqual(try Data(contentsOf: trainer.checkpointURL!), saved, "the good checkpoint must survive")
        }
    }

    func testBackendsTrainAlike() throws {
        let backends = TestBackends.withGPUPolicy
        guard backends.count > 1 else { throw XCTSkip("needs the CPU and an OpenCL backend") }
        let data = ArrayBatchSource.synthetic(count: 32, shape: [1, 8, 8], classes: 3, batchSize: 8, seed: 11)
        var weights: [[String: [Float]]] = []
        for backend in backends {
            // Without batch norm: the bias before it gets a gradient of rounding noise only.
            let trainer = try Trainer(graph: tinyModel(batchNorm: false), backend: backend, config: config(epochs: 1),
                                      reporter: quietReporter())
            try trainer.fit(train: data, validation: nil)
            weights.append(try trainer.parameters.read())
        }
        for (backend, trained) in zip(backends.dropFirst(), weights.dropFirst()) {
            for (name, cpu) in weights[0] {
                assertClose(trained[name] ?? [], cpu, tolerance: 1e-3, "\(name) on \(backend.testName) after 4 steps")
            }
        }
    }

    func testLearningRateSchedules() {
        let warm = LearningRateSchedule(base: 0.1, shape: .constant, warmupSteps: 4)
        XCTAssertEqual(warm.rate(at: 0), 0.025, accuracy: 1e-7)
        XCTAssertEqual(warm.rate(at: 3), 0.1, accuracy: 1e-7)
        XCTAssertEqual(warm.rate(at: 100), 0.1)
        let step = LearningRateSchedule(base: 1, shape: .step(everySteps: 10, gamma: 0.5))
        XCTAssertEqual(step.rate(at: 9), 1); XCTAssertEqual(step.rate(at: 10), 0.5); XCTAssertEqual(step.rate(at: 25), 0.25)
        let cosine = LearningRateSchedule(base: 1, shape: .cosine(totalSteps: 100, minimum: 0))
        XCTAssertEqual(cosine.rate(at: 0), 1); XCTAssertEqual(cosine.rate(at: 50), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(at: 100), 0, accuracy: 1e-6)
    }

    func testSafeTensorsRoundTripAndCorruptFiles() throws {
        let file = SafeTensors(tensors: ["a.weight": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                                         "b": .init(shape: [1], values: [-1])], metadata: ["k": "v"])
        let data = try file.encoded()
        let back = try SafeTensors.decode(data)
        XCTAssertEqual(back.tensors, file.tensors); XCTAssertEqual(back.metadata, file.metadata)
        XCTAssertNotNil(assertThrowsCNNError({ _ = try SafeTensors.decode(data.prefix(data.count - 4)) }))
        XCTAssertNotNil(assertThrowsCNNError({ _ = try SafeTensors.decode(data.prefix(5)) }))
        var lying = data
        lying[0] = 0xFF   // header length far beyond the file
        XCTAssertNotNil(assertThrowsCNNError({ _ = try SafeTensors.decode(lying) }))
        XCTAssertNotNil(assertThrowsCNNError({ _ = try Checkpoint.read(from: URL(fileURLWithPath: "/nonexistent/ckpt")) }))
    }
}
