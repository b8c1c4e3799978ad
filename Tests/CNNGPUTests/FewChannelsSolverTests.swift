@testable import CNNGPU
import XCTest

/// The few-input-channel solver (Kernels/conv_few_channels.cl), forward and backward filter,
/// with several parameter sets, against the Double reference (ConvolutionReference) and the CPU
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

    /// The device default and the table's other shapes: 4- to 16-pixel vectors, 1 to 8 rows per
    /// forward group, 1 to 8 rows and 8 to 64 channels per backward-filter group, 1 to 8
    /// channels per backward-filter work-item, dy staged in local memory or read in place.
    static let parameterSets: [TunableParameters] = [
        [:],
        ["FC_VP": 4, "FC_OB": 4, "FC_ROWS": 8, "FC_FROWS": 2, "FC_FOB": 1, "FC_FCB": 8, "FC_DYL": 1],
        ["FC_VP": 8, "FC_OB": 16, "FC_ROWS": 2, "FC_FROWS": 8, "FC_FOB": 4, "FC_FCB": 32, "FC_DYL": 0],
        ["FC_VP": 16, "FC_OB": 8, "FC_ROWS": 1, "FC_FROWS": 1, "FC_FOB": 8, "FC_FCB": 64, "FC_DYL": 1],
    ]

    func testApplicability() throws {
        for d in try Self.problems() {
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .forward), "\(d)")
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .backwardFilter), "\(d)")
            XCTAssertFalse(OpenCLBackend.fewChannelsApplies(d, direction: .backwardData), "\(d)")
        }
        let vgg = try Conv2DDescriptor(batch: 8, inChannels: 3, inH: 224, inW: 224, outChannels: 64, kernelH: 3, kernelW: 3,
                                       padding: Padding2D(1))
        let stem = try Conv2DDescriptor(batch: 8, inChannels: 3, inH: 224, inW: 224, outChannels: 64, kernelH: 7, kernelW: 7,
                                        strideH: 2, strideW: 2, padding: Padding2D(3))
        for d in [vgg, stem] {
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .forward), "\(d)")
            XCTAssertTrue(OpenCLBackend.fewChannelsApplies(d, direction: .backwardFilter), "\(d)")
        }
        let wide = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3)
        XCTAssertFalse(OpenCLBackend.fewChannelsApplies(wide, direction: .forward))
        let manyTaps = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 16, inW: 16, outChannels: 4, kernelH: 7, kernelW: 7)
        XCTAssertFalse(OpenCLBackend.fewChannelsApplies(manyTaps, direction: .forward))
        let grouped = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           groups: 2)
        XCTAssertFalse(OpenCLBackend.fewChannelsApplies(grouped, direction: .forward))
    }

    /// On CPU devices the heuristic (`--tune off`) puts the solver first for image stems'
    /// forward and filter-gradient passes (measured faster there); the input gradient stays direct.
    func testCPUHeuristicPrefersItForStems() throws {
        let cl = try TestBackends.requireOpenCL()
        guard cl.policy == .cpu else { throw XCTSkip("the preference is measured on CPU devices only") }
        let stem = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 32, inW: 32, outChannels: 64, kernelH: 7, kernelW: 7,
                                        strideH: 2, strideW: 2, padding: Padding2D(3))
        for direction in [ConvolutionDirection.forward, .backwardFilter] {
            XCTAssertEqual(cl.convolutionSolutions(for: stem, direction: direction).first?.algorithm, .fewChannels, "\(direction)")
        }
        XCTAssertEqual(cl.convolutionSolutions(for: stem, direction: .backwardData).first?.algorithm, .direct)
        XCTAssertFalse(cl.convolutionSolutions(for: stem, direction: .backwardData).contains { $0.algorithm == .fewChannels })
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
    /// full-size stem's filter gradient matches the CPU backend: a tile count in the thousands.
    func testChosenThroughTheBackendMatchesCPU() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 64, inW: 61, outChannels: 64, kernelH: 7, kernelW: 7,
                                     strideH: 2, strideW: 2, padding: Padding2D(3))
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        ConvolutionAlgorithm.forced = .fewChannels
        defer { ConvolutionAlgorithm.forced = nil }
        let Y = try cl.allocate(d.outputCount, dtype: .float32), DW = try cl.allocate(d.weightCount, dtype: .float32)
        try cl.convolutionForward(d, x: try cl.makeBuffer(x), weight: try cl.makeBuffer(w), bias: nil, y: Y)
        try cl.convolutionBackwardFilter(d, x: try cl.makeBuffer(x), dy: try cl.makeBuffer(dy), dw: DW)
        ConvolutionAlgorithm.forced = nil
        let CY = try cpu.allocate(d.outputCount, dtype: .float32), CDW = try cpu.allocate(d.weightCount, dtype: .float32)
        try cpu.convolutionForward(d, x: try cpu.makeBuffer(x), weight: try cpu.makeBuffer(w), bias: nil, y: CY)
        try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
        assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "forward seed \(rng.seed)")
        assertClose(try cl.download(DW), try cpu.download(CDW), tolerance: 1e-4, "backward filter seed \(rng.seed)")
    }
}
