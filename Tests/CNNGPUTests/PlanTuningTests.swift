@testable import CNNGPU
import Foundation
import XCTest

/// `--tune`: compiling a plan times the solvers, remembers the winners, and the compiled ops
/// use them; results stay within the usual tolerance of the untuned plan.
final class PlanTuningTests: XCTestCase {
    var folder: URL!
    var saved: TuningDatabase!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-tune-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        saved = ConvolutionChoice.database
        ConvolutionChoice.database = TuningDatabase(url: folder.appendingPathComponent("tuning.json"))
    }

    override func tearDownWithError() throws {
        ConvolutionChoice.database = saved
        try? FileManager.default.removeItem(at: folder)
    }

    func testTunedPlanUsesRememberedChoicesAndComputesTheSame() throws {
        try checkTunedPlan(on: try TestBackends.requireOpenCL())
    }

    func testTunedCPUPlanUsesRememberedChoicesAndComputesTheSame() throws {
        try checkTunedPlan(on: CPUBackend())
    }

    private func checkTunedPlan(on backend: any Backend) throws {
        let graph = try Sequential(input: [3, 12, 12]) {
            Conv2D(16, kernel: 3, padding: .same); ReLU(); Conv2D(16, kernel: 1); ReLU(); Flatten(); Dense(4)
        }
        var rng = SeededGenerator.fresh()
        let batch = 2
        let x = rng.floats(batch * 432), labels = rng.ints(batch, below: 4)
        var results: [(Float, [Float])] = []
        for tuning in [TuningMode.off, .fast] {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 3)
            let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training, options: PlanOptions(tuning: tuning))
            if tuning == .fast {
                // Every convolution problem of the step is now remembered, and the ops run the remembered solver.
                for op in plan.ops where op.kind.hasPrefix("conv2d") {
                    XCTAssertFalse(op.algorithm.isEmpty)
                }
                let d = try Conv2DDescriptor(batch: batch, inChannels: 3, inH: 12, inW: 12, outChannels: 16, kernelH: 3, kernelW: 3,
                                             padding: Padding2D(1))
                for direction in ConvolutionDirection.allCases {
                    let choice = try XCTUnwrap(ConvolutionChoice.database.choice(device: backend.info, problem: ConvolutionProblemKey(d, direction: direction)))
                    let used = try ConvolutionChoice.solution(for: d, direction: direction, backend: backend)
                    XCTAssertEqual(used.algorithm.rawValue, choice.solver, "\(direction)")
                    XCTAssertTrue(ConvolutionChoice.isTuned(used, d, direction: direction, backend: backend))
                }
            }
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(), parameters: store))
            let loss = try step.run(images: x, labels: labels, learningRate: 0.1, seed: 0).loss
            results.append((loss, try backend.download(store.weights)))
        }
        XCTAssertEqual(results[0].0, results[1].0, accuracy: 1e-4, "seed \(rng.seed)")
        assertClose(results[1].1, results[0].1, tolerance: 1e-4, "weights after a tuned step, seed \(rng.seed)")
    }

    /// On an OpenCL CPU device fully connected layers run as tuned 1×1 convolutions on 1×1
    /// images (`runsDenseLayersAsConvolutions`): their ops are convolutions, fast tuning times
    /// them with the convolutions and searches no CLBlast GEMM, and a training step computes
    /// what the CPU backend's GEMMs compute. Under the GPU policy they stay GEMMs.
    func testDenseLayersRunAsTunedConvolutionsOnOpenCLCPUDevices() throws {
        let cl = try TestBackends.requireOpenCL()
        guard cl.runsDenseLayersAsConvolutions else { throw XCTSkip("\(cl.info.name) runs dense layers as GEMMs") }
        XCTAssertFalse(try OpenCLBackend(device: cl.device, policy: .gpu).runsDenseLayersAsConvolutions)
        XCTAssertFalse(CPUBackend().runsDenseLayersAsConvolutions)
        let graph = try Sequential(input: [5, 3, 3]) { Flatten(); Dense(7); ReLU(); Dense(3, bias: false) }
        var rng = SeededGenerator.fresh()
        let batch = 3
        let x = rng.floats(batch * 45), labels = rng.ints(batch, below: 3)
        var results: [(Float, [String: [Float]])] = []
        for backend in [cl, CPUBackend()] as [any Backend] {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 5)
            let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training, options: PlanOptions(tuning: .fast))
            if backend is OpenCLBackend {
                let kinds = plan.ops.filter { $0.name.hasPrefix("dense") }.map(\.kind)
                XCTAssertGreaterThanOrEqual(kinds.filter { $0.hasPrefix("conv2d") }.count, 5, "\(kinds)")
                XCTAssert(kinds.allSatisfy { $0.hasPrefix("conv2d") || $0.hasPrefix("bias") }, "\(kinds)")
                for (n, units) in [(45, 7), (7, 3)] {
                    let d = try Conv2DDescriptor(batch: batch, inChannels: n, inH: 1, inW: 1, outChannels: units,
                                                 kernelH: 1, kernelW: 1)
                    for direction in ConvolutionDirection.allCases {
                        XCTAssertNotNil(ConvolutionChoice.database.choice(device: cl.info, problem: ConvolutionProblemKey(d, direction: direction)),
                                        "\(n)→\(units) \(direction)")
                    }
                }
                XCTAssertNil(ConvolutionChoice.database.choice(device: cl.info, problem: OpenCLBackend.clblastGEMMProblem),
                             "fast tuning searched CLBlast's GEMM for dense layers that run as convolutions")
            }
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(), parameters: store))
            let loss = try step.run(images: x, labels: labels, learningRate: 0.1, seed: 0).loss
            results.append((loss, try store.read()))
        }
        XCTAssertEqual(results[0].0, results[1].0, accuracy: 1e-4, "seed \(rng.seed)")
        XCTAssertEqual(Set(results[0].1.keys), Set(results[1].1.keys))
        for (name, values) in results[1].1 {
            assertClose(results[0].1[name] ?? [], values, tolerance: 1e-4, "\(name) after a step, seed \(rng.seed)")
        }
    }

    func testTuneCommandPrintsItsChoicesAndRefusesBadInput() throws {
        _ = try TestBackends.requireOpenCL()
        // Restored after, so later tests of this process keep the caller's cache folder.
        let saved = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"]
        setenv("XDG_CACHE_HOME", folder.path, 1)
        defer { if let saved { setenv("XDG_CACHE_HOME", saved, 1) } else { unsetenv("XDG_CACHE_HOME") } }
        let (status, output) = try runCLI(["tune", "lenet5", "--device", "opencl", "--batch-size", "4"])
        XCTAssertEqual(status, 0, output)
        XCTAssert(output.contains("conv1") && output.contains("backwardFilter"), output)
        XCTAssert(output.contains(folder.appendingPathComponent("cnn-gpu/tuning.json").path), output)
        XCTAssert(FileManager.default.fileExists(atPath: folder.appendingPathComponent("cnn-gpu/tuning.json").path))
        // The CPU backend times its own solutions (oneDNN's layouts, its loops, im2col + GEMM).
        let cpu = try runCLI(["tune", "lenet5", "--device", "cpu"])
        XCTAssertEqual(cpu.status, 0, cpu.output)
        XCTAssert(cpu.output.contains("conv2") && cpu.output.contains("backwardData")
                  && cpu.output.contains("tuned 6 problems"), cpu.output)
        // Without -b it tunes train's default batch, so a following `train lenet5` reuses the choices.
        XCTAssert(cpu.output.contains("batch 64"), cpu.output)
        for bad in [["tune", "lenet5", "--mode", "off"], ["tune", "nonet"], ["tune", "lenet5", "--batch-size", "0"]] {
            let r = try runCLI(bad)
            XCTAssertNotEqual(r.status, 0, "\(bad): \(r.output)")
            XCTAssertFalse(r.output.isEmpty)
        }
    }
}
