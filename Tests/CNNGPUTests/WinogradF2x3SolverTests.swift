@testable import CNNGPU
import XCTest

/// Winograd F(2×2, 3×3), forward (with bias and activation) and backward data, against the
/// Double reference and the implicit-GEMM solver: odd sizes (partial 2×2 tiles), no padding,
/// asymmetric padding, batch 1 and 3.
final class WinogradF2x3SolverTests: XCTestCase {
    static func problems() throws -> [Conv2DDescriptor] {
        [
            try Conv2DDescriptor(batch: 3, inChannels: 5, inH: 7, inW: 9, outChannels: 6, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 1, inChannels: 17, inH: 6, inW: 5, outChannels: 3, kernelH: 3, kernelW: 3),
            try Conv2DDescriptor(batch: 2, inChannels: 4, inH: 8, inW: 7, outChannels: 5, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(top: 0, bottom: 2, left: 1, right: 0)),
        ]
    }

    func testForwardAndBackwardDataMatchReference() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        for d in try Self.problems() {
            XCTAssertTrue(OpenCLBackend.winogradF2x3Applies(d, direction: .forward))
            XCTAssertTrue(OpenCLBackend.winogradF2x3Applies(d, direction: .backwardData))
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b), DY = try cl.makeBuffer(dy)
            let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
            let DX = try cl.makeBuffer([Float](repeating: .nan, count: d.inputCount))
            let count = max(cl.winogradF2x3WorkspaceCount(d, direction: .forward),
                            cl.winogradF2x3WorkspaceCount(d, direction: .backwardData))
            let WS = try cl.makeBuffer([Float](repeating: .nan, count: count))
            try cl.winogradF2x3Forward(d, x: X, weight: W, bias: B, activation: .tanh, y: Y, workspace: WS)
            try cl.winogradF2x3BackwardData(d, dy: DY, weight: W, dx: DX, workspace: WS)
            let (xd, wd) = (x.map(Double.init), w.map(Double.init))
            assertClose(try cl.download(Y), ActivationReference.forward(.tanh, ConvolutionReference.forward(
                d, x: xd, w: wd, bias: b.map(Double.init))), tolerance: 2e-5, "Winograd forward \(d) seed \(rng.seed)")
            let expected = ConvolutionReference.backwardData(d, dy: dy.map(Double.init), w: wd)
            assertClose(try cl.download(DX), expected, tolerance: 2e-5, "Winograd backward data \(d) seed \(rng.seed)")
            // And against the direct-style implicit GEMM, to the same accuracy.
            let GDX = try cl.allocate(d.inputCount, dtype: .float32)
            let GWS = try cl.allocate(max(1, cl.implicitGEMMWorkspaceCount(d, direction: .backwardData, parameters: [:])),
                                      dtype: .float32)
            try cl.implicitGEMMBackwardData(d, dy: DY, weight: W, dx: GDX, workspace: GWS, parameters: [:])
            assertClose(try cl.download(DX), try cl.download(GDX), tolerance: 2e-5, "Winograd vs implicit GEMM \(d)")
        }
    }

    func testInapplicableProblemsAreRefusedClearly() throws {
        let cl = try TestBackends.requireOpenCL()
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           strideH: 2, strideW: 2, padding: Padding2D(1))
        let widePad = try Conv2DDescriptor(batch: 1, inChannels: 2, inH: 8, inW: 8, outChannels: 2, kernelH: 3, kernelW: 3,
                                           padding: Padding2D(3))
        XCTAssertFalse(OpenCLBackend.winogradF2x3Applies(strided, direction: .forward))
        XCTAssertTrue(OpenCLBackend.winogradF2x3Applies(widePad, direction: .forward))
        XCTAssertFalse(OpenCLBackend.winogradF2x3Applies(widePad, direction: .backwardData))
        XCTAssertFalse(OpenCLBackend.winogradF2x3Applies(widePad, direction: .backwardFilter))
        let X = try cl.allocate(strided.inputCount, dtype: .float32), W = try cl.allocate(strided.weightCount, dtype: .float32)
        let Y = try cl.allocate(strided.outputCount, dtype: .float32)
        let message = assertThrowsCNNError {
            try cl.winogradF2x3Forward(strided, x: X, weight: W, bias: nil, activation: nil, y: Y, workspace: nil)
        }
        XCTAssertTrue(message?.contains("stride 1") == true, message ?? "")
    }
}
