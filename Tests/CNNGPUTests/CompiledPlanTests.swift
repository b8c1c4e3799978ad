@testable import CNNGPU
import Foundation
import XCTest

/// The compiled plan: fused ops give the unfused results, plan modes agree, ops carry what the
/// profile shows, and the profile's trace is a Chrome trace.
final class CompiledPlanTests: XCTestCase {
    /// A small network with every fusion: conv+bias+ReLU, conv+tanh, batch norm+ReLU, residual add+ReLU.
    func fusableGraph() throws -> Graph {
        let b = GraphBuilder(input: [3, 10, 10])
        let stem = b.add(ReLU(), b.add(Conv2D(6, kernel: 3, padding: .same), b.input))
        let branch = b.add(ReLU(), b.add(BatchNorm(), b.add(Conv2D(6, kernel: 3, padding: .same, bias: false), stem)))
        let joined = b.add(ReLU(), b.add(Add(), stem, branch))
        let squashed = b.add(Tanh(), b.add(Conv2D(4, kernel: 3, stride: 2), joined))
        return try b.build(output: b.add(Dense(5), b.add(Flatten(), b.add(MaxPool2D(2), squashed))))
    }

    /// Runs one training step and returns (loss, every parameter gradient, output).
    func step(_ graph: Graph, on backend: any Backend, fusion: Bool, x: [Float], labels: [Int32], batch: Int,
              classes: Int = 5) throws -> (loss: Float, gradients: [Float], output: [Float], kinds: [String]) {
        let store = try ParameterStore(graph: graph, backend: backend, seed: 11)
        let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training, options: PlanOptions(fusion: fusion))
        let executor = Executor(plan: plan)
        try backend.upload(x, to: plan.input)
        try backend.uploadInt32(labels, to: plan.targets!)
        try executor.forward(training: true, seed: 3)
        try executor.lossAndMetrics()
        // The output's buffer is free for gradients once the loss has read it.
        let output = try backend.download(plan.output, count: batch * classes)
        try executor.backward()
        let loss = try executor.readLossAndCorrect().loss
        return (loss, try backend.download(store.gradients), output, plan.ops.map(\.kind))
    }

    func testFusedPlanMatchesUnfusedOnEveryBackend() throws {
        let graph = try fusableGraph()
        var rng = SeededGenerator.fresh()
        let batch = 3
        let x = rng.floats(batch * 300), labels = rng.ints(batch, below: 5)
        for backend in TestBackends.all {
            let fused = try step(graph, on: backend, fusion: true, x: x, labels: labels, batch: batch)
            let plain = try step(graph, on: backend, fusion: false, x: x, labels: labels, batch: batch)
            let name = "\(backend.testName), seed \(rng.seed)"
            XCTAssert(fused.loss.isFinite, name)
            XCTAssertEqual(Double(fused.loss), Double(plain.loss), accuracy: 1e-5 * max(1, Double(abs(plain.loss))), name)
            assertClose(fused.output, plain.output, tolerance: 1e-5, "outputs, \(name)")
            assertClose(fused.gradients, plain.gradients, tolerance: 1e-4, "gradients, \(name)")
            for kind in ["conv2d+bias+relu", "batchnorm+relu", "add+relu", "conv2d+bias+tanh", "batchnorm+relu backward"] {
                XCTAssert(fused.kinds.contains(kind), "\(kind) missing from \(fused.kinds), \(name)")
                XCTAssertFalse(plain.kinds.contains(kind), "\(kind) compiled with fusion off, \(name)")
            }
            XCTAssertFalse(fused.kinds.contains("relu"), "a ReLU kept its own forward op: \(fused.kinds)")
        }
    }

    /// Residual joins give their gradient buffer to inputs instead of copying dy where nothing
    /// can tell (`GradientPassThrough`): same loss and gradients as the copying plan, and the
    /// copies left are the ones the planner must keep. `GraphGradientTests` checks the same
    /// graph against finite differences.
    func testResidualJoinsCopyOnlyWhereTheyMust() throws {
        let graph = try GraphGradientTests.residualGraph()
        func copies(_ options: PlanOptions) throws -> [String] {
            let store = try ParameterStore(graph: graph, backend: CPUBackend(), seed: 1)
            let plan = try Plan(graph: graph, parameters: store, batch: 2, mode: .training, options: options)
            return plan.ops.filter { $0.kind == "add backward (copy)" }.map(\.name).sorted()
        }
        // add1 and add2 (identity and projection blocks): none. add3: its branch (the shortcut
        // is added into first). add4 = x + x: both. add5 (doubled + side): the side input.
        XCTAssertEqual(try copies(PlanOptions()), ["add3", "add4", "add4", "add5"])
        XCTAssertEqual(try copies(PlanOptions(fusion: false)).count, 10)
        // A retained join keeps its own gradient buffer.
        XCTAssertEqual(try copies(PlanOptions(retained: ["add1"])), ["add1", "add1", "add3", "add4", "add4", "add5"])

        var rng = SeededGenerator.fresh()
        let batch = 2
        let x = rng.floats(batch * graph.inputShape.count), labels = rng.ints(batch, below: 3)
        for backend in TestBackends.all {
            let shared = try step(graph, on: backend, fusion: true, x: x, labels: labels, batch: batch, classes: 3)
            let copied = try step(graph, on: backend, fusion: false, x: x, labels: labels, batch: batch, classes: 3)
            let name = "\(backend.testName), seed \(rng.seed)"
            XCTAssertEqual(Double(shared.loss), Double(copied.loss), accuracy: 1e-5 * max(1, Double(abs(copied.loss))), name)
            assertClose(shared.gradients, copied.gradients, tolerance: 1e-4, "gradients, \(name)")
        }
    }

    func testEvaluationPlanMatchesTrainingPlanInInferenceMode() throws {
        let graph = try fusableGraph()
        var rng = SeededGenerator.fresh()
        let batch = 4
        let x = rng.floats(batch * 300), labels = rng.ints(batch, below: 5)
        for backend in TestBackends.all {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 5)
            let training = try Plan(graph: graph, parameters: store, batch: batch, mode: .training)
            let evaluation = try Plan(graph: graph, parameters: store, batch: batch, mode: .evaluation)
            var results: [(Float, [Float])] = []
            for (plan, mode) in [(training, false), (evaluation, false)] {
                try backend.upload(x, to: plan.input)
                try backend.uploadInt32(labels, to: plan.targets!)
                let e = Executor(plan: plan)
                try e.forward(training: mode)
                try e.lossAndMetrics()
                results.append((try e.readLossAndCorrect().loss, try backend.download(plan.output, count: batch * 5)))
            }
            XCTAssertEqual(results[0].0, results[1].0, accuracy: 1e-5, "\(backend.testName), seed \(rng.seed)")
            assertClose(results[1].1, results[0].1, tolerance: 1e-6, backend.testName)
            XCTAssertTrue(evaluation.backwardOps.isEmpty)
            XCTAssertThrowsError(try Executor(plan: evaluation).backward())
            XCTAssertThrowsError(try Executor(plan: evaluation).forward(training: true))
        }
    }

    func testInferencePlanFoldsBatchNormIntoConvolution() throws {
        let graph = try fusableGraph()
        var rng = SeededGenerator.fresh()
        let batch = 2
        let x = rng.floats(batch * 300)
        for backend in TestBackends.all {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 2)
            // Running statistics and affine parameters away from their initial 0/1.
            try store.write(["bn1.running_mean": rng.floats(6), "bn1.running_var": rng.floats(6, in: 0.5...2),
                             "bn1.weight": rng.floats(6, in: 0.5...1.5), "bn1.bias": rng.floats(6)])
            var outputs: [[Float]] = []
            for fusion in [true, false] {
                let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .inference, options: PlanOptions(fusion: fusion))
                XCTAssertEqual(plan.ops.contains { $0.kind == "fold batchnorm into conv2d" }, fusion)
                XCTAssertEqual(plan.ops.contains { $0.kind == "conv2d+batchnorm(folded)+relu" }, fusion, "\(plan.ops.map(\.kind))")
                try backend.upload(x, to: plan.input)
                try Executor(plan: plan).forward(training: false)
                outputs.append(try backend.download(plan.output, count: batch * 5))
            }
            assertClose(outputs[0], outputs[1], tolerance: 1e-5, "\(backend.testName), seed \(rng.seed)")
            // The folded weights follow the parameters: change them and run the same plan again.
            let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .inference)
            let reference = try Plan(graph: graph, parameters: store, batch: batch, mode: .inference, options: PlanOptions(fusion: false))
            try store.write(["bn1.running_var": rng.floats(6, in: 0.5...2)])
            var again: [[Float]] = []
            for p in [plan, reference] {
                try backend.upload(x, to: p.input)
                try Executor(plan: p).forward(training: false)
                again.append(try backend.download(p.output, count: batch * 5))
            }
            assertClose(again[0], again[1], tolerance: 1e-5, "after a parameter change, \(backend.testName)")
        }
    }

    func testInputGradientMatchesFiniteDifferencesAndRetainedLayersStayReadable() throws {
        let graph = try fusableGraph()
        var rng = SeededGenerator.fresh()
        let batch = 2
        let x = rng.floats(batch * 300), labels = rng.ints(batch, below: 5)
        for backend in TestBackends.all {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 4)
            let options = PlanOptions(inputGradient: true, retained: ["conv1", "relu1"])
            let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training, options: options)
            let executor = Executor(plan: plan)
            func loss(_ input: [Float]) throws -> Double {
                try backend.upload(input, to: plan.input)
                try backend.uploadInt32(labels, to: plan.targets!)
                try executor.forward(training: true)
                try executor.lossAndMetrics()
                return Double(try executor.readLossAndCorrect().loss)
            }
            _ = try loss(x)
            try executor.backward()
            let dx = try backend.download(XCTUnwrap(plan.inputGradient), count: x.count)
            let conv = try backend.download(plan.activation(of: "conv1"), count: batch * 600)
            let relu = try backend.download(plan.activation(of: "relu1"), count: batch * 600)
            XCTAssertEqual(relu, conv.map { max($0, 0) }, "retained conv1 and relu1 keep their own values, \(backend.testName)")
            XCTAssertThrowsError(try plan.activation(of: "conv2"))
            XCTAssertThrowsError(try plan.activation(of: "nope"))
            // Against central differences of the Double reference (no dropout: the training-mode
            // loss is a deterministic function of x). Its step of 1e-7 costs nothing in rounding
            // and leaves a ReLU or max-pool switch inside ±step improbable; the engine's own float
            // loss needed steps of 1e-3 and more, and a switch that close failed seeds twice.
            let reference = GraphReference(graph: graph, batch: batch, training: true)
            let parameters = try store.read().mapValues { $0.doubles }
            let input = x.doubles
            // Distinct coordinates: the closure below sets each sampled one from its own value.
            let sampled = Array((0..<x.count).shuffled(using: &rng).prefix(4))
            let expected = finiteDifferenceGradient(at: sampled.map { input[$0] }, weights: [1], step: 1e-7) { values in
                var changed = input
                for (k, v) in zip(sampled, values) { changed[k] = v }
                return [reference.loss(changed, parameters: parameters, labels: labels)]
            }
            for (k, want) in zip(sampled, expected) {
                XCTAssertEqual(Double(dx[k]), want, accuracy: 1e-3 + 0.02 * abs(want), "dx[\(k)], \(backend.testName), seed \(rng.seed)")
            }
            XCTAssertEqual(Double(try executor.readLossAndCorrect().loss), reference.loss(input, parameters: parameters, labels: labels),
                           accuracy: 1e-4, "loss, \(backend.testName)")
            XCTAssertEqual(dx.count, x.count)
        }
    }

    func testConvolutionOpsCarryTheirAlgorithmAndCost() throws {
        let graph = try fusableGraph()
        let backend = TestBackends.cpu
        let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
        let plan = try Plan(graph: graph, parameters: store, batch: 2, mode: .training)
        let convs = plan.ops.filter { $0.kind.hasPrefix("conv2d") }
        XCTAssertEqual(convs.count, 3 + 3 * 2 - 1)   // forward ×3, backward (filter, data) ×3, minus the stem's data pass
        for op in convs {
            XCTAssertNotEqual(op.algorithm, "—", op.kind)
            XCTAssertGreaterThan(op.flops, 0, op.kind)
        }
    }

    func testTrainingStepProfileAndChromeTrace() throws {
        let graph = try fusableGraph()
        var backends: [any Backend] = [TestBackends.cpu]
        if TestBackends.openCL != nil { backends.append(try OpenCLBackend(deviceIndex: 0, profiling: true)) }
        var rng = SeededGenerator.fresh()
        let batch = 2
        let x = rng.floats(batch * 300), labels = rng.ints(batch, below: 5)
        for backend in backends {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
            let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training)
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0.9), parameters: store))
            let profiler = try OpProfiler(backend: backend)
            step.profiler = profiler
            for s in 0..<3 { try step.run(images: x, labels: labels, learningRate: 0.01, seed: UInt64(s)) }
            XCTAssertEqual(profiler.steps, 3)
            // Every op of the plan plus the optimizer update, each step.
            XCTAssertEqual(profiler.records.count, 3 * (plan.ops.count + 1), backend.testName)
            XCTAssert(profiler.records.allSatisfy { $0.seconds >= 0 && $0.start >= 0 }, backend.testName)
            let table = profiler.table()
            XCTAssert(table.contains("conv2d+bias+relu"), table)
            XCTAssert(table.contains("per step:"), table)
            let trace = try JSONSerialization.jsonObject(with: try profiler.chromeTrace()) as? [String: Any]
            let events = trace?["traceEvents"] as? [[String: Any]] ?? []
            XCTAssertEqual(events.filter { $0["ph"] as? String == "X" }.count, profiler.records.count)
        }
    }

    /// With the next batch announced, OpenCL uploads it during the step (double buffering);
    /// the steps must be those of plain uploads, and a broken promise must not train on the
    /// announced batch.
    func testDoubleBufferedStepsMatchPlainUploads() throws {
        let graph = try fusableGraph()
        var rng = SeededGenerator.fresh()
        let batch = 2
        let batches = (0..<4).map { _ in (rng.floats(batch * 300), rng.ints(batch, below: 5)) }
        for backend in TestBackends.all {
            var losses: [[Float]] = []
            for mode in 0..<3 {
                let store = try ParameterStore(graph: graph, backend: backend, seed: 8)
                let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training)
                let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0.9), parameters: store))
                var run: [Float] = []
                for (k, b) in batches.enumerated() {
                    // mode 0: no look-ahead; 1: the true next batch; 2: a wrong announcement.
                    let next = mode == 0 || k + 1 == batches.count ? nil
                        : mode == 1 ? batches[k + 1] : batches[(k + 2) % batches.count]
                    run.append(try step.run(images: b.0, labels: b.1, learningRate: 0.05, seed: UInt64(k),
                                            next: next.map { ($0.0, $0.1) }).loss)
                }
                losses.append(run)
            }
            XCTAssertEqual(losses[1], losses[0], "\(backend.testName), seed \(rng.seed)")
            XCTAssertEqual(losses[2], losses[0], "\(backend.testName), seed \(rng.seed)")
        }
    }

    func testProfilerRefusesAnOpenCLQueueWithoutProfiling() throws {
        guard let cl = TestBackends.openCL else { throw XCTSkip("no OpenCL device") }
        XCTAssertThrowsError(try OpProfiler(backend: cl))
    }

    func testTrainingStepRefusesAnInferencePlanAndShortBatches() throws {
        let graph = try fusableGraph()
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
        let inference = try Plan(graph: graph, parameters: store, batch: 2, mode: .inference)
        let optimizer = try Optimizer(.sgd(), parameters: store)
        XCTAssertThrowsError(try TrainingStep(plan: inference, optimizer: optimizer))
        let step = try TrainingStep(plan: try Plan(graph: graph, parameters: store, batch: 2, mode: .training), optimizer: optimizer)
        XCTAssertThrowsError(try step.run(images: [0, 1], labels: [0, 1], learningRate: 0.1, seed: 0))
    }

    func testSummaryShowsFusedLayers() throws {
        let text = try fusableGraph().summary()
        XCTAssert(text.contains("fused +relu"), text)
        XCTAssert(text.contains("in conv1"), text)
        XCTAssert(text.contains("Compiled: 4 activations fused"), text)
        XCTAssertFalse(try fusableGraph().summary(options: PlanOptions(fusion: false)).contains("fused"))
    }

    func testWorkspacesArePlannedBuffers() throws {
        // Forcing im2col gives the convolutions a column workspace, which the plan must hold.
        ConvolutionAlgorithm.forced = .im2colGEMM
        defer { ConvolutionAlgorithm.forced = nil }
        let graph = try fusableGraph()
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
        let plan = try Plan(graph: graph, parameters: store, batch: 2, mode: .training)
        XCTAssertGreaterThan(plan.workspaceBytes, 0)
        XCTAssert(plan.ops.contains { $0.algorithm.hasPrefix("im2colGEMM") })
    }
}
