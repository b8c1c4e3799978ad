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
        var rng = SeededGenerator.fresh()
        let activations: [Activation?] = [nil, .relu, .leakyReLU(alpha: 0.1), .elu(alpha: 1), .sigmoid, .tanh]
        for (i, d) in try Self.problems().enumerated() {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(d.outChannels)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b)
            let linear = ConvolutionReference.forward(d, x: x.map(Double.init), w: w.map(Double.init),
                                                      bias: b.map(Double.init))
            for (j, p) in Self.parameterSets.enumerated() {
                let act = activations[(i + j) % activations.count]
                let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
                try cl.directTiledForward(d, x: X, weight: W, bias: B, activation: act, y: Y, parameters: p)
                let expected = act.map { ActivationReference.forward($0, linear) } ?? linear
                assertClose(try cl.download(Y), expected, tolerance: 1e-5,
                            "forward \(d) parameters \(p) activation \(String(describing: act)) seed \(rng.seed)")
            }
            // Without bias, against the CPU backend's own convolution.
            let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
            try cl.directTiledForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y, parameters: [:])
            let cpu = TestBackends.cpu
            let CY = try cpu.allocate(d.outputCount, dtype: .float32)
            try cpu.convolutionForward(d, x: try cpu.makeBuffer(x), weight: try cpu.makeBuffer(w), bias: nil, y: CY)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: 1e-5, "forward vs CPU \(d) seed \(rng.seed)")
        }
    }

    func testBackwardDataMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        for d in try Self.problems() {
            let dy = rng.floats(d.outputCount), w = rng.floats(d.weightCount)
            let DY = try cl.makeBuffer(dy), W = try cl.makeBuffer(w)
            let expected = ConvolutionReference.backwardData(d, dy: dy.map(Double.init), w: w.map(Double.init))
            for p in Self.parameterSets {
                let DX = try cl.makeBuffer([Float](repeating: .nan, count: d.inputCount))
                try cl.directTiledBackwardData(d, dy: DY, weight: W, dx: DX, parameters: p)
                assertClose(try cl.download(DX), expected, tolerance: 1e-5,
                            "backward data \(d) parameters \(p) seed \(rng.seed)")
            }
        }
    }

    func testBackwardFilterMatchesReferenceForEverySplit() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        for d in try Self.problems() {
            let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
            let X = try cl.makeBuffer(x), DY = try cl.makeBuffer(dy)
            let expected = ConvolutionReference.backwardFilter(d, x: x.map(Double.init), dy: dy.map(Double.init))
            for p in Self.parameterSets {
                let count = cl.directTiledWorkspaceCount(d, direction: .backwardFilter, parameters: p)
                let workspace = count > 0 ? try cl.makeBuffer([Float](repeating: .nan, count: count)) : nil
                let DW = try cl.makeBuffer([Float](repeating: .nan, count: d.weightCount))
                try cl.directTiledBackwardFilter(d, x: X, dy: DY, dw: DW, workspace: workspace, parameters: p)
                assertClose(try cl.download(DW), expected, tolerance: 1e-5,
                            "backward filter \(d) parameters \(p) seed \(rng.seed)")
            }
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
