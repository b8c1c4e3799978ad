@testable import CNNGPU
import XCTest

/// The channels-last solver (Kernels/conv_channels_last.cl), forward, input gradient (by stride
/// phase where strided) and filter gradient, with several parameter sets against the Double
/// reference (ConvolutionReference) and the CPU backend: output channels that leave a partial
/// register tile (5, 21, 70), pixel counts that leave a partial pixel block, stride 2 and 3,
/// dilation with stride, phases that no tap reaches (1×1 stride 2: zeros) and phases of odd
/// and even sizes, asymmetric padding and padding wider than the kernel's reach (a negative
/// adjoint padding), 1×1 and 7×7 kernels, channels and pixels that leave a partial 8 × 8 pack
/// block, and odd batches.
final class ChannelsLastSolverTests: XCTestCase {
    static func problems() throws -> [Conv2DDescriptor] {
        [
            try Conv2DDescriptor(batch: 2, inChannels: 5, inH: 9, inW: 11, outChannels: 21, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 3, inChannels: 19, inH: 7, inW: 6, outChannels: 70, kernelH: 1, kernelW: 1),
            try Conv2DDescriptor(batch: 1, inChannels: 3, inH: 17, inW: 15, outChannels: 16, kernelH: 7, kernelW: 7,
                                 strideH: 2, strideW: 2, padding: Padding2D(3)),
            try Conv2DDescriptor(batch: 2, inChannels: 6, inH: 10, inW: 13, outChannels: 5, kernelH: 3, kernelW: 2,
                                 strideH: 3, strideW: 2, padding: Padding2D(top: 2, bottom: 0, left: 1, right: 3),
                                 dilationH: 2, dilationW: 1),
            try Conv2DDescriptor(batch: 1, inChannels: 33, inH: 5, inW: 5, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 3, bottom: 1, left: 0, right: 2), dilationH: 1, dilationW: 2),
            try Conv2DDescriptor(batch: 2, inChannels: 10, inH: 9, inW: 7, outChannels: 12, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2),
            try Conv2DDescriptor(batch: 1, inChannels: 9, inH: 10, inW: 9, outChannels: 20, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(1)),
        ]
    }

    /// The device default and the table's shapes: 4-, 8- and 16-wide vectors, 1 to 3 vectors
    /// and 1 to 8 pixels per work-item, both launch orders, 1, 16 and 64 work-items per group
    /// (more than some problems' blocks: the kernel's range check), the pack's groups of 1 to
    /// 32 (past the channel blocks), the input read in place (NCHW) or from its copy, both
    /// store orders (tiles inside one image and tiles across an image's end), and filter
    /// gradients in slices of 16 to 4096 pixels (one slice, or many with a partial last one);
    /// in-place filter gradients with 1 to 4 output-channel tiles a work-item (tiles past the
    /// layer's channels) in runs of 8 to 32 vectors (runs that end in a partial vector).
    static let parameterSets: [TunableParameters] = [
        [:],
        ["CL_VW": 8, "CL_NV": 2, "CL_RP": 6, "CL_PF": 0, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 0, "CL_FPIX": 256, "CL_SO": 1,
         "CL_KT": 1, "CL_FRUN": 32],
        ["CL_VW": 16, "CL_NV": 3, "CL_RP": 8, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 8, "CL_NCHW": 1, "CL_FPIX": 4096, "CL_SO": 0,
         "CL_KT": 2, "CL_FRUN": 8],
        ["CL_VW": 4, "CL_NV": 1, "CL_RP": 1, "CL_PF": 1, "CL_WG": 64, "CL_PWG": 32, "CL_NCHW": 0, "CL_FPIX": 512, "CL_SO": 1,
         "CL_KT": 1, "CL_FRUN": 32],
        ["CL_VW": 8, "CL_NV": 1, "CL_RP": 5, "CL_PF": 0, "CL_WG": 16, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 16, "CL_SO": 1,
         "CL_KT": 4, "CL_FRUN": 8],
        ["CL_VW": 4, "CL_NV": 2, "CL_RP": 3, "CL_PF": 1, "CL_WG": 1, "CL_PWG": 1, "CL_NCHW": 1, "CL_FPIX": 64, "CL_SO": 0,
         "CL_KT": 4, "CL_FRUN": 8],
    ]

    func testApplicability() throws {
        let layer = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 3, kernelW: 3,
                                         padding: Padding2D(1))
        XCTAssertTrue(OpenCLBackend.channelsLastApplies(layer, direction: .forward))
        XCTAssertTrue(OpenCLBackend.channelsLastApplies(layer, direction: .backwardData))
        XCTAssertTrue(OpenCLBackend.channelsLastApplies(layer, direction: .backwardFilter))
        let strided = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2, padding: Padding2D(1))
        XCTAssertTrue(OpenCLBackend.channelsLastApplies(strided, direction: .forward))
        XCTAssertTrue(OpenCLBackend.channelsLastApplies(strided, direction: .backwardFilter))
        XCTAssertTrue(OpenCLBackend.channelsLastApplies(strided, direction: .backwardData))
        let grouped = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 3, kernelW: 3,
                                           padding: Padding2D(1), groups: 2)
        XCTAssertFalse(OpenCLBackend.channelsLastApplies(grouped, direction: .forward))
    }

    /// Candidates keep the device's vector width and offer both launch orders and layouts; the
    /// default follows the layer: channel blocks first where the weights are small (ResNet's
    /// 3×3 64→64), reading a 1×1 layer's input in place; pixel blocks first through the copy
    /// where they are large (512→512 at 7²). On CPU devices the heuristic puts the solver first
    /// for forward passes, stride-1 input gradients and filter gradients Winograd does not take
    /// (on 16-float-vector devices Winograd F(4×4,3×3) takes the wide 3×3 layers' other passes).
    func testCandidatesDefaultsAndHeuristic() throws {
        let cl = try TestBackends.requireOpenCL()
        let early = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 64, kernelH: 3, kernelW: 3,
                                         padding: Padding2D(1))
        let pointwise = try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 56, inW: 56, outChannels: 64, kernelH: 1, kernelW: 1)
        let late = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 512, kernelH: 3, kernelW: 3,
                                        padding: Padding2D(1))
        let first = { (d: Conv2DDescriptor) in try XCTUnwrap(cl.channelsLastCandidates(d, direction: .forward).first) }
        XCTAssertEqual(try first(early)["CL_PF"], 0)
        XCTAssertEqual(try first(early)["CL_NCHW"], 0)
        XCTAssertEqual(try first(pointwise)["CL_PF"], 0)
        XCTAssertEqual(try first(pointwise)["CL_NCHW"], 1)
        XCTAssertEqual(try first(late)["CL_PF"], 1)
        XCTAssertEqual(try first(late)["CL_NCHW"], 0)
        let candidates = cl.channelsLastCandidates(early, direction: .forward)
        let width = KernelTunables.channelsLast.defaults(for: cl.info)["CL_VW"]
        XCTAssertTrue(candidates.allSatisfy { $0["CL_VW"] == width }, "\(candidates)")
        XCTAssertEqual(Set(candidates.map { $0["CL_PF"]! }), [0, 1])
        XCTAssertEqual(Set(candidates.map { $0["CL_NCHW"]! }), [0, 1])
        // The filter gradient of a 1×1 stride-1 layer reads x and dy in place from the device's
        // plane size up (28² with several output tiles a work-item, else 32²), with its tile.
        let defaults = KernelTunables.channelsLast.defaults(for: cl.info)
        let tile = OpenCLBackend.channelsLastInPlaceFilterTile(defaults)
        let pointwiseFilter = try XCTUnwrap(cl.channelsLastCandidates(pointwise, direction: .backwardFilter).first)
        XCTAssertEqual(pointwiseFilter["CL_NCHW"], 1)
        XCTAssertEqual(pointwiseFilter["CL_FPIX"], max(2048, defaults["CL_FPIX"]!))
        XCTAssertEqual(pointwiseFilter["CL_RP"], tile.inputChannels)
        XCTAssertEqual(pointwiseFilter["CL_KT"], tile.outputTiles)
        let pointwiseFilters = cl.channelsLastCandidates(pointwise, direction: .backwardFilter)
        XCTAssertEqual(Set(pointwiseFilters.map { $0["CL_NCHW"]! }), [0, 1])
        XCTAssertEqual(Set(pointwiseFilters.filter { $0["CL_NCHW"] == 1 }.map { $0["CL_KT"]! }), Set([1, tile.outputTiles]))
        XCTAssertEqual(Set(pointwiseFilters.filter { $0["CL_NCHW"] == 0 }.map { $0["CL_KT"]! }), [1])
        XCTAssertTrue(pointwiseFilters.allSatisfy { KernelTunables.channelsLast.isValid($0, limits: cl.deviceLimits) })
        if tile.outputTiles > 1 {
            XCTAssertEqual(tile.minPixels, 28 * 28)
            let stage2 = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 28, inW: 28, outChannels: 128, kernelH: 1, kernelW: 1)
            XCTAssertEqual(try XCTUnwrap(cl.channelsLastCandidates(stage2, direction: .backwardFilter).first)["CL_NCHW"], 1)
        }
        let small = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 2048, kernelH: 1, kernelW: 1)
        XCTAssertEqual(try XCTUnwrap(cl.channelsLastCandidates(small, direction: .backwardFilter).first)["CL_NCHW"], 0)
        // The filter gradient on the copies: 8 × 3 tiles on AVX-512 CPU devices where padding the
        // output channels to 48 adds at most an eighth (512 → 528), not on 64 (→ 96).
        let lateFilter = try XCTUnwrap(cl.channelsLastCandidates(late, direction: .backwardFilter).first)
        let earlyFilter = try XCTUnwrap(cl.channelsLastCandidates(early, direction: .backwardFilter).first)
        XCTAssertEqual(earlyFilter["CL_RP"], defaults["CL_RP"])
        if defaults["CL_VW"] == 16 && defaults["CL_WG"] == 1 {
            XCTAssertEqual([lateFilter["CL_RP"]!, lateFilter["CL_NV"]!], [8, 3])
        } else {
            XCTAssertEqual(lateFilter["CL_RP"], defaults["CL_RP"])
        }
        let filter = cl.channelsLastCandidates(early, direction: .backwardFilter)
        XCTAssertEqual(Set(filter.map { $0["CL_FPIX"]! }), [512, 2048, 4096])
        XCTAssertEqual(Set(filter.map { $0["CL_PF"]! }).count, 1, "the filter gradient does not read the launch order")
        guard cl.policy == .cpu else { return }
        // The 1×1 layer's forward and input gradient go to the pointwise solver where it is the
        // default (16-float vectors; PointwiseSolverTests), the channels-last solver otherwise.
        let pointwiseFirst: ConvolutionAlgorithm = cl.pointwiseIsCPUDefault(pointwise, direction: .forward) ? .pointwise : .channelsLast
        for d in [early, pointwise, late] {
            let expected = d == pointwise ? pointwiseFirst : .channelsLast
            XCTAssertEqual(cl.convolutionSolutions(for: d, direction: .forward).first?.algorithm, expected, "\(d)")
            XCTAssertEqual(cl.convolutionSolutions(for: d, direction: .backwardData).first?.algorithm, expected, "\(d)")
        }
        // Filter gradients: here too, but where the Winograd filter gradient is the rule (3×3 on 56²).
        XCTAssertEqual(cl.convolutionSolutions(for: pointwise, direction: .backwardFilter).first?.algorithm, .channelsLast)
        XCTAssertEqual(cl.convolutionSolutions(for: late, direction: .backwardFilter).first?.algorithm, .channelsLast)
        XCTAssertEqual(cl.convolutionSolutions(for: early, direction: .backwardFilter).first?.algorithm, .winogradFilter)
    }

    func testForwardMatchesReferenceWithBiasAndActivation() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forward(cl, problems: try Self.problems(), parameterSets: Self.parameterSets) { d, x, w, b, act, y, p in
            let ws = try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .forward, parameters: p), dtype: .float32)
            try cl.channelsLastForward(d, x: x, weight: w, bias: b, activation: act, y: y, workspace: ws, parameters: p)
        }
    }

    func testBackwardDataMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardData(cl, problems: try Self.problems(), parameterSets: Self.parameterSets) { d, dy, w, dx, p in
            let ws = try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .backwardData, parameters: p), dtype: .float32)
            try cl.channelsLastBackwardData(d, dy: dy, weight: w, dx: dx, workspace: ws, parameters: p)
        }
    }

    func testBackwardFilterMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardFilter(cl, problems: try Self.problems(), parameterSets: Self.parameterSets,
                                        workspaceCount: { d, p in cl.channelsLastWorkspaceCount(d, direction: .backwardFilter, parameters: p) }) {
            try cl.channelsLastBackwardFilter($0, x: $1, dy: $2, dw: $3, workspace: $4, parameters: $5)
        }
    }

    func testMissingWorkspaceBadParametersAndInapplicableProblemsAreNamed() throws {
        let cl = try TestBackends.requireOpenCL()
        let d = try Self.problems()[0]
        let X = try cl.allocate(d.inputCount, dtype: .float32), W = try cl.allocate(d.weightCount, dtype: .float32)
        let Y = try cl.allocate(d.outputCount, dtype: .float32)
        XCTAssertThrowsError(try cl.channelsLastForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y,
                                                        workspace: nil, parameters: [:])) {
            XCTAssertTrue("\($0)".contains("workspace"), "\($0)")
        }
        let ws = try cl.allocate(cl.channelsLastWorkspaceCount(d, direction: .forward, parameters: [:]), dtype: .float32)
        XCTAssertThrowsError(try cl.channelsLastForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y,
                                                        workspace: ws, parameters: ["CL_RP": 9])) {
            XCTAssertTrue("\($0)".contains("not valid"), "\($0)")
        }
        let grouped = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           padding: Padding2D(1), groups: 2)
        XCTAssertThrowsError(try cl.channelsLastBackwardData(grouped, dy: Y, weight: W, dx: X, workspace: ws, parameters: [:])) {
            XCTAssertTrue("\($0)".contains("one-group"), "\($0)")
        }
    }

    /// Through the public API with the solver forced, as a plan would run it: a layer larger
    /// than the pack's blocks, whose filter gradient takes several slices, matches the CPU backend.
    func testChosenThroughTheBackendMatchesCPU() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forcedMatchesCPU(cl, .channelsLast, try Conv2DDescriptor(
            batch: 2, inChannels: 40, inH: 23, inW: 19, outChannels: 36, kernelH: 3, kernelW: 3, padding: Padding2D(1)))
    }
}
