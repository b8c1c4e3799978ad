@testable import CNNGPU
import XCTest

/// Winograd F(4×4, 3×3) (Kernels/conv_winograd_f4x3.cl), forward with bias and fused
/// activations and backward data, with several GEMM parameter sets, against the Double
/// reference and the CPU backend: sizes that are no multiple of 4 (partial 4×4 tiles), 1×1 and
/// 5×7 images, padding 0, 1, 2 and asymmetric, 1, 3 and 17 channels, batch 1 and 3.
final class WinogradF4x3SolverTests: XCTestCase {
    /// F(4×4,3×3)'s transforms carry coefficients up to 8 (Aᵀ) and 5 (Bᵀ) and fractions 1⁄6,
    /// 1⁄12, 1⁄24 (G), so float32 rounding is amplified about ten times more than in
    /// F(2×2,3×3), whose tests pass at 2e-5. A float32 model of these transforms (NumPy, inputs
    /// uniform in [−1, 1]) gave norm-wise relative errors (largest difference over the largest
    /// output magnitude) of 1.3e-6 for 1 channel, 1.9e-6 for 17 and 3.3e-6 for 64 per tile;
    /// 1e-4 leaves a margin for the tail over many tiles and for fused activations, while a wrong
    /// coefficient, tile offset or channel errs by 1e-2 or more.
    static let tolerance = 1e-4

