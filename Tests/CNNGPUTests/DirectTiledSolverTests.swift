@testable import CNNGPU
import XCTest

/// The tiled direct solver (Kernels/conv_direct_tiled.cl), in every direction and with several
/// work-group sizes and batch splits, against the Double reference (ConvolutionReference) and
/// the CPU backend: LeNet's layers, and shapes that leave partial row tiles, partial channel
/// vectors (3, 6, 17 and 20 channels), asymmetric padding, 1-channel outputs and odd batches.
final class DirectTiledSolverTests: XCTestCase {
    static func problems() throws -> [Conv2DDescriptor] {
        [
            // LeNet-5 on 28×28 (the first pads by 2) at a small batch.
            try Conv2DDescriptor(batch: 3, inChannels: 1, inH: 28, inW: 28, outChannels: 6, kernelH: 5, kernelW: 5,
                                 padding: Padding2D(2)),
            try Conv2DDescriptor(batch: 5, inChannels: 6, inH: 14, inW: 14, outChannels: 16, kernelH: 5, kernelW: 5),
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 9, inW: 11, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),
            try Conv2DDescriptor(batch: 1, inChannels: 20, inH: 7, inW: 6, outChannels: 1, kernelH: 3, kernelW: 2,
                                 padding: Padding2D(top: 0, bottom: 2, left: 1, right: 0)),
            try Conv2DDescriptor(batch: 4, inChannels: 2, inH: 33, inW: 5, outChannels: 3, kernelH: 1, kernelW: 1),
        ]
    }

    /// The device default (16-pixel vectors; one or two batch splits), the smallest groups
    /// (4-pixel vectors, 8 per group: several row tiles; one image per split) and the largest
    /// (8-pixel vectors, whole planes; backward-filter work-items past the taps, one split).
    /// Each set builds a program per problem and direction, so three keep the test near a minute.
    static let parameterSets: [TunableParameters] = [
        [:], ["DT_WG": 8, "DT_IMAGES": 1, "DT_VP": 4, "DT_VECTORS": 8],
        ["DT_WG": 256, "DT_IMAGES": 16, "DT_VP": 8, "DT_VECTORS": 256],
    ]

    func testApplicability() throws {
        for d in try Self.problems() {
            for direction in ConvolutionDirection.allCases {
                XCTAssertTrue(OpenCLBackend.directTiledApplies(d, direction: direction), "\(d) \(direction)")
            }
        }
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 3, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2)
        XCTAssertFalse(OpenCLBackend.directTiledApplies(strided, direction: .forward))
        let grouped = try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           groups: 2)
        XCTAssertFalse(OpenCLBackend.directTiledApplies(grouped, direction: .forward))
        // Padding as large as the kernel has no adjoint here; forward still applies.
        let padded = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 4, inW: 4, outChannels: 2, kernelH: 2, kernelW: 2,
                                          padding: Padding2D(2))
        XCTAssertTrue(OpenCLBackend.directTiledApplies(padded, direction: .forward))
        XCTAssertFalse(OpenCLBackend.directTiledApplies(padded, direction: .backwardData))
        // ResNet-wide layers do not fit the local-memory tile.
        let wide = try Conv2DDescriptor(batch: 1, inChannels: 256, inH: 14, inW: 14, outChannels: 256, kernelH: 3, kernelW: 3,
                                        padding: Padding2D(1))
        XCTAssertFalse(OpenCLBackend.directTiledApplies(wide, direction: .forward))
    }

    func testForwardMatchesReferenceWithBiasAndActivation() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forward(cl, problems: try Self.problems(), parameterSets: Self.parameterSets) {
            try cl.directTiledForward($0, x: $1, weight: $2, bias: $3, activation: $4, y: $5, parameters: $6)
        }
    }

    func testBackwardDataMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardData(cl, problems: try Self.problems(), parameterSets: Self.parameterSets) {
            try cl.directTiledBackwardData($0, dy: $1, weight: $2, dx: $3, parameters: $4)
        }
    }

    func testBackwardFilterMatchesReferenceForEverySplit() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardFilter(cl, problems: try Self.problems(), parameterSets: Self.parameterSets,
                                        workspaceCount: { d, p in cl.directTiledWorkspaceCount(d, direction: .backwardFilter, parameters: p) }) {
            try cl.directTiledBackwardFilter($0, x: $1, dy: $2, dw: $3, workspace: $4, parameters: $5)
        }
    }

    func testMissingWorkspaceAndInapplicableProblemsAreNamed() throws {
        let cl = try TestBackends.requireOpenCL()
        let d = try Self.problems()[1]
        let X = try cl.allocate(d.inputCount, dtype: .float32), DY = try cl.allocate(d.outputCount, dtype: .float32)
        let DW = try cl.allocate(d.weightCount, dtype: .float32)
        XCTAssertThrowsError(try cl.directTiledBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: nil,
                                                              parameters: ["DT_IMAGES": 1])) { error in
            XCTAssertTrue("\(error)".contains("workspace"), "\(error)")
        }
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 3, inH: 8, inW: 8, outChannels: 4, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2)
        let SX = try cl.allocate(strided.inputCount, dtype: .float32), SW = try cl.allocate(strided.weightCount, dtype: .float32)
        let SY = try cl.allocate(strided.outputCount, dtype: .float32)
        XCTAssertThrowsError(try cl.directTiledForward(strided, x: SX, weight: SW, bias: nil, activation: nil, y: SY,
                                                       parameters: [:])) { error in
            XCTAssertTrue("\(error)".contains("stride 1"), "\(error)")
        }
    }

    /// LeNet's layers choose the tiled kernels by default on OpenCL (no tuning database entry),
    /// except the first layer's filter gradient (25 taps), which stays on the per-weight kernel.
    func testLeNetLayersPreferTiledDirect() throws {
        let cl = try TestBackends.requireOpenCL()
        let lenet = try Self.problems().prefix(2)
        for d in lenet {
            for direction in ConvolutionDirection.allCases {
                let expected: ConvolutionAlgorithm = direction == .backwardFilter && d.inChannels == 1 ? .direct : .directTiled
                XCTAssertEqual(cl.convolutionSolutions(for: d, direction: direction).first?.algorithm, expected,
                               "\(d) \(direction)")
            }
        }
    }
}
