@testable import CNNGPU
import XCTest

/// 1×1 convolutions on the CPU backend as im2col + GEMM both ways: one GEMM per image, and with
/// the batch's images packed side by side (`CPUBackend.im2colPacked`); and the rules that choose
/// between them and oneDNN for ResNet-50's small-spatial stages.
final class PackedPointwiseConvolutionTests: XCTestCase {
    static let variants = [ConvolutionSolution(.im2colGEMM), CPUBackend.im2colPacked]

    /// Odd sizes, a single pixel, groups (fewer and more than images), one image, and a size
    /// past the packing threshold.
    static func problems(_ rng: inout SeededGenerator) throws -> [Conv2DDescriptor] {
        func pointwise(batch: Int, inC: Int, outC: Int, h: Int, w: Int, groups: Int = 1) throws -> Conv2DDescriptor {
            try Conv2DDescriptor(batch: batch, inChannels: inC, inH: h, inW: w, outChannels: outC, kernelH: 1, kernelW: 1,
                                 groups: groups)
        }
        return [try pointwise(batch: 5, inC: 37, outC: 33, h: 2, w: 2),
                try pointwise(batch: 3, inC: 20, outC: 40, h: 1, w: 1),
                try pointwise(batch: 1, inC: 9, outC: 35, h: 3, w: 5),
                try pointwise(batch: 4, inC: 6, outC: 9, h: 3, w: 3, groups: 3),
                try pointwise(batch: 2, inC: 6, outC: 6, h: 2, w: 3, groups: 6),
                try pointwise(batch: 3, inC: 17, outC: 34, h: 9, w: 9),
                try pointwise(batch: Int.random(in: 1...7, using: &rng), inC: Int.random(in: 1...48, using: &rng),
                              outC: Int.random(in: 1...48, using: &rng), h: Int.random(in: 1...7, using: &rng),
                              w: Int.random(in: 1...7, using: &rng))]
    }

    func testBothVariantsMatchReference() throws {
        var rng = SeededGenerator.fresh()
        for d in try Self.problems(&rng) {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let (y, dx, dw, _) = ConvolutionTests.reference(d, x: x, w: w, bias: bias, dy: dy)
            for threads in [1, 2, 3] {
                let b = CPUBackend(threads: threads)
                for solution in Self.variants {
                    let r = try OneDNNConvolutionTests.run(b, d, solution, x: x, w: w, bias: bias, dy: dy)
                    let m = "\(solution) \(d.problemText), \(threads) threads, seed \(rng.seed)"
                    assertClose(r.y, y, "forward \(m)")
                    assertClose(r.dx, dx, "backward data \(m)")
                    assertClose(r.dw, dw, "backward filter \(m)")
                }
            }
        }
    }

    /// The packed path's fused bias and activation equal the convolution followed by them.
    func testPackedEpilogueMatchesUnfused() throws {
        var rng = SeededGenerator.fresh()
        let b = TestBackends.cpu
        for d in try Self.problems(&rng) {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let plain = try OneDNNConvolutionTests.run(b, d, CPUBackend.im2colPacked, x: x, w: w, bias: bias, dy: dy)
            for activation in FusedConvolutionTests.activations {
                let fused = try OneDNNConvolutionTests.run(b, d, CPUBackend.im2colPacked, x: x, w: w, bias: bias, dy: dy,
                                                           activation: activation)
                let Y = try b.makeBuffer(plain.y)
                try b.activationForward(activation, count: d.outputCount, x: Y, y: Y)
                assertClose(fused.y, try b.download(Y), tolerance: 1e-6, "\(activation) \(d.problemText) seed \(rng.seed)")
            }
        }
    }

    /// A batch bigger than the workspace runs packed in chunks of 2 + 2 + 1 images.
    func testPackedChunksMatchReference() throws {
        var rng = SeededGenerator.fresh()
        let saved = ConvolutionWorkspace.limitBytes
        defer { ConvolutionWorkspace.limitBytes = saved }
        for groups in [1, 2] {
            let d = try Conv2DDescriptor(batch: 5, inChannels: 12, inH: 3, inW: 2, outChannels: 10, kernelH: 1, kernelW: 1,
                                         groups: groups)
            ConvolutionWorkspace.limitBytes = 2 * ConvolutionWorkspace.perImage(d) * 4
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let (y, dx, dw, _) = ConvolutionTests.reference(d, x: x, w: w, bias: bias, dy: dy)
            let b = TestBackends.cpu
            XCTAssertEqual(ConvolutionWorkspace.imagesPerChunk(
                d, workspaceCount: b.convolutionWorkspaceCount(d, direction: .forward, solution: CPUBackend.im2colPacked)), 2)
            let r = try OneDNNConvolutionTests.run(b, d, CPUBackend.im2colPacked, x: x, w: w, bias: bias, dy: dy)
            let m = "groups \(groups) seed \(rng.seed)"
            assertClose(r.y, y, "forward \(m)")
            assertClose(r.dx, dx, "backward data \(m)")
            assertClose(r.dw, dw, "backward filter \(m)")
        }
    }