    static func problems() throws -> [Conv2DDescriptor] {
        [
            try Conv2DDescriptor(batch: 3, inChannels: 3, inH: 5, inW: 7, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 1, inChannels: 17, inH: 10, inW: 9, outChannels: 3, kernelH: 3, kernelW: 3),
            try Conv2DDescriptor(batch: 3, inChannels: 1, inH: 1, inW: 1, outChannels: 5, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(2)),
            try Conv2DDescriptor(batch: 1, inChannels: 4, inH: 1, inW: 1, outChannels: 1, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 3, inChannels: 17, inH: 13, inW: 6, outChannels: 17, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 0, bottom: 2, left: 1, right: 0)),
            try Conv2DDescriptor(batch: 1, inChannels: 33, inH: 9, inW: 14, outChannels: 40, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 2, bottom: 1, left: 2, right: 2)),
        ]
    }

    /// The device default and shapes that leave partial row, column and k tiles on the problems
    /// above: element-wise staging of U (TK 4 < VW 8), scalar columns (VW 1), 16-wide vectors.
    static let parameterSets: [TunableParameters] = [
        [:],
        ["TM": 16, "TN": 32, "TK": 4, "WPT_M": 2, "WPT_N": 8, "VW": 8],
        ["TM": 32, "TN": 16, "TK": 8, "WPT_M": 4, "WPT_N": 2, "VW": 1],
        ["TM": 64, "TN": 128, "TK": 32, "WPT_M": 8, "WPT_N": 32, "VW": 16],
        ["TM": 64, "TN": 64, "TK": 16, "WPT_M": 4, "WPT_N": 4, "VW": 4],
    ]

    func testApplicabilityAndTuningCandidates() throws {
        let cl = try TestBackends.requireOpenCL()
        for d in try Self.problems() {
            XCTAssertTrue(OpenCLBackend.winogradF4x3Applies(d, direction: .forward), "\(d)")
            XCTAssertTrue(OpenCLBackend.winogradF4x3Applies(d, direction: .backwardData), "\(d)")
            XCTAssertFalse(OpenCLBackend.winogradF4x3Applies(d, direction: .backwardFilter), "\(d)")
            for direction in [ConvolutionDirection.forward, .backwardData] {
                let offered = cl.convolutionCandidates(d, direction: direction).filter { $0.solver == .winogradF4x3 }
                XCTAssertGreaterThan(offered.count, 1, "the tuner times several parameter sets of \(d)")
                XCTAssertEqual(offered.first?.parameters, cl.winogradF4x3DefaultParameters(d, direction))
            }
            XCTAssertFalse(cl.convolutionCandidates(d, direction: .backwardFilter).contains { $0.solver == .winogradF4x3 })
        }
    }

    /// On CPU devices it is the untuned choice only for wide layers on small images
    /// (`winogradF4x3IsCPUDefault`): first on devices with 16-float vectors (1.3–2.3× the
    /// channels-last solver on AVX-512), on narrower ones only where the channels-last copy
    /// would be too large (channels-last measured 1.0–1.4× faster on AVX2); the filter gradient never.
    func testCPUDefaultRule() throws {
        let cl = try TestBackends.requireOpenCL()
        guard cl.policy == .cpu else { throw XCTSkip("the rule is the CPU policy's") }
        let wide = try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 14, inW: 14, outChannels: 256, kernelH: 3, kernelW: 3,
                                        padding: Padding2D(1))
        let early = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 64, kernelH: 3, kernelW: 3,
                                         padding: Padding2D(1))
        // Too few tiles to amortize the weight transform: 512 channels at 2², batch 8.
        let tiny = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 2, inW: 2, outChannels: 512, kernelH: 3, kernelW: 3,
                                        padding: Padding2D(1))
        // 7²: the channels-last solver's.
        let late = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 512, kernelH: 3, kernelW: 3,
                                        padding: Padding2D(1))
        for direction in [ConvolutionDirection.forward, .backwardData] {
            XCTAssertTrue(cl.winogradF4x3IsCPUDefault(wide, direction: direction))
            XCTAssertFalse(cl.winogradF4x3IsCPUDefault(early, direction: direction))
            XCTAssertFalse(cl.winogradF4x3IsCPUDefault(tiny, direction: direction))
            XCTAssertFalse(cl.winogradF4x3IsCPUDefault(late, direction: direction))
            XCTAssertEqual(cl.convolutionSolutions(for: wide, direction: direction).first?.algorithm,
                           cl.info.hasNarrowVectors ? .channelsLast : .winogradF4x3)
            XCTAssertEqual(cl.convolutionSolutions(for: early, direction: direction).first?.algorithm, .channelsLast)
        }
        XCTAssertFalse(cl.winogradF4x3IsCPUDefault(wide, direction: .backwardFilter))
        XCTAssertNotEqual(cl.convolutionSolutions(for: wide, direction: .backwardFilter).first?.algorithm, .winogradF4x3)
        // A batch whose channels-last copy passes the default workspace bound is left to the other rules.
        let large = try Conv2DDescriptor(batch: 512, inChannels: 256, inH: 28, inW: 28, outChannels: 256, kernelH: 3,
                                         kernelW: 3, padding: Padding2D(1))
        XCTAssertFalse(cl.channelsLastIsCPUDefault(large, direction: .forward))
    }

    func testForwardMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forward(cl, problems: try Self.problems(), parameterSets: Self.parameterSets,
                                 tolerance: Self.tolerance) { d, x, w, b, act, y, p in
            let ws = try cl.makeBuffer([Float](repeating: .nan, count: cl.winogradF4x3WorkspaceCount(d, direction: .forward)))
            try cl.winogradF4x3Forward(d, x: x, weight: w, bias: b, activation: act, y: y, workspace: ws, parameters: p)
        }
    }

    func testBackwardDataMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.backwardData(cl, problems: try Self.problems(), parameterSets: Self.parameterSets,
                                      tolerance: Self.tolerance) { d, dy, w, dx, p in
            let count = cl.winogradF4x3WorkspaceCount(d, direction: .backwardData)
            let ws = try cl.makeBuffer([Float](repeating: .nan, count: count))
            try cl.winogradF4x3BackwardData(d, dy: dy, weight: w, dx: dx, workspace: ws, parameters: p)
        }
    }

    /// Through the public API with the algorithm forced, as a compiled plan would run it.
    func testPublicConvolutionRunsIt() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { ConvolutionAlgorithm.forced = nil }
        ConvolutionAlgorithm.forced = .winogradF4x3
        var rng = SeededGenerator.fresh()
        let d = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 11, inW: 12, outChannels: 9, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        let Y = try cl.allocate(d.outputCount, dtype: .float32), DX = try cl.allocate(d.inputCount, dtype: .float32)
        let W = try cl.makeBuffer(w)
        try cl.convolutionForward(d, x: try cl.makeBuffer(x), weight: W, bias: nil, y: Y)
        try cl.convolutionBackwardData(d, dy: try cl.makeBuffer(dy), weight: W, dx: DX)
        let wd = w.map(Double.init)
        assertClose(try cl.download(Y), ConvolutionReference.forward(d, x: x.map(Double.init), w: wd, bias: nil),
                    tolerance: Self.tolerance, "forward seed \(rng.seed)")
        assertClose(try cl.download(DX), ConvolutionReference.backwardData(d, dy: dy.map(Double.init), w: wd),
                    tolerance: Self.tolerance, "backward data seed \(rng.seed)")
    }

    func testBadUseIsRefusedClearly() throws {
        let cl = try TestBackends.requireOpenCL()
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2, padding: Padding2D(1))
        let widePad = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           padding: Padding2D(3))
        XCTAssertFalse(OpenCLBackend.winogradF4x3Applies(strided, direction: .forward))
        XCTAssertTrue(OpenCLBackend.winogradF4x3Applies(widePad, direction: .forward))
        XCTAssertFalse(OpenCLBackend.winogradF4x3Applies(widePad, direction: .backwardData))
        let X = try cl.allocate(strided.inputCount, dtype: .float32), W = try cl.allocate(strided.weightCount, dtype: .float32)
        let Y = try cl.allocate(strided.outputCount, dtype: .float32)
        var message = assertThrowsCNNError {
            try cl.winogradF4x3Forward(strided, x: X, weight: W, bias: nil, activation: nil, y: Y, workspace: nil, parameters: [:])
        }
        XCTAssertTrue(message?.contains("stride 1") == true, message ?? "")
        let d = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let small = try cl.allocate(10, dtype: .float32)
        message = assertThrowsCNNError {
            try cl.winogradF4x3Forward(d, x: X, weight: W, bias: nil, activation: nil, y: Y, workspace: small, parameters: [:])
        }
        XCTAssertTrue(message?.contains("winogradF4x3WorkspaceCount") == true, message ?? "")
        let ws = try cl.allocate(cl.winogradF4x3WorkspaceCount(d, direction: .forward), dtype: .float32)
        message = assertThrowsCNNError {
            try cl.winogradF4x3Forward(d, x: X, weight: W, bias: nil, activation: nil, y: Y, workspace: ws,
                                       parameters: ["TM": 24])
        }
        XCTAssertTrue(message?.contains("TM") == true, message ?? "")
        message = assertThrowsCNNError {
            try cl.encodeConvolutionBackwardFilter(d, x: X, dy: Y, dw: W, solution: ConvolutionSolution(.winogradF4x3),
                                                   workspace: nil)
        }
        XCTAssertTrue(message?.contains("backward-filter") == true, message ?? "")
    }
}
