@testable import CNNGPU
import XCTest

/// conv → ReLU → max-pool with ReLU's backward folded into the pool's (`Pool2DDescriptor.
/// masksNonPositiveWinners`): the op against the unfused pair (pool backward, then ReLU
/// backward) and the Double reference on every backend, and the compiled plan with the fold
/// against the plan without fusion, its input gradient against finite differences.
final class FusedReLUMaxPoolTests: XCTestCase {
    func testMaskedPoolingMatchesPoolThenReLUBackward() throws {
        var rng = SeededGenerator.fresh()
        // LeNet's 2×2/2 planes (the CPU's small-plane path), an odd plane, overlapping padded
        // 3×3/2 windows (several outputs share a winner), a plane wider than 32, and GoogLeNet's
        // 3×3/1 pool branches (the CPU's backward gather: up to 9 windows a pixel, winners −1).
        let shapes: [(h: Int, w: Int, window: Int, stride: Int, pad: Padding2D)] = [
            (28, 28, 2, 2, .zero), (10, 10, 2, 2, .zero), (7, 9, 2, 2, .zero), (9, 13, 3, 2, Padding2D(1)),
            (6, 40, 2, 2, .zero), (14, 14, 3, 1, Padding2D(1)), (9, 20, 3, 1, Padding2D(1)),
        ]
        for s in shapes {
            var d = try Pool2DDescriptor(batch: 2, channels: 5, inH: s.h, inW: s.w, windowH: s.window, windowW: s.window,
                                         strideH: s.stride, strideW: s.stride, padding: s.pad, mode: .max)
            // A ReLU's output: about half zeros, so many windows are all zero.
            let x = rng.floats(d.inputCount, in: -1...1).map { max($0, 0) }
            let dy = rng.floats(d.outputCount)
            let (expected, expectedIndices) = PoolingReference.forward(d, x.doubles)
            let expectedDx = zip(PoolingReference.backward(d, dy: dy.doubles, indices: expectedIndices), x).map { $1 > 0 ? $0 : 0 }
            var masked = d
            masked.masksNonPositiveWinners = true
            for b in TestBackends.conforming((any Backend).self) {
                let label = "\(b.testName) \(s) seed \(rng.seed)"
                let X = try b.makeBuffer(x), DY = try b.makeBuffer(dy)
                let y = try b.allocate(d.outputCount, dtype: .float32), idx = try b.allocate(d.outputCount, dtype: .int32)
                try b.poolingForward(masked, x: X, y: y, indices: idx)
                XCTAssertEqual(try b.download(y), expected.map(Float.init), label)
                let maskedIndices = zip(expectedIndices, expected).map { $1 > 0 ? $0 : -1 }
                XCTAssertEqual(try b.downloadInt32(idx), maskedIndices, "indices \(label)")
                let dx = try b.allocate(d.inputCount, dtype: .float32)
                try b.poolingBackward(masked, dy: DY, indices: idx, dx: dx)
                let fused = try b.download(dx)
                // Overlapping windows add several gradients in Float.
                assertClose(fused, expectedDx, tolerance: 1e-6, "dx \(label)")

                // The unfused pair on the same backend.
                let plainIndices = try b.allocate(d.outputCount, dtype: .int32), pooled = try b.allocate(d.inputCount, dtype: .float32)
                try b.poolingForward(d, x: X, y: y, indices: plainIndices)
                try b.poolingBackward(d, dy: DY, indices: plainIndices, dx: pooled)
                let relu = try b.allocate(d.inputCount, dtype: .float32)
                try b.activationBackward(.relu, count: d.inputCount, x: X, y: X, dy: pooled, dx: relu)
                XCTAssertEqual(fused, try b.download(relu), "unfused pair \(label)")
            }
            d.masksNonPositiveWinners = false
        }
    }

    func testAverageAndMaskedWinnersIsRejected() {
        XCTAssertThrowsError(try Pool2DDescriptor(batch: 1, channels: 1, inH: 4, inW: 4, windowH: 2, windowW: 2, strideH: 2,
                                                  strideW: 2, mode: .averageIncludingPadding, masksNonPositiveWinners: true))
    }

