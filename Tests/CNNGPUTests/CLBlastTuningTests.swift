@testable import CNNGPU
import Foundation
import XCTest

/// CLBlast's SGEMM parameters tuned where its database has nothing for the device
/// (Backends/OpenCL/CLBlastTuning.swift): the tables are complete and consistent, the search
/// remembers an Xgemm set that computes correctly and a switching size to XgemmDirect, a
/// remembered choice is reused without timing, and a backend opened later applies it.
final class CLBlastTuningTests: XCTestCase {
    /// Every set names all of Xgemm's parameters, and the GEMMK = 0 sets meet the constraints
    /// CLBlast's own tuner puts on them (tiles made of whole work-groups of whole vectors, the
    /// k tile a multiple of the loads per work-item).
    func testTableIsCompleteAndConsistent() {
        let table = KernelTunables.clblastXgemm
        XCTAssertFalse(table.isEmpty)
        for p in table {
            XCTAssertEqual(Set(p.keys), Set(KernelTunables.clblastXgemmNames), "\(p)")
            guard p["GEMMK"] == 0 else { continue }
            let (mwg, nwg, kwg) = (p["MWG"]!, p["NWG"]!, p["KWG"]!)
            let (mdimc, ndimc, mdima, ndimb) = (p["MDIMC"]!, p["NDIMC"]!, p["MDIMA"]!, p["NDIMB"]!)
            XCTAssertEqual(mwg % (mdimc * p["VWM"]!), 0, "\(p)")
            XCTAssertEqual(nwg % (ndimc * p["VWN"]!), 0, "\(p)")
            XCTAssertEqual(mwg % (mdima * p["VWM"]!), 0, "\(p)")
            XCTAssertEqual(nwg % (ndimb * p["VWN"]!), 0, "\(p)")
            XCTAssertEqual(kwg % (mdimc * ndimc / mdima), 0, "\(p)")
            XCTAssertEqual(kwg % (mdimc * ndimc / ndimb), 0, "\(p)")
            XCTAssertEqual(kwg % p["KWI"]!, 0, "\(p)")
            XCTAssertEqual(p["KREG"], 1, "\(p)")
        }
        // Fast tuning's CPU sets: the generic default first (what runs untuned), then sets of the table.
        let fast = KernelTunables.clblastXgemmFastCPU
        XCTAssertEqual(fast.first, table.first)
        XCTAssertTrue(fast.count < table.count && fast.allSatisfy(table.contains), "\(fast)")
    }

    /// XgemmDirect's sets meet its tuner's constraints (the tile made of whole work-groups and
    /// whole vectors, the reshaped load tiles dividing it), and a choice made of table sets
    /// and a switching size of the list reads back.
    func testDirectTableIsCompleteAndConsistent() {
        let table = KernelTunables.clblastXgemmDirect
        XCTAssertFalse(table.isEmpty)
        for p in table {
            XCTAssertEqual(Set(p.keys), Set(KernelTunables.clblastXgemmDirectNames), "\(p)")
            let (wgd, mdimcd, ndimcd, mdimad, ndimbd) = (p["WGD"]!, p["MDIMCD"]!, p["NDIMCD"]!, p["MDIMAD"]!, p["NDIMBD"]!)
            for divisor in [mdimcd, ndimcd, mdimad, ndimbd, p["KWID"]!] { XCTAssertEqual(wgd % divisor, 0, "\(p)") }
            XCTAssertEqual(mdimcd * ndimcd % mdimad, 0, "\(p)")
            XCTAssertEqual(mdimcd * ndimcd % ndimbd, 0, "\(p)")
            XCTAssertEqual(wgd % (mdimcd * ndimcd / mdimad), 0, "\(p)")
            XCTAssertEqual(wgd % (mdimcd * ndimcd / ndimbd), 0, "\(p)")
            XCTAssertEqual(wgd / mdimcd % p["VWMD"]!, 0, "\(p)")
            XCTAssertEqual(wgd / ndimcd % p["VWND"]!, 0, "\(p)")
        }
        XCTAssertNotNil(CLBlastGEMMChoice(CLBlastGEMMChoice(xgemm: KernelTunables.clblastXgemm[1],
                                                            xgemmDirect: KernelTunables.clblastXgemmDirect[0],
                                                            indirectFrom: 256).parameters))
    }

