@testable import CNNGPU
import XCTest

/// The CPU backend's transposed 1×1 backward-filter (CPUBackend+PointwiseFilterGradient.swift):
/// both orientations, even and uneven batch slices, against the Double reference; where the
/// heuristic puts it first; and too small a workspace refused.
final class PointwiseFilterGradientTests: XCTestCase {
    func testMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for (c, k, h, w) in [(37, 20, 5, 7), (20, 37, 6, 3), (64, 32, 9, 9), (1, 3, 4, 4)] {
            for batch in [1, 3, 4] {
                let d = try Conv2DDescriptor(batch: batch, inChannels: c, inH: h, inW: w, outChannels: k,
                                             kernelH: 1, kernelW: 1)
                let x = rng.floats(d.inputCount), weights = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
                let (_, _, expected, _) = ConvolutionTests.reference(d, x: x, w: weights, bias: [Float](repeating: 0, count: k),
                                                                     dy: dy)
                for threads in [1, 2, 3] {
                    let b = CPUBackend(threads: threads), solution = CPUBackend.pointwiseFilterTransposed
                    XCTAssertTrue(b.convolutionSolutions(for: d, direction: .backwardFilter).contains(solution))
                    let n = b.convolutionWorkspaceCount(d, direction: .backwardFilter, solution: solution)
                    let dw = try b.makeBuffer([Float](repeating: 3, count: d.weightCount))
                    try b.encodeConvolutionBackwardFilter(d, x: try b.makeBuffer(x), dy: try b.makeBuffer(dy), dw: dw,
                                                          solution: solution, workspace: try b.allocate(n, dtype: .float32))
                    assertClose(try b.download(dw), expected, "\(d.problemText), \(threads) threads, seed \(rng.seed)")
                }
            }
        }
    }

    /// First for ResNet-50's reducing 1×1 layers from 28² up; not for expanding ones, not
    /// below 28², and never offered for the other passes or for strided layers.
    func testHeuristic() throws {
        let b = CPUBackend(threads: 2)
        func d(_ c: Int, _ k: Int, _ size: Int, stride: Int = 1) throws -> Conv2DDescriptor {
            try Conv2DDescriptor(batch: 8, inChannels: c, inH: size, inW: size, outChannels: k, kernelH: 1, kernelW: 1,
                                 strideH: stride, strideW: stride)
        }
        let solution = CPUBackend.pointwiseFilterTransposed
        for (c, k, size) in [(256, 64, 56), (256, 128, 56), (512, 128, 28), (512, 256, 28)] {
            XCTAssertEqual(b.convolutionSolutions(for: try d(c, k, size), direction: .backwardFilter).first, solution)
        }
        for (c, k, size) in [(64, 256, 56), (64, 64, 56), (1024, 256, 14), (2048, 512, 7)] {
            XCTAssertNotEqual(b.convolutionSolutions(for: try d(c, k, size), direction: .backwardFilter).first, solution)
        }
        XCTAssertFalse(b.convolutionSolutions(for: try d(256, 64, 56), direction: .forward).contains(solution))
        XCTAssertFalse(b.convolutionSolutions(for: try d(256, 64, 56, stride: 2), direction: .backwardFilter)
            .contains(solution))
    }

    func testTooSmallWorkspaceIsRefused() throws {
        let b = CPUBackend(threads: 2)
        let d = try Conv2DDescriptor(batch: 4, inChannels: 40, inH: 5, inW: 5, outChannels: 32, kernelH: 1, kernelW: 1)
        let x = try b.allocate(d.inputCount, dtype: .float32), dy = try b.allocate(d.outputCount, dtype: .float32)
        let dw = try b.allocate(d.weightCount, dtype: .float32), small = try b.allocate(d.weightCount, dtype: .float32)
        let message = assertThrowsCNNError {
            try b.encodeConvolutionBackwardFilter(d, x: x, dy: dy, dw: dw, solution: CPUBackend.pointwiseFilterTransposed,
                                                  workspace: small)
        }
        XCTAssertTrue(message?.contains("convolutionWorkspaceCount") ?? false, message ?? "")
    }
}
