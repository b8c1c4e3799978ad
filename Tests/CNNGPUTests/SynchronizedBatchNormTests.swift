@testable import CNNGPU
import Foundation
import XCTest

/// Synchronized batch norm without MPI: alone it equals the backends' batch norm, and two
/// "ranks" (two plans on two threads, summing through a rendezvous) at batch 4 each, with
/// their gradients averaged, equal one plan at batch 8.
final class SynchronizedBatchNormTests: XCTestCase {
    /// conv → batch norm + ReLU (fused), a residual add, batch norm alone, a dense head.
    func residualGraph() throws -> Graph {
        let b = GraphBuilder(input: [3, 8, 8])
        let stem = b.add(ReLU(), b.add(Conv2D(4, kernel: 3, padding: .same), b.input))
        let branch = b.add(ReLU(), b.add(BatchNorm(), b.add(Conv2D(4, kernel: 3, padding: .same, bias: false), stem)))
        let joined = b.add(BatchNorm(), b.add(Add(), stem, branch))
        return try b.build(output: b.add(Dense(5), b.add(Flatten(), b.add(MaxPool2D(2), joined))))
    }

    struct StepResult {
        var loss: Float
        var gradients: [Float]
        /// Running means and variances after the step, by name.
        var running: [String: [Float]]
    }

    func step(_ graph: Graph, on backend: any Backend, sync: CrossRankSum?, x: ArraySlice<Float>, labels: ArraySlice<Int32>,
              batch: Int) throws -> StepResult {
        let store = try ParameterStore(graph: graph, backend: backend, seed: 5)
        let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training, options: PlanOptions(batchNormSync: sync))
        try backend.upload(Array(x), to: plan.input)
        try backend.uploadInt32(Array(labels), to: plan.targets!)
        let executor = Executor(plan: plan)
        try executor.forward(training: true, seed: 1)
        try executor.lossAndMetrics()
        try executor.backward()
        let loss = try executor.readLossAndCorrect().loss
        let running = try store.read().filter { $0.key.hasSuffix("running_mean") || $0.key.hasSuffix("running_var") }
        return StepResult(loss: loss, gradients: try backend.download(store.gradients), running: running)
    }

    func input(batch: Int) -> (x: [Float], labels: [Int32]) {
        var g = SplitMix64(seed: 21)
        let x = (0..<batch * 3 * 64).map { _ in Float(g.next() % 2001) / 1000 - 1 + 0.5 }   // mean ≠ 0
        let labels = (0..<batch).map { _ in Int32(g.next() % 5) }
        return (x, labels)
    }

    func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 1, 1e-3)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(what): differs by \(worst) (largest value \(scale))", file: file, line: line)
    }

    func testAloneItEqualsTheBackendsBatchNorm() throws {
        let graph = try residualGraph()
        let (x, labels) = input(batch: 6)
        for backend in TestBackends.all {
            let plain = try step(graph, on: backend, sync: nil, x: x[...], labels: labels[...], batch: 6)
            let alone = try step(graph, on: backend, sync: CrossRankSum { $0 }, x: x[...], labels: labels[...], batch: 6)
            let name = backend.info.backend
            XCTAssertEqual(alone.loss, plain.loss, accuracy: 1e-5, name)
            assertClose(alone.gradients, plain.gradients, tolerance: 1e-4, "\(name) gradients")
            for (key, value) in plain.running { assertClose(alone.running[key]!, value, tolerance: 1e-5, "\(name) \(key)") }
        }
    }

    func testTwoRanksAtHalfTheBatchEqualOneProcess() throws {
        let graph = try residualGraph()
        let (x, labels) = input(batch: 8)
        let whole = try step(graph, on: TestBackends.cpu, sync: nil, x: x[...], labels: labels[...], batch: 8)
        let rendezvous = Rendezvous(parties: 2)
        let sum = CrossRankSum { rendezvous.sum($0) }
        /// What each rank's thread ended with (written under the lock).
        final class Outcomes: @unchecked Sendable {
            let lock = NSLock()
            var results: [StepResult?] = [nil, nil]
            var errors: [Error?] = [nil, nil]
        }
        let outcomes = Outcomes()
        let done = DispatchGroup()
        for rank in 0..<2 {
            done.enter()
            Thread {
                let share = 3 * 64 * 4
                do {
                    let r = try self.step(graph, on: CPUBackend(), sync: sum, x: x[(rank * share)..<((rank + 1) * share)],
                                          labels: labels[(rank * 4)..<((rank + 1) * 4)], batch: 4)
                    outcomes.lock.lock(); outcomes.results[rank] = r; outcomes.lock.unlock()
                } catch {
                    outcomes.lock.lock(); outcomes.errors[rank] = error; outcomes.lock.unlock()
                }
                done.leave()
            }.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the two ranks did not finish")
        XCTAssertNil(outcomes.errors[0] ?? outcomes.errors[1])
        guard let r0 = outcomes.results[0], let r1 = outcomes.results[1] else { return XCTFail("a rank returned nothing") }
        // Each rank's loss is its half's mean; the gradients are averaged as MPI would.
        XCTAssertEqual((r0.loss + r1.loss) / 2, whole.loss, accuracy: 1e-5)
        assertClose(zip(r0.gradients, r1.gradients).map { ($0 + $1) / 2 }, whole.gradients, tolerance: 1e-4, "averaged gradients")
        for (key, value) in whole.running {
            assertClose(r0.running[key]!, value, tolerance: 1e-5, "rank 0 \(key)")
            assertClose(r1.running[key]!, value, tolerance: 1e-5, "rank 1 \(key)")
        }
        // Without synchronization the halves' statistics differ: the test can tell.
        let unsynchronized = try step(graph, on: TestBackends.cpu, sync: nil, x: x[0..<(3 * 64 * 4)], labels: labels[0..<4], batch: 4)
        XCTAssertNotEqual(unsynchronized.running.values.first, whole.running.values.first)
    }
}

/// Sums arrays across `parties` threads: each call returns once every party has called, with
/// the same totals for all.
final class Rendezvous: @unchecked Sendable {
    let parties: Int
    private let condition = NSCondition()
    private var total: [Double] = []
    private var arrived = 0
    private var generation = 0
    private var result: [Double] = []

    init(parties: Int) { self.parties = parties }

    func sum(_ values: [Double]) -> [Double] {
        condition.lock(); defer { condition.unlock() }
        let mine = generation
        total = arrived == 0 ? values : zip(total, values).map { $0 + $1 }
        arrived += 1
        if arrived == parties {
            result = total; arrived = 0; generation += 1
            condition.broadcast()
            return result
        }
        while generation == mine { condition.wait() }
        return result
    }
}