    /// Per-image 1×1 GEMMs need no workspace; packed ones need a chunk's columns and outputs.
    func testWorkspace() throws {
        let d = try Conv2DDescriptor(batch: 32, inChannels: 2048, inH: 2, inW: 2, outChannels: 512, kernelH: 1, kernelW: 1)
        let b = TestBackends.cpu
        for direction in ConvolutionDirection.allCases {
            XCTAssertEqual(b.convolutionWorkspaceCount(d, direction: direction, solution: ConvolutionSolution(.im2colGEMM)), 0)
            XCTAssertEqual(b.convolutionWorkspaceCount(d, direction: direction, solution: CPUBackend.im2colPacked),
                           32 * (2048 + 512) * 4)
        }
    }

    /// ResNet-50 at batch 32, 64² input, on two workers: 1×1 layers pack below 8² and run on
    /// oneDNN's NCHW path from 14²; 3×3 layers run blocked while a worker's slice has at least
    /// 256 output pixels (8² and 4² here) and on im2col + GEMM below (2²), and the batch-8 7²
    /// stage runs on oneDNN's channel split (each worker's primitive over the whole batch), its
    /// 1×1 backward-data with more input than output channels blocked.
    func testSmallSpatialRules() throws {
        let b = CPUBackend(threads: 2)
        func first(_ batch: Int, _ c: Int, _ k: Int, _ size: Int, _ r: Int, stride: Int = 1,
                   _ direction: ConvolutionDirection) throws -> ConvolutionSolution? {
            let d = try Conv2DDescriptor(batch: batch, inChannels: c, inH: size, inW: size, outChannels: k, kernelH: r,
                                         kernelW: r, strideH: stride, strideW: stride, padding: Padding2D(r / 2))
            return b.convolutionSolutions(for: d, direction: direction).first
        }
        for direction in ConvolutionDirection.allCases {
            XCTAssertEqual(try first(32, 2048, 512, 2, 1, direction), CPUBackend.im2colPacked, "\(direction)")
            XCTAssertEqual(try first(32, 256, 1024, 4, 1, direction), CPUBackend.im2colPacked, "\(direction)")
            XCTAssertEqual(try first(8, 2048, 512, 7, 1, direction),
                           direction == .backwardData ? CPUBackend.oneDNNBlocked : CPUBackend.im2colPacked, "\(direction)")
            XCTAssertEqual(try first(32, 512, 128, 8, 1, direction), ConvolutionSolution(.im2colGEMM), "\(direction)")
            XCTAssertEqual(try first(32, 256, 128, 16, 1, direction), CPUBackend.oneDNNPlain, "\(direction)")
            XCTAssertEqual(try first(32, 128, 128, 8, 3, direction), CPUBackend.oneDNNBlocked, "\(direction)")
            XCTAssertEqual(try first(32, 128, 128, 16, 3, stride: 2, direction), CPUBackend.oneDNNBlocked, "\(direction)")
            XCTAssertEqual(try first(32, 256, 256, 4, 3, direction), CPUBackend.oneDNNBlocked, "\(direction)")
            XCTAssertEqual(try first(32, 512, 512, 2, 3, direction), ConvolutionSolution(.im2colGEMM), "\(direction)")
            XCTAssertEqual(try first(32, 512, 512, 4, 3, stride: 2, direction), ConvolutionSolution(.im2colGEMM),
                           "\(direction)")
            XCTAssertEqual(try first(8, 512, 512, 7, 3, direction),
                           direction == .backwardFilter && CPUKernelISA.supported < .avx512
                               ? ConvolutionSolution(.im2colGEMM) : CPUBackend.oneDNNChannelSplit, "\(direction)")
            // At 14² (batch 8) the filter gradient runs packed, the other passes on oneDNN.
            XCTAssertEqual(try first(8, 1024, 256, 14, 1, direction),
                           direction == .backwardFilter ? CPUBackend.im2colPacked
                               : direction == .backwardData ? CPUBackend.oneDNNBlocked : CPUBackend.oneDNNPlain,
                           "\(direction)")
            // Narrow 1×1 layers keep the register-blocked loops first.
            XCTAssertEqual(try first(8, 6, 16, 2, 1, direction)?.algorithm, .direct, "\(direction)")
        }
    }
}
