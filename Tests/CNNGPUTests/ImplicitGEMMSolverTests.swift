@testable import CNNGPU
import XCTest

/// The implicit-GEMM solver, in every direction and with several tile shapes, against the
/// Double reference (ConvolutionReference) and the CPU backend, on shapes that leave partial
/// tiles along every GEMM axis: odd sizes, stride 2, asymmetric padding, dilation, groups,
/// batch 1 and 3.
final class ImplicitGEMMSolverTests: XCTestCase {
    /// Geometries covering the kernel's index paths (the 1×1 ones take KERNEL_1X1 forward).
    static func problems() throws -> [Conv2DDescriptor] {
        [
            try Conv2DDescriptor(batch: 3, inChannels: 5, inH: 9, inW: 7, outChannels: 7, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 1, inChannels: 6, inH: 11, inW: 10, outChannels: 10, kernelH: 3, kernelW: 2,
                                 strideH: 2, strideW: 2, padding: Padding2D(top: 1, bottom: 2, left: 0, right: 1)),
            try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 9, inW: 9, outChannels: 6, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(2), dilationH: 2, dilationW: 2, groups: 2),
            try Conv2DDescriptor(batch: 3, inChannels: 67, inH: 5, inW: 3, outChannels: 70, kernelH: 1, kernelW: 1),
            try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 7, inW: 7, outChannels: 12, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2),
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 15, inW: 13, outChannels: 9, kernelH: 7, kernelW: 7,
                                 strideH: 2, strideW: 2, padding: Padding2D(3)),
            // Rows wider than a float16 chunk, asymmetric padding: the staging's vector path
            // (contiguous chunks inside the image) beside its per-element path at the edges.
            try Conv2DDescriptor(batch: 2, inChannels: 5, inH: 5, inW: 37, outChannels: 6, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 4, inW: 19, outChannels: 5, kernelH: 1, kernelW: 1),
            // "Same" rows of 32 (VGG's shape in small): the filter gradient loads whole 16-pixel
            // chunks of an output row's x as vectors, masks the chunks at the row ends and zeroes
            // the padding rows; at 4- and 8-wide chunks too, and dilation 2 shifts every tap.
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 4, inW: 32, outChannels: 5, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 5, inW: 16, outChannels: 3, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(2), dilationH: 2, dilationW: 2),
            // Channel counts no multiple of the weight transpose's 8 × 8 block, several blocks.
            try Conv2DDescriptor(batch: 1, inChannels: 19, inH: 6, inW: 5, outChannels: 21, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            // Strided input gradients run one GEMM per stride phase: stride 3 with a 5×5 kernel
            // (phases with 2 and 1 taps per axis, of unequal pixel counts), stride 2 with
            // dilation 2 (only one phase per axis has taps; the others must be written as zeros),
            // unequal strides on an input smaller than one stride, and more channels than a tile.
            try Conv2DDescriptor(batch: 2, inChannels: 9, inH: 13, inW: 11, outChannels: 20, kernelH: 5, kernelW: 5,
                                 strideH: 3, strideW: 3, padding: Padding2D(2)),
            try Conv2DDescriptor(batch: 1, inChannels: 10, inH: 12, inW: 9, outChannels: 6, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(2), dilationH: 2, dilationW: 2),
            try Conv2DDescriptor(batch: 3, inChannels: 8, inH: 2, inW: 7, outChannels: 5, kernelH: 1, kernelW: 2,
                                 strideH: 3, strideW: 2, padding: Padding2D(top: 0, bottom: 1, left: 1, right: 0)),
            try Conv2DDescriptor(batch: 2, inChannels: 40, inH: 12, inW: 12, outChannels: 33, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(1), groups: 1),
            // Depthwise: one channel per group.
            try Conv2DDescriptor(batch: 3, inChannels: 6, inH: 6, inW: 5, outChannels: 6, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1), groups: 6),
        ]
    }

    /// Tile shapes: the device default, the GPU default, a narrow one, a small-k scalar one,
    /// the largest, a CPU-style one whose two work-items each fill several k rows, and one whose
    /// k step is narrower than its vectors (the row-major left operand then stages element by
    /// element).
    static let tileSets: [TunableParameters] = [
        [:],
        ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
        ["TM": 16, "TN": 64, "TK": 16, "WPT_M": 2, "WPT_N": 4],
        ["TM": 32, "TN": 32, "TK": 8, "WPT_M": 2, "WPT_N": 2, "VW": 1],
        ["TM": 128, "TN": 128, "TK": 16, "WPT_M": 8, "WPT_N": 8, "VW": 2],
        ["TM": 16, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 64, "VW": 16],
        ["TM": 16, "TN": 64, "TK": 8, "WPT_M": 8, "WPT_N": 64, "VW": 16],
        // The CPU tile of GEMMs whose columns 128-wide tiles would pad (cpuNarrowColumnTile).
        ["TM": 128, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
    ]

    func testForwardMatchesReferenceWithBiasAndActivation() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forward(cl, problems: try Self.problems(), parameterSets: Self.tileSets) {
            try cl.implicitGEMMForward($0, x: $1, weight: $2, bias: $3, activation: $4, y: $5, parameters: $6)
        }
    }

    func testBackwardDataMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        // Both stagings of the weights: transposed (WT=1; a strided layer's per stride phase)
        // and gathered (WT=0).
        let sets = Self.tileSets.flatMap { p in [0, 1].map { p.merging(["WT": $0]) { $1 } } }
        try SolverParity.backwardData(cl, problems: try Self.problems(), parameterSets: sets) {
            // NaN-filled, so a transposed weight the transpose failed to write shows.
            let count = cl.implicitGEMMWorkspaceCount($0, direction: .backwardData, parameters: $4)
            // Unpadded 1×1 layers copy w's rows as vectors and never transpose (KERNEL_1X1).
            XCTAssertEqual(count, $4["WT"] == 1 && !OpenCLBackend.isUnpaddedOneByOne($0) ? $0.weightCount : 0)
            let WT = try cl.makeBuffer([Float](repeating: .nan, count: max(1, count)))
            try cl.implicitGEMMBackwardData($0, dy: $1, weight: $2, dx: $3, workspace: WT, parameters: $4)
        }
    }

    func testBackwardFilterMatchesReferenceForEverySplit() throws {
        let cl = try TestBackends.requireOpenCL()
        // KSPLIT 1 writes dw directly; 3 leaves a ragged last slice; 1000 is clamped to the k steps.
        // Plus the other two CPU filter tiles cpuFilterTile picks from, and the 64-wide k step
        // of long reductions on two of them.
        let cpuFilterTiles: [TunableParameters] = [
            ["TM": 128, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 64, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 64, "TN": 128, "TK": 64, "WPT_M": 8, "WPT_N": 32, "VW": 16],
            ["TM": 128, "TN": 64, "TK": 64, "WPT_M": 8, "WPT_N": 32, "VW": 16],
        ]
        let sets = (Self.tileSets + cpuFilterTiles).flatMap { p in [1, 3, 1000].map { p.merging(["KSPLIT": $0]) { $1 } } }
        try SolverParity.backwardFilter(cl, problems: try Self.problems(), parameterSets: sets,
                                        workspaceCount: { cl.implicitGEMMWorkspaceCount($0, direction: .backwardFilter, parameters: $1) }) {
            try cl.implicitGEMMBackwardFilter($0, x: $1, dy: $2, dw: $3, workspace: $4, parameters: $5)
        }
    }

    /// The stride phases' taps against brute force: every tap that reaches a position of the
    /// phase is listed, and no other (with dilation, some phases get none).
    func testPhaseTapsAreExactlyTheTapsReachingEachPhase() {
        for stride in 2...4 { for dilation in 1...3 { for pad in 0...3 { for kernel in 1...7 {
            for phase in 0..<stride {
                let t = OpenCLBackend.phaseTaps(phase: phase, pad: pad, stride: stride, dilation: dilation,
                                                kernel: kernel, extent: 11)
                let listed = (0..<t.count).map { t.first + $0 * t.step }
                // Tap r reaches input position i from output o when o·stride + r·dilation − pad = i.
                let reaching = (0..<kernel).filter { (phase + pad - $0 * dilation).isMultiple(of: stride) }
                XCTAssertEqual(listed, reaching, "stride \(stride) dilation \(dilation) pad \(pad) kernel \(kernel) phase \(phase)")
                XCTAssertEqual(t.pixels, (phase..<11).filter { ($0 - phase) % stride == 0 }.count)
            }
        } } } }
    }

    /// The default rule transposes the weights where dx (all stride phases together) spans ≥ 8
    /// column tiles (batch 2 at 24²: 1152 pixels, at any stride) and not at ResNet's 7² (392),
    /// but for ResNet's stride-2 layer from 14² (1568), and the planned path reports and checks
    /// the transposed weights' workspace and runs it against the Double reference (an unpadded
    /// 1×1 layer copies w's rows as vectors instead and needs none).
    func testDefaultRuleTransposesWeightsOfWideLayers() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let wide = [
            try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 24, inW: 24, outChannels: 6, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 2, inChannels: 9, inH: 24, inW: 27, outChannels: 6, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 24, inW: 24, outChannels: 10, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2),
        ]
        let late = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 512, kernelH: 3, kernelW: 3,
                                        padding: Padding2D(1))
        let lateStrided = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 14, inW: 14, outChannels: 512,
                                               kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padding: Padding2D(1))
        XCTAssertEqual(cl.implicitGEMMWorkspaceCount(late, direction: .backwardData, parameters: [:]), 0)
        XCTAssertEqual(cl.implicitGEMMWorkspaceCount(lateStrided, direction: .backwardData, parameters: [:]),
                       lateStrided.weightCount)
        for d in wide {
            let solution = try XCTUnwrap(cl.convolutionSolutions(for: d, direction: .backwardData).first { $0.algorithm == .implicitGEMM })
            let count = cl.convolutionWorkspaceCount(d, direction: .backwardData, solution: solution)
            // The 1×1/2 layer stages w's rows as vectors instead (KERNEL_1X1): no workspace.
            let oneByOne = OpenCLBackend.isUnpaddedOneByOne(d)
            XCTAssertEqual(count, oneByOne ? 0 : d.weightCount, "\(d)")
            if !oneByOne {
                let missing = assertThrowsCNNError {
                    try cl.checkConvolutionSolution(d, direction: .backwardData, solution: solution, workspace: nil)
                }
                XCTAssertNotNil(missing)
            }
            let w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
            let W = try cl.makeBuffer(w), DY = try cl.makeBuffer(dy), DX = try cl.allocate(d.inputCount, dtype: .float32)
            let WS = count > 0 ? try cl.makeBuffer([Float](repeating: .nan, count: count)) : nil
            try cl.checkConvolutionSolution(d, direction: .backwardData, solution: solution, workspace: WS)
            try cl.encodeConvolutionBackwardData(d, dy: DY, weight: W, dx: DX, solution: solution, workspace: WS)
            assertClose(try cl.download(DX), ConvolutionReference.backwardData(d, dy: dy.map(Double.init), w: w.map(Double.init)),
                        tolerance: 2e-5, "transposed-weight input gradient \(d) seed \(rng.seed)")
        }
    }

    func testSplitFilterGradientIsDeterministic() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 4, inChannels: 8, inH: 12, inW: 12, outChannels: 8, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let X = try cl.makeBuffer(rng.floats(d.inputCount)), DY = try cl.makeBuffer(rng.floats(d.outputCount))
        let q: TunableParameters = ["KSPLIT": 7]
        let WS = try cl.allocate(cl.implicitGEMMWorkspaceCount(d, direction: .backwardFilter, parameters: q), dtype: .float32)
        var results: [[Float]] = []
        for _ in 0..<2 {
            let DW = try cl.allocate(d.weightCount, dtype: .float32)
            try cl.implicitGEMMBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: WS, parameters: q)
            results.append(try cl.download(DW))
        }
        XCTAssertEqual(results[0], results[1], "split-K filter gradient must be bitwise reproducible")
    }

    func testBadParametersAndMissingWorkspaceAreClearErrors() throws {
        let cl = try TestBackends.requireOpenCL()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3)
        let X = try cl.allocate(d.inputCount, dtype: .float32), W = try cl.allocate(d.weightCount, dtype: .float32)
        let Y = try cl.allocate(d.outputCount, dtype: .float32)
        let message = assertThrowsCNNError {
            try cl.implicitGEMMForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y,
                                       parameters: ["TM": 48])
        }
        XCTAssertTrue(message?.contains("TM=48") == true && message?.contains("conv_implicit_gemm.cl") == true, message ?? "")
        let missing = assertThrowsCNNError {
            try cl.implicitGEMMBackwardFilter(d, x: X, dy: Y, dw: W, workspace: nil, parameters: ["KSPLIT": 4])
        }
        XCTAssertTrue(missing?.contains("workspace") == true, missing ?? "")
        let missingTranspose = assertThrowsCNNError {
            try cl.implicitGEMMBackwardData(d, dy: Y, weight: W, dx: X, workspace: nil, parameters: ["WT": 1])
        }
        XCTAssertTrue(missingTranspose?.contains("transposed weights") == true, missingTranspose ?? "")
    }

    /// The tuner's bounded search on this device: the device type's default first, then only
    /// shapes of its type (few work-items on a CPU device), each valid for the device.
    func testCandidatesFollowTheDeviceType() throws {
        let cl = try TestBackends.requireOpenCL()
        let table = KernelTunables.implicitGEMM
        let d = try Conv2DDescriptor(batch: 2, inChannels: 32, inH: 9, inW: 9, outChannels: 64, kernelH: 3, kernelW: 3)
        let candidates = cl.implicitGEMMCandidates(d, direction: .forward)
        XCTAssertEqual(candidates.first, table.defaults(for: cl.info))
        XCTAssertGreaterThan(candidates.count, 3)
        for p in candidates {
            let size = table.localSize(p).reduce(1, *)
            XCTAssertTrue(cl.info.kind == .gpu ? size >= 64 : size <= 64, "\(p) is not a \(cl.info.kind) shape")
            XCTAssertTrue(table.isValid(p, limits: cl.deviceLimits), "\(p)")
        }
        let filter = cl.implicitGEMMCandidates(d, direction: .backwardFilter)
        XCTAssertEqual(filter.first?["KSPLIT"], cl.implicitGEMMDefaultSplits(d, parameters: table.defaults(for: cl.info)),
                       "the heuristic's split count comes first: --tune fast and untuned runs use it")
    }

    /// On a CPU device the filter gradient is split 4 ways only where the reduction is long
    /// (batch · OH · OW ≥ 8 · 112²) and the tiles are few: the stem and VGG's first stages, not
    /// ResNet's 56² layers (measured slower split) nor VGG's 128-channel 112² layer.
    func testCPUFilterGradientSplitsOnlyLongReductionsOfFewTiles() throws {
        let cl = try TestBackends.requireOpenCL()
        try XCTSkipUnless(cl.info.kind == .cpu && cl.info.computeUnits <= 4,
                          "the rule is stated for a CPU device of a few cores; this is \(cl.info.kind)")
        let p: TunableParameters = ["TM": 64, "TN": 128, "TK": 32]
        func splits(_ c: Int, _ k: Int, _ side: Int, kernel: Int = 3, stride: Int = 1) throws -> Int {
            let d = try Conv2DDescriptor(batch: 8, inChannels: c, inH: side, inW: side, outChannels: k, kernelH: kernel,
                                         kernelW: kernel, strideH: stride, strideW: stride, padding: Padding2D(kernel / 2))
            return cl.implicitGEMMDefaultSplits(d, parameters: p)
        }
        XCTAssertEqual(try splits(64, 64, 224), 4, "VGG-16 3×3 64→64 224²: 5 tiles over 401k pixels")
        XCTAssertEqual(try splits(3, 64, 224, kernel: 7, stride: 2), 4, "ResNet's stem: 112² outputs")
        XCTAssertEqual(try splits(64, 64, 56), 1, "ResNet 3×3 64→64 56²: 25k pixels stay unsplit")
        XCTAssertEqual(try splits(512, 512, 112), 1, "many tiles keep every core busy unsplit")
    }

    /// On a CPU device the filter gradient's 128-wide tiles step k by 64; the 64 × 64 tile
    /// (not measured at 64) keeps 32. A device with 8-float vectors has no 128-wide tiles
    /// (testCPUDefaultNarrowsColumnsOnlyAtSevenBySevenAndStrided checks its rule).
    func testCPUFilterGradientTilesStepKBy64() throws {
        let cl = try TestBackends.requireOpenCL()
        try XCTSkipUnless(cl.info.kind == .cpu, "the rule is stated for a CPU device; this is \(cl.info.kind)")
        try XCTSkipIf(cl.info.hasNarrowVectors, "the rule is for AVX-512-sized tiles; this device's "
                      + "vectors hold \(cl.info.nativeFloatVectorWidth) floats")
        func first(_ c: Int, _ k: Int, _ side: Int, kernel: Int = 3) throws -> TunableParameters? {
            let d = try Conv2DDescriptor(batch: 8, inChannels: c, inH: side, inW: side, outChannels: k, kernelH: kernel,
                                         kernelW: kernel, padding: Padding2D(kernel / 2))
            return cl.implicitGEMMCandidates(d, direction: .backwardFilter).first
        }
        XCTAssertEqual(try first(64, 64, 224)?["TK"], 64)
        XCTAssertEqual(try first(64, 64, 224)?["TN"], 128, "cpuFilterTile's shape, with the longer step")
        XCTAssertEqual(try first(128, 128, 112)?["TK"], 64)
        XCTAssertEqual(try first(512, 512, 7)?["TK"], 64)
        XCTAssertEqual(try first(64, 64, 56, kernel: 1)?["TK"], 32, "1×1 64→64 takes the 64 × 64 tile")
    }

    /// The CPU filter-gradient tile: 128 × 64 unless it pads a third more than the tightest
    /// shape. Pure table logic, so it runs without a device.
    func testCPUFilterTileAvoidsPadding() throws {
        let tiles = KernelTunables.implicitGEMM.candidates
        func tile(_ rows: Int, _ columns: Int) -> [Int?] {
            let p = OpenCLBackend.cpuFilterTile(rows: rows, columns: columns, among: tiles)
            return [p?["TM"], p?["TN"]]
        }
        XCTAssertEqual(tile(256, 64), [128, 64], "1×1 64→256: no padding at 128 × 64")
        XCTAssertEqual(tile(64, 64), [64, 64], "1×1 64→64: both 128-wide tiles pad half the GEMM")
        XCTAssertEqual(tile(64, 256), [64, 128], "1×1 256→64: 128 rows would pad half")
        XCTAssertEqual(tile(64, 576), [64, 128], "3×3 64→64")
        XCTAssertEqual(tile(64, 147), [64, 128], "7×7 stem: 64 × 128 pads within a third of 64 × 64")
        XCTAssertEqual(tile(512, 4608), [128, 64], "no padding anywhere: the cheaper staging")
        XCTAssertEqual(tile(40, 600), [64, 128], "40 output channels: 128 rows would pad 3×")
        XCTAssertNil(OpenCLBackend.cpuFilterTile(rows: 64, columns: 64, among: [KernelTunables.implicitGEMM.gpuDefault]))
    }

    /// The CPU forward / input-gradient tile: 128 × 64 for strided layers whose rows fill 128-row
    /// tiles, and where 128-wide column tiles pad the GEMM more than an eighth beyond it. Pure
    /// table logic, so it runs without a device.
    func testCPUNarrowColumnTileOnlyWhereWideTilesPadOrStrided() throws {
        let tiles = KernelTunables.implicitGEMM.candidates
        func tile(_ rows: Int, _ columns: Int, strided: Bool = false) -> [Int?] {
            let p = OpenCLBackend.cpuNarrowColumnTile(rows: rows, columns: columns, strided: strided, among: tiles)
            return [p?["TM"], p?["TN"]]
        }
        XCTAssertEqual(tile(512, 392), [128, 64], "7², batch 8: 512 columns computed at TN = 128, 448 at 64")
        XCTAssertEqual(tile(2048, 392), [128, 64])
        XCTAssertEqual(tile(64, 392), [nil, nil], "64 rows: 128-row tiles would pad half")
        XCTAssertEqual(tile(256, 1568), [nil, nil], "14²: 6% padding stays on the default")
        XCTAssertEqual(tile(64, 25088), [nil, nil], "56²: no padding")
        XCTAssertEqual(tile(128, 6272, strided: true), [128, 64], "3×3/2 128→128 56²")
        XCTAssertEqual(tile(64, 6272, strided: true), [nil, nil], "a strided 64-channel layer: 128 rows pad half")
        XCTAssertEqual(tile(40, 1000, strided: true), [nil, nil], "40 rows: 128-row tiles pad more than 64-row ones")
        XCTAssertNil(OpenCLBackend.cpuNarrowColumnTile(rows: 512, columns: 392, strided: true,
                                                      among: [KernelTunables.implicitGEMM.gpuDefault]))
    }

    /// On a CPU device the default rule gives ResNet-50's 7² layers and strided layers the
    /// narrow tile, and the stride-1 layers from 14² up the default. On a CPU device with
    /// 8-float vectors (AVX2) every layer starts from that device's default, and no candidate's
    /// register tile takes more than half of its 16 registers.
    func testCPUDefaultNarrowsColumnsOnlyAtSevenBySevenAndStrided() throws {
        let cl = try TestBackends.requireOpenCL()
        try XCTSkipUnless(cl.info.kind == .cpu, "the rule is stated for a CPU device; this is \(cl.info.kind)")
        let narrowCPU = cl.info.hasNarrowVectors
        func first(_ c: Int, _ k: Int, _ side: Int, kernel: Int, stride: Int = 1,
                   _ direction: ConvolutionDirection) throws -> [Int?] {
            let d = try Conv2DDescriptor(batch: 8, inChannels: c, inH: side, inW: side, outChannels: k, kernelH: kernel,
                                         kernelW: kernel, strideH: stride, strideW: stride, padding: Padding2D(kernel / 2))
            let candidates = cl.implicitGEMMCandidates(d, direction: direction)
            if narrowCPU {
                XCTAssertEqual(candidates.first?.filter { $0.key != "KSPLIT" }, KernelTunables.implicitGEMM.cpuNarrowDefault)
                for p in candidates {
                    XCTAssertLessThanOrEqual(p["WPT_M"]! * p["WPT_N"]!, 8 * cl.info.nativeFloatVectorWidth, "\(p)")
                }
                return [64, 64]
            }
            let p = candidates.first
            return [p?["TM"], p?["TN"]]
        }
        guard !narrowCPU else {
            for (c, k, side, kernel, stride) in [(512, 2048, 7, 1, 1), (256, 256, 28, 3, 2), (64, 64, 56, 1, 1)] {
                for direction in ConvolutionDirection.allCases {
                    _ = try first(c, k, side, kernel: kernel, stride: stride, direction)
                }
            }
            return
        }
        XCTAssertEqual(try first(512, 2048, 7, kernel: 1, .forward), [128, 64])
        XCTAssertEqual(try first(512, 2048, 7, kernel: 1, .backwardData), [128, 64])
        XCTAssertEqual(try first(1024, 2048, 14, kernel: 1, stride: 2, .backwardData), [128, 64], "phase (0, 0): 7² pixels")
        XCTAssertEqual(try first(512, 512, 14, kernel: 3, stride: 2, .forward), [128, 64])
        XCTAssertEqual(try first(256, 256, 28, kernel: 3, stride: 2, .forward), [128, 64], "strided")
        XCTAssertEqual(try first(64, 64, 56, kernel: 1, .forward), [64, 128])
        XCTAssertEqual(try first(256, 256, 14, kernel: 3, .backwardData), [64, 128])
    }

    func testTunableTableIsConsistent() throws {
        let table = KernelTunables.implicitGEMM
        // A GPU's largest common limits; a device with less local memory skips the TK=64 set.
        let limits = DeviceLimits(maxWorkGroupSize: 256, localMemoryBytes: 65_536)
        for p in table.candidates + [table.cpuDefault, table.gpuDefault] + [table.cpuNarrowDefault].compactMap({ $0 }) {
            XCTAssertTrue(table.isValid(p, limits: limits), "candidate \(p) breaks the kernel's constraints")
            let l = table.launch(p, extent: [100, 70, 3], tile: [p["TN"]!, p["TM"]!])
            XCTAssertEqual(l.local, [p["TN"]! / p["WPT_N"]!, p["TM"]! / p["WPT_M"]!, 1])
            XCTAssertEqual(l.global[0] % l.local[0], 0)
            XCTAssertEqual(l.global[1] % l.local[1], 0)
            XCTAssertEqual(l.global[0] / l.local[0], (100 + p["TN"]! - 1) / p["TN"]!)
            XCTAssertEqual(l.global[2], 3)
            XCTAssertTrue(l.options.contains("-DTM=\(p["TM"]!)") && l.options.contains("-DWPT_N=\(p["WPT_N"]!)"))
        }
        XCTAssertFalse(table.isValid(["TM": 64, "TN": 64, "TK": 16, "WPT_M": 1, "WPT_N": 1, "VW": 1], limits: limits),
                       "4096 work-items exceed the limit")
        XCTAssertFalse(table.isValid(["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "VW": 4], limits: limits), "missing WPT_N")
        XCTAssertFalse(table.isValid(["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 8], limits: limits),
                       "a float8 vector does not fit a 4-column register tile")
    }
}

/// The CLBlast 1×1 solver against the Double reference, with bias and activation.
final class Conv1x1CLBlastSolverTests: XCTestCase {
    func testAllDirectionsMatchReference() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        for d in [try Conv2DDescriptor(batch: 3, inChannels: 67, inH: 5, inW: 3, outChannels: 70, kernelH: 1, kernelW: 1),
                  try Conv2DDescriptor(batch: 1, inChannels: 5, inH: 9, inW: 11, outChannels: 3, kernelH: 1, kernelW: 1)] {
            XCTAssertTrue(OpenCLBackend.conv1x1CLBlastApplies(d, direction: .forward))
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b), DY = try cl.makeBuffer(dy)
            let Y = try cl.allocate(d.outputCount, dtype: .float32), DX = try cl.allocate(d.inputCount, dtype: .float32)
            let DW = try cl.makeBuffer([Float](repeating: .nan, count: d.weightCount))
            try cl.conv1x1CLBlastForward(d, x: X, weight: W, bias: B, activation: .relu, y: Y)
            try cl.conv1x1CLBlastBackwardData(d, dy: DY, weight: W, dx: DX)
            try cl.conv1x1CLBlastBackwardFilter(d, x: X, dy: DY, dw: DW)
            let (xd, wd, dyd) = (x.map(Double.init), w.map(Double.init), dy.map(Double.init))
            assertClose(try cl.download(Y), ActivationReference.forward(.relu, ConvolutionReference.forward(
                d, x: xd, w: wd, bias: b.map(Double.init))), tolerance: 1e-5, "1×1 forward \(d) seed \(rng.seed)")
            assertClose(try cl.download(DX), ConvolutionReference.backwardData(d, dy: dyd, w: wd), tolerance: 1e-5,
                        "1×1 backward data \(d) seed \(rng.seed)")
            assertClose(try cl.download(DW), ConvolutionReference.backwardFilter(d, x: xd, dy: dyd), tolerance: 1e-5,
                        "1×1 backward filter \(d) seed \(rng.seed)")
        }
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 6, inW: 6, outChannels: 4, kernelH: 1, kernelW: 1,
                                           strideH: 2, strideW: 2)
        XCTAssertFalse(OpenCLBackend.conv1x1CLBlastApplies(strided, direction: .forward))
    }
}
