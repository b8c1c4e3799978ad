@testable import CNNGPU
import XCTest

/// The fully connected solver (1×1 convolutions on 1×1 images, the weight streamed once for the
/// whole batch): every pass against the Double reference under several parameter sets of each
/// table: inputs that end in a partial vector of every width (and rows shorter than one vector),
/// row and image tiles past the layer, batches of more than one image tile, reductions split into
/// chunks (partial sums and the second pass) and not, work-groups of one and of many (the forward's
/// local-memory tree, runs of vectors shared by a group's work-items).
final class FullyConnectedSolverTests: XCTestCase {
    static let forwardSets: [TunableParameters] = [
        ["FC_VW": 16, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 32, "FCF_WG": 1],
        ["FC_VW": 16, "FCF_KT": 3, "FCF_NB": 4, "FCF_CHUNK": 8, "FCF_WG": 1],
        ["FC_VW": 8, "FCF_KT": 4, "FCF_NB": 2, "FCF_CHUNK": 4096, "FCF_WG": 1],
        ["FC_VW": 4, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 16, "FCF_WG": 16],
        ["FC_VW": 4, "FCF_KT": 1, "FCF_NB": 1, "FCF_CHUNK": 1024, "FCF_WG": 64],
    ]
    static let backwardDataSets: [TunableParameters] = [
        ["FC_VW": 16, "FCD_CT": 2, "FCD_NB": 8, "FCD_CHUNK": 512, "FCD_WG": 1],
        ["FC_VW": 16, "FCD_CT": 3, "FCD_NB": 4, "FCD_CHUNK": 64, "FCD_WG": 1],
        ["FC_VW": 8, "FCD_CT": 4, "FCD_NB": 2, "FCD_CHUNK": 128, "FCD_WG": 1],
        ["FC_VW": 4, "FCD_CT": 2, "FCD_NB": 8, "FCD_CHUNK": 64, "FCD_WG": 16],
        ["FC_VW": 4, "FCD_CT": 1, "FCD_NB": 1, "FCD_CHUNK": 16384, "FCD_WG": 64],
    ]
    static let filterSets: [TunableParameters] = [
        ["FC_VW": 16, "FCW_KT": 4, "FCW_CT": 2, "FCW_WG": 1],
        ["FC_VW": 16, "FCW_KT": 8, "FCW_CT": 1, "FCW_WG": 1],
        ["FC_VW": 8, "FCW_KT": 2, "FCW_CT": 4, "FCW_WG": 1],
        ["FC_VW": 4, "FCW_KT": 4, "FCW_CT": 2, "FCW_WG": 16],
        ["FC_VW": 4, "FCW_KT": 1, "FCW_CT": 1, "FCW_WG": 64],
    ]

    static func dense(batch: Int, inputs: Int, outputs: Int) throws -> Conv2DDescriptor {
        try Conv2DDescriptor(batch: batch, inChannels: inputs, inH: 1, inW: 1, outChannels: outputs, kernelH: 1, kernelW: 1)
    }

