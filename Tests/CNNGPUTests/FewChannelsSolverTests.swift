@testable import CNNGPU
import XCTest

/// The few-input-channel solver (Kernels/conv_few_channels.cl), forward, backward filter and
/// backward data, with several parameter sets, against the Double reference (ConvolutionReference) and the CPU
/// backend: small versions of VGG's 3×3 3→64 and ResNet's 7×7/2 stem, and shapes that leave
/// partial pixel vectors, partial row tiles, partial channel blocks (5, 17, 70 output channels),
/// stride 2 and 3, dilation, asymmetric padding, 1, 2 and 4 input channels and odd batches.
final class FewChannelsSolverTests: XCTestCase {
    static func problems() throws -> [Conv2DDescriptor] {
        [
            // VGG's first layer on a small image.
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 19, inW: 21, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            // ResNet's stem: 7×7, stride 2, padding 3.
            try Conv2DDescriptor(batch: 3, inChannels: 3, inH: 23, inW: 18, outChannels: 8, kernelH: 7, kernelW: 7,
                                 strideH: 2, strideW: 2, padding: Padding2D(3)),
            try Conv2DDescriptor(batch: 1, inChannels: 1, inH: 9, inW: 37, outChannels: 70, kernelH: 2, kernelW: 5,
                                 strideH: 3, strideW: 1, padding: Padding2D(top: 0, bottom: 1, left: 2, right: 0)),
            try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 11, inW: 13, outChannels: 5, kernelH: 3, kernelW: 3,
                                 strideH: 1, strideW: 3, padding: Padding2D(top: 2, bottom: 1, left: 1, right: 2),
                                 dilationH: 2, dilationW: 2),
            try Conv2DDescriptor(batch: 3, inChannels: 2, inH: 6, inW: 4, outChannels: 3, kernelH: 1, kernelW: 1),
        ]
    }

    /// More input-gradient shapes: stride 2 with dilation 2 (whole phases of rows and columns no
    /// tap reaches), stride 2 with an even kernel and odd padding, stride 3 with padding wider
    /// than the kernel's reach, rows wider than one tile of 2·16·2 columns, and 20 or 41 output
    /// channels (blocks of 7 or 14 with FC_DOB 8 or 16, the last partial).
    static func dataProblems() throws -> [Conv2DDescriptor] {
        try problems() + [
            try Conv2DDescriptor(batch: 2, inChannels: 1, inH: 13, inW: 15, outChannels: 20, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(2), dilationH: 2, dilationW: 2),
            try Conv2DDescriptor(batch: 1, inChannels: 3, inH: 10, inW: 71, outChannels: 41, kernelH: 4, kernelW: 4,
                                 strideH: 2, strideW: 2, padding: Padding2D(top: 1, bottom: 2, left: 3, right: 0)),
            try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 8, inW: 17, outChannels: 9, kernelH: 2, kernelW: 3,
                                 strideH: 3, strideW: 3, padding: Padding2D(top: 3, bottom: 1, left: 4, right: 2)),
        ]
    }

    /// The device default and the table's other shapes: 4- to 16-pixel vectors, 1 to 8 rows per
    /// forward group, 1 to 8 rows and 8 to 64 channels per backward-filter group, 1 to 8
    /// channels per backward-filter work-item, dy staged in local memory or read in place; 1 to
    /// 8 rows, 8 to 32 output channels per block and 1 to 4 vectors per phase in backward data.
    static let parameterSets: [TunableParameters] = [
        [:],
        ["FC_VP": 4, "FC_OB": 4, "FC_ROWS": 8, "FC_FROWS": 2, "FC_FOB": 1, "FC_FCB": 8, "FC_DYL": 1,
         "FC_DROWS": 8, "FC_DOB": 8, "FC_DBV": 4],
        ["FC_VP": 8, "FC_OB": 16, "FC_ROWS": 2, "FC_FROWS": 8, "FC_FOB": 4, "FC_FCB": 32, "FC_DYL": 0,
         "FC_DROWS": 2, "FC_DOB": 16, "FC_DBV": 3],
        ["FC_VP": 16, "FC_OB": 8, "FC_ROWS": 1, "FC_FROWS": 1, "FC_FOB": 8, "FC_FCB": 64, "FC_DYL": 1,
         "FC_DROWS": 1, "FC_DOB": 32, "FC_DBV": 1],
    ]

    func testApplicability() throws {
        for d in try Self.problems() {
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .forward), "\(d)")
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .backwardFilter), "\(d)")
        }
        for d in try Self.dataProblems() {
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .backwardData), "\(d)")
        }
        let vgg = try Conv2DDescriptor(batch: 8, inChannels: 3, inH: 224, inW: 224, outChannels: 64, kernelH: 3, kernelW: 3,
                                       padding: Padding2D(1))
        let stem = try Conv2DDescriptor(batch: 8, inChannels: 3, inH: 224, inW: 224, outChannels: 64, kernelH: 7, kernelW: 7,
                                        strideH: 2, strideW: 2, padding: Padding2D(3))
        for d in [vgg, stem] {
            for direction in [ConvolutionDirection.forward, .backwardFilter, .backwardData] {
                XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: direction), "\(d) \(direction)")
            }
        }
        let wide = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3)
        XCTAssertFalse(OpenCLBackend.fewChannelsApplies(wide, direction: .forward))
        let manyTaps = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 16, inW: 16, outChannels: 4, kernelH: 7, kernelW: 7)
        XCTAssertFalse(OpenCLBackend.fewChannelsApplies(manyTaps, direction: .forward))
        let grouped = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           groups: 2)
        XCTAssertFalse(OpenCLBackend.fewChannelsApplies(grouped, direction: .forward))
    }

    /// On CPU devices the heuristic (`--tune off`) puts the solver first for image stems' three
    /// passes (measured faster there than implicit GEMM and the direct kernels).
    func testCPUHeuristicPrefersItForStems() throws {
        let cl = try TestBackends.requireOpenCL()
        guard cl.policy == .cpu else { throw XCTSkip("the preference is measured on CPU devices only") }
        let stem = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 32, inW: 32, outChannels: 64, kernelH: 7, kernelW: 7,
                                        strideH: 2, strideW: 2, padding: Padding2D(3))
        for direction in [ConvolutionDirection.forward, .backwardFilter, .backwardData] {
            XCTAssertEqual(cl.convolutionSolutions(for: stem, direction: direction).first?.algorithm, .fewChannels, "\(direction)")
        }
    }

    /// The default's forward channel tile follows the layer's output channels: LeNet-5's
    /// 6-channel conv1 gets 8 on CPU devices (16 computed 10 channels for nothing), the stems'
    /// 64 channels keep the default 16; the parity tests below run both tiles.
    func testDefaultChannelTileFitsFewOutputChannels() throws {
        let cl = try TestBackends.requireOpenCL()
        guard cl.info.kind == .cpu else { throw XCTSkip("the CPU default's tile is 16; a GPU's is 8 already") }
        let lenet = try Conv2DDescriptor(batch: 64, inChannels: 1, inH: 28, inW: 28, outChannels: 6, kernelH: 5, kernelW: 5)
        let stem = try Conv2DDescriptor(batch: 8, inChannels: 3, inH: 224, inW: 224, outChannels: 64, kernelH: 7, kernelW: 7,
                                        strideH: 2, strideW: 2, padding: Padding2D(3))
        let three = try Conv2DDescriptor(batch: 1, inChannels: 1, inH: 8, inW: 8, outChannels: 3, kernelH: 3, kernelW: 3)
        XCTAssertEqual(cl.fewChannelsCandidates(lenet, direction: .forward).first?["FC_OB"], 8)
        XCTAssertEqual(cl.fewChannelsCandidates(stem, direction: .forward).first?["FC_OB"], 16)
        XCTAssertEqual(cl.fewChannelsCandidates(three, direction: .forward).first?["FC_OB"], 4)
        XCTAssertEqual(cl.fewChannelsCandidates(lenet, direction: .backwardFilter).first,
                       KernelTunables.fewChannels.cpuDefault.merging(["FC_OB": 8]) { $1 })
    }

    func testForwardMatchesReferenceWithBiasAndActivation() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forward(cl, problems: try Self.problems(), parameterSets: Self.parameterSets) {
            try cl.fewChannelsForward($0, x: $1, weight: $2, bias: $3, activation: $4, y: $5, parameters: $6)
        }
    }

    func testBackwardFilterMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardFilter(cl, problems: try Self.problems(), parameterSets: Self.parameterSets,
                                        workspaceCount: { d, p in cl.fewChannelsWorkspaceCount(d, direction: .backwardFilter, parameters: p) }) {
            try cl.fewChannelsBackwardFilter($0, x: $1, dy: $2, dw: $3, workspace: $4, parameters: $5)
        }
    }

    func testBackwardDataMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardData(cl, problems: try Self.dataProblems(), parameterSets: Self.parameterSets) {
            try cl.fewChannelsBackwardData($0, dy: $1, weight: $2, dx: $3, parameters: $4)
        }
    }

    func testMissingWorkspaceAndInapplicableProblemsAreNamed() throws {
        let cl = try TestBackends.requireOpenCL()
        let d = try Self.problems()[0]
        let X = try cl.allocate(d.inputCount, dtype: .float32), DY = try cl.allocate(d.outputCount, dtype: .float32)
        let DW = try cl.allocate(d.weightCount, dtype: .float32)
        XCTAssertThrowsError(try cl.fewChannelsBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: nil, parameters: [:])) {
            XCTAssertTrue("\($0)".contains("workspace"), "\($0)")
        }
        let wide = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3)
        let WX = try cl.allocate(wide.inputCount, dtype: .float32), WW = try cl.allocate(wide.weightCount, dtype: .float32)
        let WY = try cl.allocate(wide.outputCount, dtype: .float32)
        XCTAssertThrowsError(try cl.fewChannelsForward(wide, x: WX, weight: WW, bias: nil, activation: nil, y: WY,
                                                       parameters: [:])) {
            XCTAssertTrue("\($0)".contains("input channels"), "\($0)")
        }
        XCTAssertThrowsError(try cl.fewChannelsForward(d, x: X, weight: DW, bias: nil, activation: nil, y: DY,
                                                       parameters: ["FC_VP": 5])) {
            XCTAssertTrue("\($0)".contains("not valid"), "\($0)")
        }
    }

    /// Through the public API, with the solver chosen as a plan would (a forced algorithm), the
    /// full-size stem's filter gradient matches the CPU backend (a tile count in the thousands),
    /// and so does its input gradient (64 output channels: one staged block on CPU devices).
    func testChosenThroughTheBackendMatchesCPU() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forcedMatchesCPU(cl, .fewChannels, try Conv2DDescriptor(
            batch: 2, inChannels: 3, inH: 64, inW: 61, outChannels: 64, kernelH: 7, kernelW: 7, strideH: 2, strideW: 2,
            padding: Padding2D(3)))
    }
}