    func testSearchRemembersACorrectSetAndABackendOpenedLaterAppliesIt() throws {
        let cl = try TestBackends.requireOpenCL()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-clblast-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        let database = TuningDatabase(url: url)
        let choice = try cl.tuneCLBlastGEMM(database: database, size: 128, runs: 1, sets: 2)
        XCTAssertEqual(choice.solver, OpenCLBackend.clblastGEMMSolver)
        let parts = try XCTUnwrap(CLBlastGEMMChoice(choice.parameters), "\(choice.parameters)")
        XCTAssertTrue(KernelTunables.clblastIndirectFrom.contains(parts.indirectFrom))
        XCTAssertEqual(TuningDatabase(url: url).choice(device: cl.info, problem: OpenCLBackend.clblastGEMMProblem), choice)
        // Remembered: returned as stored, nothing timed again.
        XCTAssertEqual(try cl.tuneCLBlastGEMM(database: TuningDatabase(url: url), size: 128, runs: 1, sets: 2), choice)

        // A backend opened with that database applies the set; its GEMMs match a host reference.
        let saved = ConvolutionChoice.database
        ConvolutionChoice.database = TuningDatabase(url: url)
        defer { ConvolutionChoice.database = saved }
        let fresh = try OpenCLBackend(device: cl.device)
        var rng = SeededGenerator.fresh()
        let (m, n, k) = (37, 45, 70)
        let a = rng.floats(m * k), b = rng.floats(k * n)
        let C = try fresh.allocate(m * n, dtype: .float32)
        try fresh.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: MatrixRef(try fresh.makeBuffer(a), ld: k),
                       b: MatrixRef(try fresh.makeBuffer(b), ld: n), beta: 0, c: MatrixRef(C, ld: n))
        var expected = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for p in 0..<k { for j in 0..<n { expected[i * n + j] += Double(a[i * k + p]) * Double(b[p * n + j]) } } }
        assertClose(try fresh.download(C), expected, tolerance: 1e-5, "seed \(rng.seed)")
    }

    /// A remembered set that is not one of the table's (a damaged or edited file) is never
    /// handed to CLBlast: the search runs again and replaces it.
    func testARememberedSetOutsideTheTableIsIgnored() throws {
        let cl = try TestBackends.requireOpenCL()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-clblast-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        var hostile = CLBlastGEMMChoice.generic.parameters
        hostile["Xgemm.MWG"] = 7
        XCTAssertNil(CLBlastGEMMChoice(hostile))
        try TuningDatabase(url: url).record(TunedChoice(solver: OpenCLBackend.clblastGEMMSolver, parameters: hostile,
                                                        milliseconds: 0.001),
                                            device: cl.info, problem: OpenCLBackend.clblastGEMMProblem)
        let saved = ConvolutionChoice.database
        ConvolutionChoice.database = TuningDatabase(url: url)
        defer { ConvolutionChoice.database = saved }
        _ = try OpenCLBackend(device: cl.device)   // applies nothing
        let choice = try cl.tuneCLBlastGEMM(database: TuningDatabase(url: url), size: 64, runs: 1, sets: 1)
        XCTAssertNotNil(CLBlastGEMMChoice(choice.parameters), "\(choice.parameters)")
        XCTAssertNotEqual(choice.parameters, hostile)
    }

    /// Fast tuning searches CLBlast's parameters only for models that run on it: first where
    /// fully connected layers hold 1/200 of the arithmetic (LeNet-5, AlexNet, VGG-16), else only
    /// after a convolution chose a solver on CLBlast (ResNet-50, GoogLeNet, DenseNet-121); full
    /// tuning always, first; off never.
    func testFastTuningSearchesCLBlastOnlyForModelsThatRunOnIt() throws {
        let shares = try Dictionary(uniqueKeysWithValues: ["lenet5", "alexnet", "vgg16", "resnet50", "googlenet", "densenet121"]
            .map { ($0, try ModelZoo.build($0, classes: $0 == "lenet5" ? 10 : 1000).denseShare) })
        for name in ["lenet5", "alexnet", "vgg16"] {
            XCTAssertEqual(Plan.clblastSearch(mode: .fast, denseShare: shares[name]!), .first, "\(name) \(shares[name]!)")
        }
        for name in ["resnet50", "googlenet", "densenet121"] {
            XCTAssertEqual(Plan.clblastSearch(mode: .fast, denseShare: shares[name]!), .ifAConvolutionChoseIt,
                           "\(name) \(shares[name]!)")
            XCTAssertEqual(Plan.clblastSearch(mode: .full, denseShare: shares[name]!), .first, name)
        }
        XCTAssertEqual(shares["lenet5"]!, 59_000.0 / 405_600, accuracy: 0.01)
        XCTAssertEqual(Plan.clblastSearch(mode: .off, denseShare: 1), .never)
        XCTAssertTrue(OpenCLBackend.runsOnCLBlast(.im2colGEMM))
        XCTAssertTrue(OpenCLBackend.runsOnCLBlast(.conv1x1CLBlast))
        XCTAssertTrue(OpenCLBackend.runsOnCLBlast(.winogradF2x3))
        for a in ConvolutionAlgorithm.allCases where ![.im2colGEMM, .conv1x1CLBlast, .winogradF2x3].contains(a) {
            XCTAssertFalse(OpenCLBackend.runsOnCLBlast(a), "\(a)")
        }
    }

    /// Only devices CLBlast has no tuned entry for are searched by a plan's tuning: CPU devices
    /// not made by Intel (PoCL on AMD or ARM processors).
    func testOnlyCPUDevicesCLBlastDoesNotKnowAreSearched() {
        func device(_ name: String, _ vendor: String, _ kind: DeviceInfo.Kind) -> DeviceInfo {
            DeviceInfo(backend: "OpenCL", name: name, vendor: vendor, kind: kind, computeUnits: 2, clockMHz: 1,
                       globalMemoryBytes: 1 << 30, maxBufferBytes: 1 << 28, maxIndexableElements: Int(Int32.max),
                       platform: "p", driverVersion: "1", peakGFLOPS: nil)
        }
        XCTAssertTrue(device("pthread-znver4-AMD EPYC 9B14", "AuthenticAMD", .cpu).clblastHasNoTunedGEMM)
        XCTAssertTrue(device("cpu-aarch64", "ARM", .cpu).clblastHasNoTunedGEMM)
        XCTAssertFalse(device("Intel(R) Core(TM) i7-4790K CPU @ 4.00GHz", "Intel(R) Corporation", .cpu).clblastHasNoTunedGEMM)
        XCTAssertFalse(device("pthread-skylake-Intel(R) Xeon(R)", "GenuineIntel", .cpu).clblastHasNoTunedGEMM)
        XCTAssertFalse(device("NVIDIA H200", "NVIDIA Corporation", .gpu).clblastHasNoTunedGEMM)
    }
}