    func testPassesMatchReference() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        // 37 inputs: a partial last vector of every width; 5: a row shorter than one vector;
        // 9 and 3 images: image tiles past the batch; 150 outputs: backward data in 64-row chunks
        // (three, the last partial); 1000 inputs: the forward in 8 chunks of 128.
        let problems = [
            try Self.dense(batch: 3, inputs: 37, outputs: 13),
            try Self.dense(batch: 9, inputs: 64, outputs: 7),
            try Self.dense(batch: 1, inputs: 5, outputs: 3),
            try Self.dense(batch: 5, inputs: 1000, outputs: 150),
        ]
        for d in problems {
            for i in 0 ..< Self.forwardSets.count {
                let (pf, pd, pw) = (Self.forwardSets[i], Self.backwardDataSets[i], Self.filterSets[i])
                let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(d.outChannels)
                let dy = rng.floats(d.outputCount)
                let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b), DY = try cl.makeBuffer(dy)
                let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
                let DX = try cl.makeBuffer([Float](repeating: .nan, count: d.inputCount))
                let DW = try cl.makeBuffer([Float](repeating: .nan, count: d.weightCount))
                func workspace(_ direction: ConvolutionDirection, _ p: TunableParameters) throws -> (any DeviceBuffer)? {
                    let count = cl.fullyConnectedWorkspaceCount(d, direction: direction, parameters: p)
                    return count > 0 ? try cl.makeBuffer([Float](repeating: .nan, count: count)) : nil
                }
                try cl.fullyConnectedForward(d, x: X, weight: W, bias: B, activation: .leakyReLU(alpha: 0.1), y: Y,
                                             workspace: try workspace(.forward, pf), parameters: pf)
                try cl.fullyConnectedBackwardData(d, dy: DY, weight: W, dx: DX, workspace: try workspace(.backwardData, pd),
                                                  parameters: pd)
                try cl.fullyConnectedBackwardFilter(d, x: X, dy: DY, dw: DW, parameters: pw)
                let message = "\(d.problemText) seed \(rng.seed)"
                assertClose(try cl.download(Y), ActivationReference.forward(.leakyReLU(alpha: 0.1), ConvolutionReference.forward(
                    d, x: x.doubles, w: w.doubles, bias: b.doubles)), tolerance: 1e-5, "forward \(pf) " + message)
                assertClose(try cl.download(DX), ConvolutionReference.backwardData(d, dy: dy.doubles, w: w.doubles),
                            tolerance: 1e-5, "backward data \(pd) " + message)
                assertClose(try cl.download(DW), ConvolutionReference.backwardFilter(d, x: x.doubles, dy: dy.doubles),
                            tolerance: 1e-5, "backward filter \(pw) " + message)
                // Without bias or activation, through the backend's entry point.
                try cl.encodeConvolutionForward(d, x: X, weight: W, bias: nil, activation: nil, y: Y,
                                                solution: ConvolutionSolution(.fullyConnected, parameters: pf),
                                                workspace: try workspace(.forward, pf))
                assertClose(try cl.download(Y), ConvolutionReference.forward(d, x: x.doubles, w: w.doubles, bias: nil),
                            tolerance: 1e-5, "forward, no epilogue \(pf) " + message)
            }
        }
    }

    /// Through the public API with the solver forced, as a compiled plan runs it (the backend
    /// sizes the workspace and picks the parameters), against the CPU backend.
    func testForcedMatchesCPUBackend() throws {
        let cl = try TestBackends.requireOpenCL()
        try SolverParity.forcedMatchesCPU(cl, .fullyConnected, try Self.dense(batch: 8, inputs: 600, outputs: 100))
    }

    /// Offered only for 1×1 layers on 1×1 images; chunked sets need their workspace, bad sets
    /// are named; on CPU devices it comes first for fully connected layers.
    func testCandidatesAndApplicability() throws {
        let cl = try TestBackends.requireOpenCL()
        let fc = try Self.dense(batch: 8, inputs: 4096, outputs: 1000)
        for direction in ConvolutionDirection.allCases {
            XCTAssertTrue(OpenCLBackend.fullyConnectedApplies(fc, direction: direction))
            XCTAssertFalse(cl.fullyConnectedCandidates(fc, direction: direction).isEmpty, "\(direction)")
            XCTAssertTrue(cl.convolutionSolutions(for: fc, direction: direction).contains { $0.algorithm == .fullyConnected })
        }
        let plane = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 2, inW: 1, outChannels: 8, kernelH: 1, kernelW: 1)
        let grouped = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 1, inW: 1, outChannels: 8, kernelH: 1, kernelW: 1,
                                           groups: 2)
        let padded = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 1, inW: 1, outChannels: 8, kernelH: 3, kernelW: 3,
                                          padding: Padding2D(1))
        for d in [plane, grouped, padded] {
            XCTAssertFalse(OpenCLBackend.fullyConnectedApplies(d, direction: .forward), d.problemText)
            XCTAssertTrue(cl.fullyConnectedCandidates(d, direction: .forward).isEmpty, d.problemText)
        }
        let X = try cl.allocate(plane.inputCount, dtype: .float32), W = try cl.allocate(plane.weightCount, dtype: .float32)
        let Y = try cl.allocate(plane.outputCount, dtype: .float32)
        let wrongShape = assertThrowsCNNError {
            try cl.fullyConnectedForward(plane, x: X, weight: W, bias: nil, activation: nil, y: Y, workspace: nil, parameters: [:])
        }
        XCTAssertTrue(wrongShape?.contains("1×1 images") == true, wrongShape ?? "")

        let FX = try cl.allocate(fc.inputCount, dtype: .float32), FW = try cl.allocate(fc.weightCount, dtype: .float32)
        let FY = try cl.allocate(fc.outputCount, dtype: .float32)
        let chunked: TunableParameters = ["FC_VW": 16, "FCF_KT": 2, "FCF_NB": 8, "FCF_CHUNK": 32, "FCF_WG": 1]
        XCTAssertEqual(cl.fullyConnectedWorkspaceCount(fc, direction: .forward, parameters: chunked), 8 * 8 * 1000)
        let noWorkspace = assertThrowsCNNError {
            try cl.fullyConnectedForward(fc, x: FX, weight: FW, bias: nil, activation: nil, y: FY, workspace: nil,
                                         parameters: chunked)
        }
        XCTAssertTrue(noWorkspace?.contains("workspace of 64000 floats") == true, noWorkspace ?? "")
        let badSet = assertThrowsCNNError {
            try cl.fullyConnectedBackwardFilter(fc, x: FX, dy: FY, dw: FW, parameters: ["FC_VW": 5])
        }
        XCTAssertTrue(badSet?.contains("FC_VW") == true, badSet ?? "")
        if cl.policy == .cpu {
            for direction in ConvolutionDirection.allCases {
                XCTAssertEqual(cl.convolutionSolutions(for: fc, direction: direction).first?.algorithm, .fullyConnected,
                               "\(direction)")
            }
        }
    }
}