    /// LeNet's shape in small: conv+ReLU → 2×2 max-pool twice, then a ReLU the pool cannot take
    /// over (Dense+ReLU → Dense).
    func lenetLikeGraph() throws -> Graph {
        try Sequential(input: [2, 12, 12]) {
            Conv2D(4, kernel: 3, padding: .same); ReLU(); MaxPool2D(2)
            Conv2D(6, kernel: 3); ReLU(); MaxPool2D(3, stride: 2, padding: .explicit(Padding2D(1)))
            Flatten(); Dense(7); ReLU(); Dense(5)
        }
    }

    func testPlanFoldsReLUBackwardIntoMaxPoolAndMatchesUnfused() throws {
        let graph = try lenetLikeGraph()
        var rng = SeededGenerator.fresh()
        let batch = 3
        let x = rng.floats(batch * 288), labels = rng.ints(batch, below: 5)
        for backend in TestBackends.all.compactMap({ $0 as? any Backend }) {
            func step(fusion: Bool) throws -> (loss: Float, gradients: [Float], kinds: [String]) {
                let store = try ParameterStore(graph: graph, backend: backend, seed: 7)
                let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training,
                                    options: PlanOptions(fusion: fusion))
                let executor = Executor(plan: plan)
                try backend.upload(x, to: plan.input)
                try backend.uploadInt32(labels, to: plan.targets!)
                try executor.forward(training: true, seed: 1)
                try executor.lossAndMetrics()
                try executor.backward()
                return (try executor.readLossAndCorrect().loss, try backend.download(store.gradients), plan.ops.map(\.kind))
            }
            let fused = try step(fusion: true), plain = try step(fusion: false)
            let name = "\(backend.testName), seed \(rng.seed)"
            XCTAssertEqual(fused.loss, plain.loss, accuracy: 1e-5, name)
            assertClose(fused.gradients, plain.gradients, tolerance: 1e-5, "gradients, \(name)")
            XCTAssertEqual(fused.kinds.filter { $0 == "maxpool+relu backward" }.count, 2, "\(fused.kinds)")
            XCTAssertEqual(fused.kinds.filter { $0 == "relu backward" }.count, 1, "the dense ReLU keeps its op: \(fused.kinds)")
            XCTAssertEqual(plain.kinds.filter { $0 == "relu backward" }.count, 3, "\(plain.kinds)")
            XCTAssertFalse(plain.kinds.contains("maxpool+relu backward"), "\(plain.kinds)")
        }
    }

    func testFoldedPlanInputGradientMatchesFiniteDifferences() throws {
        let graph = try lenetLikeGraph()
        var rng = SeededGenerator.fresh()
        let batch = 2
        let x = rng.floats(batch * 288), labels = rng.ints(batch, below: 5)
        for backend in TestBackends.all.compactMap({ $0 as? any Backend }) {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 4)
            let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training,
                                options: PlanOptions(inputGradient: true))
            XCTAssert(plan.ops.contains { $0.kind == "maxpool+relu backward" }, "\(plan.ops.map(\.kind))")
            let executor = Executor(plan: plan)
            try backend.upload(x, to: plan.input)
            try backend.uploadInt32(labels, to: plan.targets!)
            try executor.forward(training: true)
            try executor.lossAndMetrics()
            try executor.backward()
            let dx = try backend.download(XCTUnwrap(plan.inputGradient), count: x.count)
            // Central differences of the Double reference (see CompiledPlanTests for the step).
            let reference = GraphReference(graph: graph, batch: batch, training: true)
            let parameters = try store.read().mapValues { $0.doubles }
            let input = x.doubles
            let sampled = Array((0..<x.count).shuffled(using: &rng).prefix(6))
            let expected = finiteDifferenceGradient(at: sampled.map { input[$0] }, weights: [1], step: 1e-7) { values in
                var changed = input
                for (k, v) in zip(sampled, values) { changed[k] = v }
                return [reference.loss(changed, parameters: parameters, labels: labels)]
            }
            for (k, want) in zip(sampled, expected) {
                XCTAssertEqual(Double(dx[k]), want, accuracy: 1e-3 + 0.02 * abs(want), "dx[\(k)], \(backend.testName), seed \(rng.seed)")
            }
        }
    }
}
