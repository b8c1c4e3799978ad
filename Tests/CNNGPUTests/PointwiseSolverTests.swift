@testable import CNNGPU
import XCTest

/// The pointwise solver (1×1 convolution as a GEMM on NCHW, pixels as vector lanes), forward
/// with bias and activation and backward data, against the Double reference under several
/// parameter sets: output channels not a multiple of the work-item's (a partial channel block),
/// planes whose last pixel block holds fewer vectors, both launch orders, work-groups wider than
/// the blocks (work-items past the tensors), 4-, 8- and 16-pixel vectors, planes that end in a
/// partial vector.
final class PointwiseSolverTests: XCTestCase {
    static let parameterSets: [TunableParameters] = [
        ["PW_VW": 16, "PW_KT": 8, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1],
        ["PW_VW": 16, "PW_KT": 6, "PW_NP": 4, "PW_KFIRST": 0, "PW_WG": 8],
        ["PW_VW": 8, "PW_KT": 4, "PW_NP": 3, "PW_KFIRST": 1, "PW_WG": 16],
        ["PW_VW": 4, "PW_KT": 12, "PW_NP": 2, "PW_KFIRST": 0, "PW_WG": 64],
        ["PW_VW": 4, "PW_KT": 1, "PW_NP": 1, "PW_KFIRST": 1, "PW_WG": 1],
    ]

    func testForwardAndBackwardDataMatchReference() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        // 48 pixels: three 16-pixel vectors (a second block of one vector with NP 2), six of 8
        // (NP 3: two whole blocks), twelve of 4; 13 and 7 output channels: partial blocks.
        // 49 and 15 pixels: planes that end in a partial vector of every width (one lane of 16
        // after three whole vectors; 15 of 16 with no whole one).
        let problems = [
            try Conv2DDescriptor(batch: 3, inChannels: 5, inH: 6, inW: 8, outChannels: 13, kernelH: 1, kernelW: 1),
            try Conv2DDescriptor(batch: 1, inChannels: 19, inH: 4, inW: 12, outChannels: 7, kernelH: 1, kernelW: 1),
            try Conv2DDescriptor(batch: 2, inChannels: 6, inH: 7, inW: 7, outChannels: 9, kernelH: 1, kernelW: 1),
            try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 3, inW: 5, outChannels: 4, kernelH: 1, kernelW: 1),
        ]
        for d in problems {
            for p in Self.parameterSets {
                XCTAssertTrue(OpenCLBackend.pointwiseApplies(d, direction: .forward))
                let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(d.outChannels)
                let dy = rng.floats(d.outputCount)
                let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b), DY = try cl.makeBuffer(dy)
                let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
                let DX = try cl.makeBuffer([Float](repeating: .nan, count: d.inputCount))
                try cl.pointwiseForward(d, x: X, weight: W, bias: B, activation: .leakyReLU(alpha: 0.1), y: Y, parameters: p)
                try cl.pointwiseBackwardData(d, dy: DY, weight: W, dx: DX, parameters: p)
                let message = "\(d.problemText) \(p) seed \(rng.seed)"
                assertClose(try cl.download(Y), ActivationReference.forward(.leakyReLU(alpha: 0.1), ConvolutionReference.forward(
                    d, x: x.doubles, w: w.doubles, bias: b.doubles)), tolerance: 1e-5, "forward " + message)
                assertClose(try cl.download(DX), ConvolutionReference.backwardData(d, dy: dy.doubles, w: w.doubles),
                            tolerance: 1e-5, "backward data " + message)
                // Without bias or activation, through the backend's entry point.
                try cl.encodeConvolutionForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y,
                                                solution: ConvolutionSolution(.pointwise, parameters: p), workspace: nil)
                assertClose(try cl.download(Y), ConvolutionReference.forward(d, x: x.doubles, w: w.doubles, bias: nil),
                            tolerance: 1e-5, "forward, no epilogue " + message)
            }
        }
    }

    /// The solver is offered where it applies, with only vector widths that divide the plane,
    /// and is the CPU default on 16-float devices for ResNet's 1×1 layers at 56² and 28² (their
    /// filter gradient where the layer widens).
    func testCandidatesAndApplicability() throws {
        let cl = try TestBackends.requireOpenCL()
        // Any plane size: a 7² or 14² plane ends in a partial vector.
        let plane7 = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 7, inW: 7, outChannels: 8, kernelH: 1, kernelW: 1)
        XCTAssertTrue(OpenCLBackend.pointwiseApplies(plane7, direction: .forward))
        XCTAssertFalse(cl.pointwiseCandidates(plane7, direction: .forward).isEmpty)
        XCTAssertTrue(cl.pointwiseCandidates(plane7, direction: .backwardData).contains { $0["PW_VW"] == 16 })
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 1, kernelW: 1,
                                           strideH: 2, strideW: 2)
        let threeByThree = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 3, kernelW: 3,
                                                padding: Padding2D(1))
        let grouped = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 1, kernelW: 1,
                                           groups: 2)
        for d in [strided, threeByThree, grouped] {
            XCTAssertFalse(OpenCLBackend.pointwiseApplies(d, direction: .forward), d.problemText)
            XCTAssertTrue(cl.pointwiseCandidates(d, direction: .forward).isEmpty, d.problemText)
        }
        let X = try cl.allocate(strided.inputCount, dtype: .float32), W = try cl.allocate(strided.weightCount, dtype: .float32)
        let Y = try cl.allocate(strided.outputCount, dtype: .float32)
        let message = assertThrowsCNNError {
            try cl.pointwiseForward(strided, x: X, weight: W, bias: nil, activation: nil, y: Y, parameters: [:])
        }
        XCTAssertTrue(message?.contains("stride 1") == true, message ?? "")
        let badSet = assertThrowsCNNError {
            try cl.pointwiseForward(plane7, x: try cl.allocate(plane7.inputCount, dtype: .float32),
                                    weight: try cl.allocate(plane7.weightCount, dtype: .float32), bias: nil, activation: nil,
                                    y: try cl.allocate(plane7.outputCount, dtype: .float32),
                                    parameters: ["PW_VW": 5, "PW_KT": 8, "PW_NP": 2, "PW_KFIRST": 1, "PW_WG": 1])
        }
        XCTAssertTrue(badSet?.contains("PW_VW") == true, badSet ?? "")

        let resnet = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 256, kernelH: 1, kernelW: 1)
        let first = cl.convolutionSolutions(for: resnet, direction: .forward).first?.algorithm
        if cl.policy == .cpu && cl.info.nativeFloatVectorWidth >= 16 {
            XCTAssertEqual(first, .pointwise)
            XCTAssertEqual(cl.convolutionSolutions(for: resnet, direction: .backwardData).first?.algorithm, .pointwise)
            // The filter gradient only where the layer widens (64→256 here, not 256→64).
            XCTAssertEqual(cl.convolutionSolutions(for: resnet, direction: .backwardFilter).first?.algorithm, .pointwise)
            let narrowing = try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 56, inW: 56, outChannels: 64,
                                                 kernelH: 1, kernelW: 1)
            XCTAssertEqual(cl.convolutionSolutions(for: narrowing, direction: .forward).first?.algorithm, .pointwise)
            XCTAssertNotEqual(cl.convolutionSolutions(for: narrowing, direction: .backwardFilter).first?.algorithm, .pointwise)
        }
    }
}
