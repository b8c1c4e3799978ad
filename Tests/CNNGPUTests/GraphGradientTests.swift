@testable import CNNGPU
import Foundation
import XCTest

/// Whole-graph checks of the engine (planning, shared and in-place buffers, gradient
/// accumulation, the backward pass of every layer) against `GraphReference`, a plain Double
/// forward pass: the engine's loss must equal the reference's, and every parameter gradient
/// the engine computes must equal central finite differences of the reference's loss. Each
/// DAG isolates one thing the engine could get wrong, and runs on every test backend
/// (including OpenCL under the GPU policy, so im2col + CLBlast runs through a whole graph).
///
/// The gradient of the model's input is not checked: a plan does not compute it.
final class GraphGradientTests: XCTestCase {
    /// (a) One tensor read by three layers (two convolutions and the join): its gradient is
    /// the sum of three paths, written by the first consumer and added to by the others.
    func testGradientsAccumulateOverThreeConsumers() throws {
        let b = GraphBuilder(input: [2, 5, 5])
        let r = b.add(ReLU(), b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let left = b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), r)
        let right = b.add(Conv2D(3, kernel: 1, weightInitializer: .glorotUniform), r)
        let sum = b.add(Add(), left, r, right)
        try check(b.build(output: b.add(Dense(4), b.add(Flatten(), sum))), batch: 3)
    }

    /// (b) Concat's backward splits the gradient by channel blocks, here into three inputs, one
    /// of which (the ReLU) also feeds both convolutions.
    func testConcatBackward() throws {
        let b = GraphBuilder(input: [2, 4, 5])
        let r = b.add(ReLU(), b.add(Conv2D(4, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let narrow = b.add(Conv2D(2, kernel: 1, weightInitializer: .glorotUniform), r)
        let wide = b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), r)
        let joined = b.add(Concat(), narrow, r, wide)
        let mixed = b.add(Conv2D(2, kernel: 1, weightInitializer: .glorotUniform), joined)
        try check(b.build(output: b.add(Dense(3), b.add(Flatten(), mixed))), batch: 2)
    }

    /// (c) Layers the planner may run in place (ReLU and Flatten over their input's buffer) next
    /// to ones it must not: `c2` feeds both the tanh and the Add, so an in-place tanh would
    /// hand the Add its own output.
    func testInPlaceLayersAndTheirLimits() throws {
        let b = GraphBuilder(input: [2, 5, 4])
        let r1 = b.add(ReLU(), b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let c2 = b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), r1)
        let joined = b.add(Add(), c2, b.add(ActivationLayer(.tanh), c2))
        let hidden = b.add(LeakyReLU(0.1), b.add(Dense(6), b.add(Flatten(), joined)))
        try check(b.build(output: b.add(Dense(3), hidden)), batch: 3)
    }

    /// (d) Training-mode batch norm: batch statistics in the forward pass, and a backward pass
    /// through them (the mean and variance depend on every input), twice in a row.
    func testTrainingModeBatchNorm() throws {
        let b = GraphBuilder(input: [2, 5, 5])
        var t = b.add(ReLU(), b.add(BatchNorm(), b.add(Conv2D(4, kernel: 3, padding: .same, bias: false,
                                                                 weightInitializer: .glorotUniform), b.input)))
        // No bias before a batch norm: its true gradient is 0, and the engine's is rounding noise.
        t = b.add(ReLU(), b.add(BatchNorm(), b.add(Conv2D(3, kernel: 3, padding: .same, bias: false,
                                                          weightInitializer: .glorotUniform), t)))
        try check(b.build(output: b.add(Dense(3), b.add(Flatten(), t))), batch: 4)
    }

    /// (e) Dropout with a fixed seed: the reference multiplies by the engine's own mask, read
    /// from a run of the graph cut at the dropout (see `dropoutScales`).
    func testDropoutWithAFixedSeed() throws {
        let b = GraphBuilder(input: [2, 5, 5])
        let r = b.add(ReLU(), b.add(Conv2D(4, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let dropped = b.add(Dropout(0.4), r)
        let graph = try b.build(output: b.add(Dense(3), b.add(Flatten(), dropped)))
        try check(graph, batch: 3, dropoutProbe: (try b.build(output: dropped), rate: 0.4), seed: 0x5EED_D0)
    }

    /// (f) The GPU policy's algorithms through a whole graph: im2col + GEMM convolutions run
    /// one image per chunk (the workspace limit lowered), so the filter gradient accumulates
    /// over chunks, and a log-softmax over 525 features runs a work-group per row. The other
    /// backends run their own algorithms on the same graph. Finite differences are taken at 24
    /// sampled coordinates per parameter, since the graph is larger.
    func testGPUPolicyAlgorithmsWithChunking() throws {
        let saved = ConvolutionWorkspace.limitBytes
        ConvolutionWorkspace.limitBytes = 1   // one image per chunk
        ConvolutionAlgorithm.forced = .im2colGEMM
        defer { ConvolutionWorkspace.limitBytes = saved; ConvolutionAlgorithm.forced = nil }
        let b = GraphBuilder(input: [2, 5, 5])
        // Smooth: a ReLU input within the finite-difference step of 0 makes the reference wrong.
        let r = b.add(Tanh(), b.add(Conv2D(9, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let wide = b.add(Conv2D(21, kernel: 3, padding: .same, weightInitializer: .glorotUniform), r)
        let features = b.add(Softmax(log: true), b.add(Flatten(), wide))
        // Small head weights: 525 log-probabilities near −6 through a Glorot head give logits
        // around ±8, predictions within 1e-4 of certain and gradients (p − y) of 2e-4, where
        // float32's rounding of p alone is 0.1% (one seed in many failed so).
        let graph = try b.build(output: b.add(Dense(3, weightInitializer: .normal(std: 0.01)), features))
        if let gpu = TestBackends.openCLGPUPolicy {
            // What this test is for: the choices it claims to exercise are the ones made.
            let conv = try XCTUnwrap(graph.nodes[3].layer as? Conv2D).descriptor([9, 5, 5], batch: 3)
            XCTAssertEqual(try ConvolutionChoice.solution(for: conv, direction: .forward, backend: gpu).algorithm, .im2colGEMM)
            XCTAssertEqual(gpu.softmaxAlgorithm(for: AxisShape(outer: 3, axis: 525, inner: 1)), .workgroup)
        }
        try check(graph, batch: 3, sampledCoordinates: 24)
    }

    /// (g) The GPU policy's own choices through a whole graph: Winograd F(2×2,3×3) for the
    /// 32-channel 3×3 layer (forward and backward-data), split-K implicit GEMM for every
    /// backward-filter and the 1×1 layer.
    func testGPUPolicySolversThroughAGraph() throws {
        let b = GraphBuilder(input: [4, 6, 6])
        // Smooth activations: a ReLU kink inside the finite-difference step would make the
        // reference, not the engine, wrong (this test is about the solvers).
        let c1 = b.add(Sigmoid(), b.add(Conv2D(32, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let c2 = b.add(Tanh(), b.add(Conv2D(32, kernel: 3, padding: .same, weightInitializer: .glorotUniform), c1))
        let c3 = b.add(Conv2D(6, kernel: 1, weightInitializer: .glorotUniform), c2)
        let graph = try b.build(output: b.add(Dense(3), b.add(Flatten(), c3)))
        if let gpu = TestBackends.openCLGPUPolicy {
            let wide = try XCTUnwrap(graph.nodes[3].layer as? Conv2D).descriptor([32, 6, 6], batch: 2)
            XCTAssertEqual(try ConvolutionChoice.solution(for: wide, direction: .forward, backend: gpu).algorithm, .winogradF2x3)
            XCTAssertEqual(try ConvolutionChoice.solution(for: wide, direction: .backwardFilter, backend: gpu).algorithm, .implicitGEMM)
        }
        try check(graph, batch: 2, sampledCoordinates: 24)
    }

    /// (h) Residual joins whose inputs inherit the join's gradient buffer instead of copies of
    /// it (`GradientPassThrough`), in each situation the planner tells apart: an identity block
    /// and a projection block (both inputs inherit), a shortcut that another layer placed after
    /// the branch also reads (it is added into before the branch reads dy: the branch gets a
    /// copy), x + x (twice dy) and a join of a join.
    func testResidualJoinsPassTheirGradientThrough() throws {
        let graph = try Self.residualGraph()
        try check(graph, batch: 2, sampledCoordinates: 24)
    }

    /// The graph of (h); `CompiledPlanTests` counts its copies.
    static func residualGraph() throws -> Graph {
        let b = GraphBuilder(input: [2, 6, 6])
        func conv(_ channels: Int, _ kernel: Int, _ x: NodeID) -> NodeID {
            b.add(Conv2D(channels, kernel: kernel, padding: .same, bias: false, weightInitializer: .glorotUniform), x)
        }
        let stem = b.add(ReLU(), b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let block1 = b.add(ReLU(), b.add(Add(), b.add(BatchNorm(), conv(3, 3, stem)), stem))
        let block2 = b.add(ReLU(), b.add(Add(), b.add(BatchNorm(), conv(4, 3, block1)), b.add(BatchNorm(), conv(4, 1, block1))))
        let branch3 = b.add(BatchNorm(), conv(4, 3, block2))
        let side3 = conv(4, 1, block2)
        let block3 = b.add(Add(), branch3, block2)
        let doubled = b.add(Add(), block3, block3)
        let joined = b.add(Add(), doubled, side3)
        return try b.build(output: b.add(Dense(3), b.add(Flatten(), b.add(Tanh(), joined))))
    }

    /// (i) An image stem that is not the first layer (a user's model with a learned input
    /// transform): its input gradient runs, on CPU devices through the few-channel solver's
    /// backward-data kernel (7×7, stride 2, 3→24), and reaches the first layer's parameters.
    func testFewChannelStemInputGradientThroughAGraph() throws {
        let b = GraphBuilder(input: [2, 9, 11])
        let c1 = b.add(Tanh(), b.add(Conv2D(3, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let stem = b.add(Sigmoid(), b.add(Conv2D(24, kernel: 7, stride: 2, padding: .explicit(Padding2D(3)),
                                                 weightInitializer: .glorotUniform), c1))
        let graph = try b.build(output: b.add(Dense(3), b.add(Flatten(), stem)))
        if let cl = TestBackends.openCL, cl.policy == .cpu {
            let conv = try XCTUnwrap(graph.nodes[3].layer as? Conv2D).descriptor([3, 9, 11], batch: 2)
            XCTAssertEqual(try ConvolutionChoice.solution(for: conv, direction: .backwardData, backend: cl).algorithm, .fewChannels)
        }
        try check(graph, batch: 2, sampledCoordinates: 24)
    }

    /// (j) The Winograd filter gradient F(3×3,4×4) through a whole graph: remembered as the
    /// tuner's choice for the filter gradients of both 3×3 layers on every OpenCL backend (its
    /// CPU default takes only wide layers on large planes), checked against finite differences.
    func testWinogradFilterGradientThroughAGraph() throws {
        let b = GraphBuilder(input: [3, 9, 7])
        let c1 = b.add(Tanh(), b.add(Conv2D(8, kernel: 3, padding: .same, weightInitializer: .glorotUniform), b.input))
        let c2 = b.add(Sigmoid(), b.add(Conv2D(5, kernel: 3, padding: .same, weightInitializer: .glorotUniform), c1))
        let graph = try b.build(output: b.add(Dense(3), b.add(Flatten(), c2)))
        let saved = ConvolutionChoice.database
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-winograd-filter-\(UUID()).json")
        ConvolutionChoice.database = TuningDatabase(url: url)
        defer { ConvolutionChoice.database = saved; try? FileManager.default.removeItem(at: url) }
        let layers = [try XCTUnwrap(graph.nodes[1].layer as? Conv2D).descriptor([3, 9, 7], batch: 2),
                      try XCTUnwrap(graph.nodes[3].layer as? Conv2D).descriptor([8, 9, 7], batch: 2)]
        for cl in [TestBackends.openCL, TestBackends.openCLGPUPolicy].compactMap({ $0 }) {
            for d in layers {
                let parameters = try XCTUnwrap(cl.winogradFilterCandidates(d).first)
                try ConvolutionChoice.database.record(TunedChoice(solver: "winogradFilter", parameters: parameters, milliseconds: 1),
                                                      device: cl.info, problem: ConvolutionProblemKey(d, direction: .backwardFilter))
                XCTAssertEqual(try ConvolutionChoice.solution(for: d, direction: .backwardFilter, backend: cl).algorithm,
                               .winogradFilter)
            }
        }
        try check(graph, batch: 2, sampledCoordinates: 24)
    }

    // MARK: The check

    /// One forward, loss and backward pass of `graph` on every test backend, against the Double
    /// reference: the loss to 1e-4 relative, each parameter's gradient to 1e-3 (norm-wise) of
    /// central differences of the reference loss.
    private func check(_ graph: Graph, batch: Int, dropoutProbe: (graph: Graph, rate: Float)? = nil,
                       seed: UInt64 = 0, sampledCoordinates: Int? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        // Keyed by the calling test's line: a replay of one test draws the same values.
        var rng = SeededGenerator.fresh(line: Int(line))
        let x = rng.floats(batch * graph.inputShape.count)
        let labels = rng.ints(batch, below: graph.outputShape.count)
        var computed: (scales: [Int: [Double]], loss: Double, gradients: [String: [Double]])?
        // The coordinates of each parameter whose gradient is checked: all, or a sample.
        var coordinates: [String: [Int]] = [:]
        for node in graph.nodes {
            for spec in node.parameters where spec.trainable {
                let all = Array(0..<spec.count)
                coordinates["\(node.name).\(spec.name)"] = sampledCoordinates.map { n in
                    spec.count <= n ? all : Array(all.shuffled(using: &rng).prefix(n)).sorted()
                } ?? all
            }
        }

        for backend in TestBackends.withGPUPolicy {
            let context = "\(backend.testName), seed \(rng.seed)"
            let store = try ParameterStore(graph: graph, backend: backend, seed: rng.seed)
            let parameters = try store.read().mapValues { $0.doubles }
            let plan = try Plan(graph: graph, parameters: store, batch: batch, training: true)
            let executor = Executor(plan: plan)
            try backend.upload(x, to: plan.input)
            try backend.uploadInt32(labels, to: plan.targets!)
            try executor.forward(training: true, seed: seed)
            try executor.lossAndMetrics()
            try executor.backward()
            let loss = try executor.readLossAndCorrect().loss
            let flat = try backend.download(store.gradients)

            var scales: [Int: [Double]] = [:]
            if let probe = dropoutProbe {
                let node = probe.graph.nodes.count - 1
                scales[node] = try dropoutScales(probe.graph, rate: probe.rate, backend: backend, batch: batch, seed: seed)
            }
            // The reference's loss and finite differences, computed once unless a backend drew
            // another dropout mask (they must not: the mask is a function of the seed).
            if computed == nil || computed!.scales != scales {
                var reference = GraphReference(graph: graph, batch: batch, training: true)
                reference.dropoutScales = scales
                let input = x.doubles
                var gradients: [String: [Double]] = [:]
                for entry in store.entries where entry.spec.trainable {
                    let at = coordinates[entry.name]!, base = parameters[entry.name]!
                    // The reference is all Double, so a step of 1e-7 costs nothing in rounding
                    // (~1e-9) and makes a ReLU or max-pool switch inside ±step 100× rarer than
                    // the default 1e-5, where one seed in a few dozen hit one.
                    gradients[entry.name] = finiteDifferenceGradient(at: at.map { base[$0] }, weights: [1], step: 1e-7) { sample in
                        var changed = parameters
                        for (i, v) in zip(at, sample) { changed[entry.name]![i] = v }
                        return [reference.loss(input, parameters: changed, labels: labels)]
                    }
                }
                computed = (scales, reference.loss(input, parameters: parameters, labels: labels), gradients)
            }
            let expected = computed!
            XCTAssertEqual(Double(loss), expected.loss, accuracy: 1e-4 * max(1, expected.loss),
                           "loss, \(context)", file: file, line: line)
            for entry in store.entries where entry.spec.trainable {
                let gradient = coordinates[entry.name]!.map { flat[entry.offset + $0] }
                assertClose(gradient, expected.gradients[entry.name]!, tolerance: 1e-3,
                            "gradient of \(entry.name) against finite differences, \(context)", file: file, line: line)
            }
        }
        try TestBackends.skipUnlessCrossChecked("this graph on OpenCL")
    }

    /// What the engine's dropout multiplies each element by, for a graph whose last node is the
    /// dropout and whose only parameters are one convolution before a ReLU: with the
    /// convolution's weights 0 and bias 1 the dropout's input is all ones, so its output is the
    /// scale itself. The node keeps its index (and so its seed) from the full graph.
    private func dropoutScales(_ probe: Graph, rate: Float, backend: any Backend, batch: Int,
                               seed: UInt64) throws -> [Double] {
        let store = try ParameterStore(graph: probe, backend: backend, seed: 0)
        var values: [String: [Float]] = [:]
        for entry in store.entries {
            values[entry.name] = [Float](repeating: entry.spec.name == "bias" ? 1 : 0, count: entry.spec.count)
        }
        try store.write(values)
        let plan = try Plan(graph: probe, parameters: store, batch: batch, training: true)
        // A finite input: 0 × NaN from uninitialized memory would be NaN, not 0.
        try backend.fill(plan.input, value: 0)
        try Executor(plan: plan).forward(training: true, seed: seed)
        let scales = try backend.download(plan.output, count: batch * probe.outputShape.count)
        let kept = 1 / (1 - Double(rate))
        // Anything but 0 or 1/(1 − rate) means the probe did not isolate the mask.
        XCTAssertTrue(scales.allSatisfy { $0 == 0 || abs(Double($0) - kept) < 1e-5 },
                      "dropout probe on \(backend.testName): \(scales)")
        XCTAssertTrue(scales.contains(0) && scales.contains { $0 != 0 }, "dropout kept all or nothing")
        return scales.map { $0 == 0 ? 0 : kept }
    }
}
