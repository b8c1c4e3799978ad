@testable import CNNGPU
import XCTest

final class PlannerTests: XCTestCase {
    func testMemoryPlannerNeverSharesABufferBetweenLiveTensors() {
        var g = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        for _ in 0..<50 {
            let requests = (0..<40).map { _ -> MemoryPlanner.Request in
                let a = Int(g.next() % 60), b = Int(g.next() % 60)
                return .init(count: 1 + Int(g.next() % 1000), dtype: g.next() % 5 == 0 ? .int32 : .float32,
                             first: min(a, b), last: max(a, b))
            }
            let plan = MemoryPlanner.assign(requests)
            for i in requests.indices {
                let b = plan.buffer[i]
                XCTAssertGreaterThanOrEqual(plan.buffers[b].count, requests[i].count)
                XCTAssertEqual(plan.buffers[b].dtype, requests[i].dtype)
                for j in requests.indices where j != i && plan.buffer[j] == b {
                    XCTAssertTrue(requests[i].last < requests[j].first || requests[j].last < requests[i].first,
                                  "tensors \(i) and \(j) overlap in buffer \(b)")
                }
            }
            XCTAssertLessThanOrEqual(plan.bytes, requests.reduce(0) { $0 + $1.count * 4 })
        }
    }

    func testPlannedBytesAreWhatIsAllocatedAndLessThanUnshared() throws {
        let graph = try ModelZoo.build("lenet5")
        for backend in TestBackends.all {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
            let plan = try Plan(graph: graph, parameters: store, batch: 32, training: true)
            XCTAssertLessThan(plan.plannedActivationBytes, plan.unsharedActivationBytes)
            XCTAssertEqual(plan.plannedActivationBytes, try Plan.estimateActivationBytes(graph: graph, batch: 32, training: true, backend: backend))
            // ReLUs run in place on their producers' outputs.
            let relu = graph.nodes.firstIndex { $0.name == "relu1" }!
            XCTAssertTrue(plan.activations[relu] === plan.activations[relu - 1])
            XCTAssertEqual(store.parameterCount, 61_706)
        }
    }

    func testStepThatDoesNotFitSuggestsABatchSize() throws {
        let graph = try ModelZoo.build("lenet5")
        let backend = try XCTUnwrap(TestBackends.all.first)
        let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
        let message = assertThrowsCNNError({ _ = try Plan(graph: graph, parameters: store, batch: 20_000_000, training: true) })
        XCTAssertTrue(message?.contains("A batch size of") ?? false, message ?? "")
    }
}
