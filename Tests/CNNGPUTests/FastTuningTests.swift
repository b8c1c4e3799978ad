@testable import CNNGPU
import Foundation
import XCTest

/// Fast tuning's prior (`SolverRates`) and order: a solver that cannot come near the best time
/// even at the best rate it has shown is not run, the untuned pick is tried first, and the
/// generic solvers last.
final class FastTuningTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-gpu-fast-tuning-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func descriptor(channels: Int, size: Int = 8) throws -> Conv2DDescriptor {
        try Conv2DDescriptor(batch: 2, inChannels: channels, inH: size, inW: size, outChannels: channels, kernelH: 3,
                             kernelW: 3, padding: Padding2D(1))
    }

    /// The prediction scales the best rate seen to the new problem's arithmetic, per solver,
    /// direction and class of channel count; a solver never seen is never called hopeless.
    func testRatesPredictFromTheBestRateSeen() throws {
        let rates = SolverRates()
        let small = try descriptor(channels: 8), large = try descriptor(channels: 8, size: 16)   // 4× the arithmetic
        XCTAssertNil(rates.predictedMilliseconds(.direct, small, direction: .forward))
        XCTAssertFalse(rates.isHopeless(.direct, small, direction: .forward, bestMilliseconds: 1e-9))
        rates.record(.direct, small, direction: .forward, milliseconds: 2)
        rates.record(.direct, small, direction: .forward, milliseconds: 4)   // slower: the best rate stays
        rates.record(.direct, small, direction: .forward, milliseconds: .infinity)
        XCTAssertEqual(try XCTUnwrap(rates.predictedMilliseconds(.direct, large, direction: .forward)), 8, accuracy: 1e-9)
        XCTAssertNil(rates.predictedMilliseconds(.direct, large, direction: .backwardData))
        XCTAssertNil(rates.predictedMilliseconds(.implicitGEMM, large, direction: .forward))
        // Another class of channel count (1, 2–3, 4–7, 8–15, 16–31 … channels) learns apart.
        XCTAssertNotNil(rates.predictedMilliseconds(.direct, try descriptor(channels: 15), direction: .forward))
        XCTAssertNil(rates.predictedMilliseconds(.direct, try descriptor(channels: 16), direction: .forward))
        XCTAssertNil(rates.predictedMilliseconds(.direct, try descriptor(channels: 1), direction: .forward))
        // Hopeless only beyond pruneFactor × the best time so far.
        let edge = 8 / SolverRates.pruneFactor
        XCTAssertTrue(rates.isHopeless(.direct, large, direction: .forward, bestMilliseconds: edge * 0.99))
        XCTAssertFalse(rates.isHopeless(.direct, large, direction: .forward, bestMilliseconds: edge * 1.01))
        XCTAssertFalse(rates.isHopeless(.direct, large, direction: .forward, bestMilliseconds: .infinity))
    }

    /// With the prior, a candidate predicted far slower than the best so far is never run, and
    /// the winner's rate is recorded; without it, every candidate runs.
    func testTimingSkipsWhatThePriorCallsHopeless() throws {
        let backend = CPUBackend(threads: 1)
        let d = try descriptor(channels: 8)
        let key = ConvolutionProblemKey(d, direction: .forward)
        let quick = ConvolutionSolution(.implicitGEMM), slow = ConvolutionSolution(.direct)
        let delays: [ConvolutionAlgorithm: Double] = [.implicitGEMM: 0.001, .direct: 0.02]
        var trace: [String] = []
        func tune(rates: SolverRates?) throws -> (TunedChoice, [ConvolutionAlgorithm: Int]) {
            var runs: [ConvolutionAlgorithm: Int] = [:]
            trace = []
            let db = TuningDatabase(url: folder.appendingPathComponent("tuning-\(UUID().uuidString).json"))
            let choice = try ConvolutionTiming.fastest(key, candidates: [quick, slow], on: backend, database: db, runs: 3,
                                                       buildMilliseconds: 5000, interleaved: true, rates: rates,
                                                       trace: { trace.append($0) }, workspaceCount: { _ in 0 }) { s, _, _ in
                runs[s.algorithm, default: 0] += 1
                Thread.sleep(forTimeInterval: delays[s.algorithm]!)
            }
            return (choice, runs)
        }
        let (unpruned, allRuns) = try tune(rates: nil)
        XCTAssertEqual(unpruned.solver, ConvolutionAlgorithm.implicitGEMM.rawValue)
        XCTAssertGreaterThan(allRuns[.direct] ?? 0, 0)
        // --verbose's lines: each candidate's time, the winner marked.
        XCTAssertEqual(trace.count, 2, "\(trace)")
        XCTAssertTrue(trace.contains { $0.hasPrefix("implicitGEMM") && $0.hasSuffix("(chosen)") }, "\(trace)")
        XCTAssertTrue(trace.contains { $0.hasPrefix("direct") && $0.contains(" ms (first run ") && $0.hasSuffix(" ms)") },
                      "\(trace)")

        let rates = SolverRates()
        rates.record(.direct, d, direction: .forward, milliseconds: 20)   // as seen on an earlier problem
        let (choice, runs) = try tune(rates: rates)
        XCTAssertEqual(choice.solver, ConvolutionAlgorithm.implicitGEMM.rawValue)
        XCTAssertNil(runs[.direct], "the direct solver was predicted at 20 ms against ~1 ms and should not run")
        XCTAssertTrue(trace.contains { $0.hasPrefix("direct  skipped: 20.00 ms at the best rate") }, "\(trace)")
        XCTAssertEqual(runs[.implicitGEMM], 4)   // the warm-up and three timed runs
        XCTAssertNotNil(rates.predictedMilliseconds(.implicitGEMM, d, direction: .forward))
    }

    /// A warm-up that built nothing counts as a run: one over `hopelessFactor` times the best so
    /// far ends its candidate without a timed run. One that built (a new kernel), or whose builds
    /// the backend cannot see, is timed as before.
    func testWarmUpThatBuiltNothingJudgesItsCandidate() throws {
        let backend = CPUBackend(threads: 1)
        let key = ConvolutionProblemKey(try descriptor(channels: 8), direction: .forward)
        let quick = ConvolutionSolution(.implicitGEMM), slow = ConvolutionSolution(.direct)
        let delays: [ConvolutionAlgorithm: Double] = [.implicitGEMM: 0.001, .direct: 0.02]
        func tune(kernels: @escaping (ConvolutionSolution) -> Int?) throws -> ([ConvolutionAlgorithm: Int], [String]) {
            var runs: [ConvolutionAlgorithm: Int] = [:], trace: [String] = []
            let db = TuningDatabase(url: folder.appendingPathComponent("tuning-\(UUID().uuidString).json"))
            _ = try ConvolutionTiming.fastest(key, candidates: [quick, slow], on: backend, database: db, runs: 3,
                                              buildMilliseconds: 5000, interleaved: true, builtKernels: kernels,
                                              trace: { trace.append($0) }, workspaceCount: { _ in 0 }) { s, _, _ in
                runs[s.algorithm, default: 0] += 1
                Thread.sleep(forTimeInterval: delays[s.algorithm]!)
            }
            return (runs, trace)
        }
        // Nothing built: the direct solver's warm-up (20 ms against ~1) is its only run.
        let (runs, trace) = try tune(kernels: { _ in 7 })
        XCTAssertEqual(runs[.direct], 1)
        XCTAssertTrue(trace.contains { $0.hasPrefix("direct  abandoned: its first run, building nothing, took ") }, "\(trace)")
        // Its warm-up built a kernel (the count moved), or its builds are not visible: timed once more.
        var count = 0
        let (built, _) = try tune(kernels: { s in
            if s.algorithm == .direct { count += 1 }
            return count
        })
        XCTAssertEqual(built[.direct], 2)
        let (unseen, _) = try tune(kernels: { s in s.algorithm == .direct ? nil : 7 })
        XCTAssertEqual(unseen[.direct], 2)
    }

    /// The prior outlives the process: what one tune taught is in the database, and a later
    /// process (another model, another batch size) starts with it, unless the kernels it was
    /// measured with changed.
    func testRatesPersistInTheDatabaseUnderTheKernelsStamp() throws {
        let backend = CPUBackend(threads: 1)
        let url = folder.appendingPathComponent("tuning.json")
        let quick = ConvolutionSolution(.implicitGEMM), slow = ConvolutionSolution(.direct)
        let delays: [ConvolutionAlgorithm: Double] = [.implicitGEMM: 0.001, .direct: 0.02]
        func tune(_ d: Conv2DDescriptor, stamp: String) throws -> [ConvolutionAlgorithm: Int] {
            var runs: [ConvolutionAlgorithm: Int] = [:]
            // A new database object and new rates, as a new process has.
            _ = try ConvolutionTiming.fastest(ConvolutionProblemKey(d, direction: .forward), candidates: [quick, slow],
                                              on: backend, database: TuningDatabase(url: url), runs: 2,
                                              buildMilliseconds: 5000, interleaved: true, rates: SolverRates(stamp: stamp),
                                              workspaceCount: { _ in 0 }) { s, _, _ in
                runs[s.algorithm, default: 0] += 1
                Thread.sleep(forTimeInterval: delays[s.algorithm]!)
            }
            return runs
        }
        XCTAssertGreaterThan(try tune(try descriptor(channels: 8), stamp: "kernels A")[.direct] ?? 0, 0, "no prior yet")
        let stored = TuningDatabase(url: url).solverRates(device: backend.info, stamp: "kernels A")
        XCTAssertNotNil(stored["direct/forward/3"], "\(stored)")
        XCTAssertNotNil(stored["implicitGEMM/forward/3"], "\(stored)")
        XCTAssertTrue(TuningDatabase(url: url).solverRates(device: backend.info, stamp: "kernels B").isEmpty)
        // Another problem of the same channel class, in a "new process": the stored rate skips it.
        let other = try descriptor(channels: 12)
        XCTAssertNil(try tune(other, stamp: "kernels A")[.direct])
        // Kernels changed: the old rates are not used, and the new ones replace them.
        XCTAssertGreaterThan(try tune(try descriptor(channels: 9), stamp: "kernels B")[.direct] ?? 0, 0)
        XCTAssertTrue(TuningDatabase(url: url).solverRates(device: backend.info, stamp: "kernels A").isEmpty)
        XCTAssertFalse(TuningDatabase(url: url).solverRates(device: backend.info, stamp: "kernels B").isEmpty)
    }

    /// A database written before the rates were kept reads as before: choices, no rates.
    func testDatabaseWithoutRatesStillReads() throws {
        let url = folder.appendingPathComponent("old.json")
        let choice = #"{"milliseconds": 1.5, "parameters": {}, "solver": "direct"}"#
        let key = "forward n1-c1-h4-w4-k1-r3-s3 pad1,1,1,1 stride1x1 dil1x1 g1 float32"
        let info = CPUBackend(threads: 1).info
        let text = #"{"version": 2, "devices": {"\#(TuningDatabase.deviceKey(info))": {"\#(key)": \#(choice)}}}"#
        try Data(text.utf8).write(to: url)
        let db = TuningDatabase(url: url)
        XCTAssertEqual(db.choice(device: info, problem: key)?.solver, "direct")
        XCTAssertTrue(db.solverRates(device: info, stamp: "").isEmpty)
    }

    /// Fast tuning tries the untuned choice first and the generic direct and im2col + CLBlast
    /// solvers last, each solver once.
    func testFastOrderPutsTheUntunedPickFirstAndTheGenericSolversLast() throws {
        let cl = try TestBackends.requireOpenCL()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 64, inH: 14, inW: 14, outChannels: 64, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        for direction in ConvolutionDirection.allCases {
            var seen = Set<ConvolutionAlgorithm>()
            let each = cl.convolutionCandidates(d, direction: direction)
                .map { ConvolutionSolution($0.solver, parameters: $0.parameters) }
                .filter { seen.insert($0.algorithm).inserted }
            let order = cl.fastTuningOrder(each, d, direction: direction).map(\.algorithm)
            XCTAssertEqual(Set(order), Set(each.map(\.algorithm)))
            XCTAssertEqual(order.count, each.count)
            let pick = try XCTUnwrap(cl.convolutionSolutions(for: d, direction: direction).first).algorithm
            XCTAssertEqual(order.first, pick, "\(direction)")
            let generic: Set<ConvolutionAlgorithm> = [.direct, .im2colGEMM]
            if !generic.contains(pick) {
                XCTAssertEqual(Set(order.suffix(2)), generic, "\(direction): \(order)")
            }
        }
    }

    /// On a CPU device (PoCL), or where CLBlast has no parameters and no search is remembered,
    /// fast tuning leaves the solvers on CLBlast out and says why; full tuning times them.
    func testFastTuningLeavesOutCLBlastWhereItCannotWin() throws {
        let cl = try TestBackends.requireOpenCL()
        let db = TuningDatabase(url: folder.appendingPathComponent("tuning.json"))
        let d = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 6, inW: 6, outChannels: 8, kernelH: 1, kernelW: 1)
        var lines: [String] = []
        let choice = try cl.tuneConvolution(d, direction: .forward, database: db, runs: 1, exhaustive: false,
                                            trace: { lines.append($0) })
        let onCLBlast = ["im2colGEMM", "conv1x1CLBlast"]
        let reason = cl.fastTuningLeavesOutCLBlast(db)
        XCTAssertEqual(reason != nil, cl.info.kind == .cpu || cl.clblastRunsGeneric(db))
        if let reason {
            XCTAssertFalse(onCLBlast.contains(choice.solver))
            for name in onCLBlast {
                XCTAssertTrue(lines.contains { $0 == name + "  skipped: " + reason }, "\(lines)")
            }
        } else {
            XCTAssertFalse(lines.contains { $0.contains("CLBlast") }, "\(lines)")
        }
        // Winograd F(2×2,3×3) runs its 16 GEMMs on CLBlast too.
        lines = []
        let d3 = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 6, inW: 6, outChannels: 8, kernelH: 3, kernelW: 3,
                                      padding: Padding2D(1))
        let choice3 = try cl.tuneConvolution(d3, direction: .forward, database: db, runs: 1, exhaustive: false,
                                             trace: { lines.append($0) })
        if let reason {
            XCTAssertNotEqual(choice3.solver, "winogradF2x3")
            XCTAssertTrue(lines.contains { $0 == "winogradF2x3  skipped: " + reason }, "\(lines)")
        }
        lines = []
        _ = try cl.tuneConvolution(d, direction: .forward, database: db, retune: true, runs: 1, exhaustive: true,
                                   trace: { lines.append($0) })
        for name in onCLBlast {
            XCTAssertTrue(lines.contains { $0.hasPrefix(name) && !$0.contains("skipped") }, "full tuning times \(name): \(lines)")
        }
    }
}
