@testable import CNNGPU
import XCTest

/// The Winograd filter gradient F(3×3, 4×4) (Kernels/conv_winograd_filter.cl): its transform
/// matrices in Double, then the solver against the Double reference on odd sizes (partial 4×4
/// tiles, planes smaller than one tile), padding 0, 1, 2 and asymmetric, 1–40 channels, batch
/// 1–5, with several GEMM tiles, image chunks (a partial last chunk) and reduction splits, on
/// workspaces filled with NaN.
final class WinogradFilterSolverTests: XCTestCase {
    /// The transforms are F(4×4,3×3)'s (coefficients up to 8 in A, 5 in Bᵀ, fractions down to
    /// 1⁄24 in G), so they round as WinogradF4x3SolverTests.tolerance explains, and the
    /// reduction is long (all tiles of all images). A float32 model (NumPy, 50,000 tiles of
    /// normal values) gave a norm-wise relative error of 1.7e-5; `testLongReductionError`
    /// measures the solver's on 3,136 tiles. 1e-4 leaves a margin, while a wrong coefficient,
    /// tile offset or channel errs by 1e-2 or more.
    static let tolerance = 1e-4

    static func problems() throws -> [Conv2DDescriptor] {
        [
            try Conv2DDescriptor(batch: 3, inChannels: 3, inH: 5, inW: 7, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 1, inChannels: 17, inH: 10, inW: 9, outChannels: 3, kernelH: 3, kernelW: 3),
            try Conv2DDescriptor(batch: 3, inChannels: 1, inH: 1, inW: 1, outChannels: 5, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(2)),
            try Conv2DDescriptor(batch: 5, inChannels: 17, inH: 13, inW: 6, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 0, bottom: 2, left: 1, right: 0)),
            try Conv2DDescriptor(batch: 2, inChannels: 33, inH: 9, inW: 14, outChannels: 40, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 2, bottom: 1, left: 2, right: 2)),
            // Wide planes (18, 34 and 16 tiles per row: the transforms' strips of 16, 8 or 4 tiles
            // whole, then partial), padding 0 and asymmetric.
            try Conv2DDescriptor(batch: 3, inChannels: 5, inH: 9, inW: 70, outChannels: 6, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 6, inW: 133, outChannels: 4, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 0, bottom: 2, left: 2, right: 0)),
            try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 5, inW: 66, outChannels: 3, kernelH: 3, kernelW: 3),
        ]
    }

    /// The device default; partial row, column and k tiles with element-wise staging of dy
    /// (TK 4 < VW 8) and scalar columns (VW 1); CPU tiles at both k steps; chunks of 1 and 2
    /// images (batch 3 and 5 leave a partial last chunk) with 3 and 5 reduction slices (some
    /// of them empty on the small problems); the transforms' strips of 8 tiles and the GPU
    /// default's whole set, strips of 4 (the device default runs 16).
    static let parameterSets: [TunableParameters] = [
        [:],
        ["TM": 16, "TN": 32, "TK": 4, "WPT_M": 2, "WPT_N": 8, "VW": 8, "CHUNK": 2, "KSPLIT": 3, "WF_STRIP": 8],
        ["TM": 32, "TN": 16, "TK": 8, "WPT_M": 4, "WPT_N": 2, "VW": 1, "CHUNK": 1, "KSPLIT": 1],
        ["TM": 64, "TN": 64, "TK": 64, "WPT_M": 8, "WPT_N": 32, "VW": 16, "CHUNK": 1, "KSPLIT": 5],
        ["TM": 128, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16, "CHUNK": 2, "KSPLIT": 2],
        KernelTunables.winogradFilter.gpuDefault,
    ]

    // MARK: The matrices, in Double

    static let bt: [[Double]] = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    static let g: [[Double]] = [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                                [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
    static let at: [[Double]] = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

    static func product(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        a.map { row in b[0].indices.map { j in row.indices.reduce(0) { $0 + row[$1] * b[$1][j] } } }
    }

    static func transposed(_ a: [[Double]]) -> [[Double]] { a[0].indices.map { j in a.map { $0[j] } } }

    /// Gᵀ [(A dy Aᵀ) ⊙ (Bᵀ x B)] G is the 3×3 correlation of a 6×6 x patch with a 4×4 dy tile.
    func testTransformsGiveTheTileCorrelation() {
        var rng = SeededGenerator.fresh()
        let a = Self.transposed(Self.at)
        for _ in 0..<4 {
            let x = (0..<6).map { _ in rng.floats(6).map(Double.init) }, dy = (0..<4).map { _ in rng.floats(4).map(Double.init) }
            let xt = Self.product(Self.product(Self.bt, x), Self.transposed(Self.bt))
            let dt = Self.product(Self.product(a, dy), Self.at)
            let m = zip(xt, dt).map { zip($0, $1).map { $0 * $1 } }
            let dw = Self.product(Self.product(Self.transposed(Self.g), m), Self.g)
            for r in 0..<3 {
                for s in 0..<3 {
                    var expected = 0.0
                    for i in 0..<4 { for j in 0..<4 { expected += dy[i][j] * x[i + r][j + s] } }
                    XCTAssertEqual(dw[r][s], expected, accuracy: 1e-12, "dw[\(r)][\(s)] seed \(rng.seed)")
                }
            }
        }
    }

    // MARK: The solver

    func testApplicabilityAndTuningCandidates() throws {
        let cl = try TestBackends.requireOpenCL()
        for d in try Self.problems() {
            XCTAssertTrue(OpenCLBackend.winogradFilterApplies(d, direction: .backwardFilter), "\(d)")
            XCTAssertFalse(OpenCLBackend.winogradFilterApplies(d, direction: .forward), "\(d)")
            XCTAssertFalse(OpenCLBackend.winogradFilterApplies(d, direction: .backwardData), "\(d)")
            let offered = cl.convolutionCandidates(d, direction: .backwardFilter).filter { $0.solver == .winogradFilter }
            XCTAssertGreaterThan(offered.count, 1, "the tuner times several parameter sets of \(d)")
            XCTAssertEqual(offered.first?.parameters, cl.winogradFilterCandidates(d).first)
            for direction in [ConvolutionDirection.forward, .backwardData] {
                XCTAssertFalse(cl.convolutionCandidates(d, direction: direction).contains { $0.solver == .winogradFilter })
            }
        }
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2, padding: Padding2D(1))
        let dilated = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           padding: Padding2D(2), dilationH: 2, dilationW: 2)
        let grouped = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           groups: 2)
        let fiveByFive = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 5, kernelW: 5)
        for d in [strided, dilated, grouped, fiveByFive] {
            XCTAssertFalse(OpenCLBackend.winogradFilterApplies(d, direction: .backwardFilter), "\(d)")
        }
    }

    /// The chunk and split defaults keep the workspace bounded and the count true: VGG-16's
    /// 64→64 224² layer at batch 8 runs in chunks of 2 images.
    func testChunksBoundTheWorkspace() throws {
        let cl = try TestBackends.requireOpenCL()
        let vgg = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 224, inW: 224, outChannels: 64, kernelH: 3, kernelW: 3,
                                       padding: Padding2D(1))
        XCTAssertEqual(cl.winogradFilterDefaultChunk(vgg), 2)
        let plan = try cl.winogradFilterResolved(vgg, [:]).plan
        XCTAssertEqual(plan.tilesPerImage, 56 * 56)
        XCTAssertEqual(plan.workspaceCount, 36 * 128 * 2 * 3136 + plan.splits * 36 * 64 * 64)
        XCTAssertLessThanOrEqual(4 * (plan.xCount + plan.dCount), OpenCLBackend.winogradFilterChunkBytes)
        XCTAssertEqual(cl.winogradFilterWorkspaceCount(vgg, parameters: [:]), plan.workspaceCount)
        // Batch 8 in chunks of at most 5 images: two even chunks of 4.
        let mid = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 112, inW: 112, outChannels: 128, kernelH: 3,
                                       kernelW: 3, padding: Padding2D(1))
        XCTAssertEqual(cl.winogradFilterDefaultChunk(mid), 4)
    }

    /// CPU devices run it first, untuned, for the filter gradients of wide layers on planes
    /// from 14² (`winogradFilterIsCPUDefault`), never for other passes or for 7² planes.
    func testCPUDefaultRule() throws {
        let cl = try TestBackends.requireOpenCL()
        guard cl.policy == .cpu else { throw XCTSkip("the rule is the CPU policy's") }
        func layer(_ c: Int, _ k: Int, _ side: Int) throws -> Conv2DDescriptor {
            try Conv2DDescriptor(batch: 8, inChannels: c, inH: side, inW: side, outChannels: k, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1))
        }
        for d in [try layer(64, 64, 224), try layer(64, 128, 112), try layer(64, 64, 56), try layer(512, 512, 14)] {
            XCTAssertEqual(cl.convolutionSolutions(for: d, direction: .backwardFilter).first?.algorithm, .winogradFilter, "\(d)")
            XCTAssertNotEqual(cl.convolutionSolutions(for: d, direction: .forward).first?.algorithm, .winogradFilter, "\(d)")
        }
        for d in [try layer(512, 512, 7), try layer(32, 32, 56), try layer(3, 64, 224)] {
            XCTAssertNotEqual(cl.convolutionSolutions(for: d, direction: .backwardFilter).first?.algorithm, .winogradFilter,
                              "\(d)")
        }
    }

    func testMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardFilter(cl, problems: try Self.problems(), parameterSets: Self.parameterSets,
                                        workspaceCount: { cl.winogradFilterWorkspaceCount($0, parameters: $1) },
                                        tolerance: Self.tolerance) { d, x, dy, dw, ws, p in
            try cl.winogradFilterBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: ws, parameters: p)
        }
    }

    /// A reduction over 3,136 tiles (batch 4, 56², 24 → 40 channels) in 2 chunks: the error the
    /// tolerance has to cover, printed so that a change in rounding shows.
    func testLongReductionError() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 4, inChannels: 24, inH: 56, inW: 56, outChannels: 40, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
        let expected = ConvolutionReference.backwardFilter(d, x: x.map(Double.init), dy: dy.map(Double.init))
        let p: TunableParameters = ["CHUNK": 2]
        let ws = try cl.makeBuffer([Float](repeating: .nan, count: cl.winogradFilterWorkspaceCount(d, parameters: p)))
        let DW = try cl.allocate(d.weightCount, dtype: .float32)
        try cl.winogradFilterBackwardFilter(d, x: try cl.makeBuffer(x), dy: try cl.makeBuffer(dy), dw: DW, workspace: ws,
                                            parameters: p)
        let got = try cl.download(DW)
        print("Winograd filter gradient, 3,136 tiles: relative error \(relativeError(got, expected))")
        assertClose(got, expected, tolerance: Self.tolerance, "seed \(rng.seed)")
    }

    /// Through the public API with the algorithm forced, as a compiled plan would run it.
    func testPublicConvolutionRunsIt() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { ConvolutionAlgorithm.forced = nil }
        ConvolutionAlgorithm.forced = .winogradFilter
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 11, inW: 12, outChannels: 9, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
        let DW = try cl.allocate(d.weightCount, dtype: .float32)
        try cl.convolutionBackwardFilter(d, x: try cl.makeBuffer(x), dy: try cl.makeBuffer(dy), dw: DW)
        assertClose(try cl.download(DW), ConvolutionReference.backwardFilter(d, x: x.map(Double.init), dy: dy.map(Double.init)),
                    tolerance: Self.tolerance, "seed \(rng.seed)")
    }

    func testBadUseIsRefusedClearly() throws {
        let cl = try TestBackends.requireOpenCL()
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2, padding: Padding2D(1))
        let X = try cl.allocate(strided.inputCount, dtype: .float32), W = try cl.allocate(strided.weightCount, dtype: .float32)
        let DY = try cl.allocate(strided.outputCount, dtype: .float32)
        var message = assertThrowsCNNError {
            try cl.winogradFilterBackwardFilter(strided, x: X, dy: DY, dw: W, workspace: nil, parameters: [:])
        }
        XCTAssertTrue(message?.contains("stride 1") == true, message ?? "")
        let d = try Conv2DDescriptor(batch: 2, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let DY2 = try cl.allocate(d.outputCount, dtype: .float32), X2 = try cl.allocate(d.inputCount, dtype: .float32)
        let small = try cl.allocate(10, dtype: .float32)
        message = assertThrowsCNNError {
            try cl.winogradFilterBackwardFilter(d, x: X2, dy: DY2, dw: W, workspace: small, parameters: [:])
        }
        XCTAssertTrue(message?.contains("winogradFilterWorkspaceCount") == true, message ?? "")
        let ws = try cl.allocate(cl.winogradFilterWorkspaceCount(d, parameters: [:]), dtype: .float32)
        for bad: TunableParameters in [["TM": 24], ["CHUNK": 0], ["KSPLIT": 33]] {
            message = assertThrowsCNNError {
                try cl.winogradFilterBackwardFilter(d, x: X2, dy: DY2, dw: W, workspace: ws, parameters: bad)
            }
            XCTAssertTrue(message?.contains(bad.keys.first!) == true, message ?? "")
        }
        message = assertThrowsCNNError {
            try cl.encodeConvolutionForward(d, x: X2, weight: W, bias: nil, activation: nil, y: DY2,
                                            solution: ConvolutionSolution(.winogradFilter), workspace: nil)
        }
        XCTAssertTrue(message?.contains("backward-filter") == true, message ?? "")
    }
}
