@testable import CNNGPU
import XCTest

/// The CPU backend's oneDNN solver (CPUBackend+OneDNNConvolution.swift) in both layouts: every
/// shared case (strides, padding, dilation, groups, depthwise, 1×1, odd sizes) and random
/// problems against the Double reference, with 1–3 threads; the fused epilogue against the
/// unfused sequence; and the workspace it reports is what it needs.
final class OneDNNConvolutionTests: XCTestCase {
    /// Both layouts, on the batch split and whole on oneDNN's threading (`team`).
    static let layouts = [CPUBackend.oneDNNBlocked, CPUBackend.oneDNNPlain, CPUBackend.oneDNNBlockedTeam,
                          CPUBackend.oneDNNPlainTeam]

    /// Forward with bias and both backward passes of `d` through `solution`, each with exactly
    /// the workspace the backend asks for; outputs start as garbage.
    static func run(_ b: CPUBackend, _ d: Conv2DDescriptor, _ solution: ConvolutionSolution, x: [Float], w: [Float],
                    bias: [Float], dy: [Float], activation: Activation? = nil) throws -> (y: [Float], dx: [Float], dw: [Float]) {
        func workspace(_ direction: ConvolutionDirection) throws -> (any DeviceBuffer)? {
            let n = b.convolutionWorkspaceCount(d, direction: direction, solution: solution)
            return n > 0 ? try b.allocate(n, dtype: .float32) : nil
        }
        let X = try b.makeBuffer(x), W = try b.makeBuffer(w), B = try b.makeBuffer(bias), DY = try b.makeBuffer(dy)
        let Y = try b.makeBuffer([Float](repeating: 3, count: d.outputCount))
        let DX = try b.makeBuffer([Float](repeating: 3, count: d.inputCount))
        let DW = try b.makeBuffer([Float](repeating: 3, count: d.weightCount))
        try b.encodeConvolutionForward(d, x: X, weight: W, bias: B, activation: activation, y: Y, solution: solution,
                                       workspace: try workspace(.forward))
        try b.encodeConvolutionBackwardData(d, dy: DY, weight: W, dx: DX, solution: solution,
                                            workspace: try workspace(.backwardData))
        try b.encodeConvolutionBackwardFilter(d, x: X, dy: DY, dw: DW, solution: solution,
                                              workspace: try workspace(.backwardFilter))
        return (try b.download(Y), try b.download(DX), try b.download(DW))
    }

    /// A ResNet-like problem: widths past one 16-channel block with a partial last block.
    static func wideProblems() throws -> [Conv2DDescriptor] {
        [try Conv2DDescriptor(batch: 2, inChannels: 35, inH: 9, inW: 11, outChannels: 40, kernelH: 3, kernelW: 3,
                              padding: Padding2D(1)),
         try Conv2DDescriptor(batch: 3, inChannels: 48, inH: 7, inW: 6, outChannels: 33, kernelH: 1, kernelW: 1),
         try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 23, inW: 21, outChannels: 32, kernelH: 7, kernelW: 7,
                              strideH: 2, strideW: 2, padding: Padding2D(3)),
         try Conv2DDescriptor(batch: 2, inChannels: 32, inH: 10, inW: 10, outChannels: 64, kernelH: 3, kernelW: 3,
                              strideH: 2, strideW: 2, padding: Padding2D(1))]
    }

    func testEveryCaseInBothLayoutsMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        var problems = try ConvolutionTests.cases().map { ($0.name, $0.d) }
        problems += try Self.wideProblems().map { ("wide \($0.problemText)", $0) }
        problems += try (0..<6).map { _ in let d = try FusedConvolutionTests.randomProblem(&rng); return ("random \(d)", d) }
        for (name, d) in problems {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let (y, dx, dw, _) = ConvolutionTests.reference(d, x: x, w: w, bias: bias, dy: dy)
            for threads in [1, 2, 3] {
                let b = CPUBackend(threads: threads)
                for solution in Self.layouts {
                    let r = try Self.run(b, d, solution, x: x, w: w, bias: bias, dy: dy)
                    let m = "\(solution) \(name), \(threads) threads, seed \(rng.seed)"
                    assertClose(r.y, y, "forward \(m)")
                    assertClose(r.dx, dx, "backward data \(m)")
                    assertClose(r.dw, dw, "backward filter \(m)")
                }
            }
        }
    }

    /// A `team` solution runs the whole batch as one primitive on the backend's worker count,
    /// and is offered only where the batch split would not already do so.
    func testTeamSolutionsRunTheWholeBatchOnTheWorkers() throws {
        let d = try Conv2DDescriptor(batch: 4, inChannels: 64, inH: 7, inW: 7, outChannels: 64, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        let b = CPUBackend(threads: 2)
        for team in [CPUBackend.oneDNNBlockedTeam, CPUBackend.oneDNNPlainTeam] {
            let (slices, omp) = b.oneDNNSlices(d, team)
            XCTAssertEqual(slices, [0..<4])
            XCTAssertEqual(omp, 2)
            XCTAssert(b.convolutionSolutions(for: d, direction: .forward).contains(team))
        }
        XCTAssertEqual(b.oneDNNSlices(d, CPUBackend.oneDNNBlocked).slices, [0..<2, 2..<4])
        var one = d
        one.batch = 1
        XCTAssertFalse(b.convolutionSolutions(for: one, direction: .forward).contains(CPUBackend.oneDNNBlockedTeam))
        XCTAssertFalse(CPUBackend(threads: 1).convolutionSolutions(for: d, direction: .forward)
            .contains(CPUBackend.oneDNNPlainTeam))
    }

    /// The workers reorder the weights once into one shared copy, and sum their weight-gradient
    /// copies in the blocked layout before one reorder back, wherever oneDNN picks the same weight
    /// layout for every slice; even and uneven slices, all three passes against the reference.
    func testSlicesShareOneWeightCopy() throws {
        var rng = SeededGenerator.fresh()
        for problem in try Self.wideProblems() {
            for (batch, threads) in [(4, 2), (5, 2), (5, 3)] {
                var d = problem
                d.batch = batch
                let b = CPUBackend(threads: threads), blocked = CPUBackend.oneDNNBlocked
                let forward = try b.oneDNNLayout(d, .forward, blocked, bias: true, activation: nil)
                let filter = try b.oneDNNLayout(d, .backwardFilter, blocked, bias: false, activation: nil)
                let m = "\(d.problemText), \(threads) threads, seed \(rng.seed)"
                if batch % threads == 0 {
                    XCTAssertTrue(forward.sharedLayout, "equal slices share one weight layout: \(m)")
                    XCTAssertEqual(Set(forward.weightCopies).count, 1, m)
                    XCTAssertTrue(filter.sharedLayout, m)
                    XCTAssertEqual(Set(filter.weightCopies).count, threads, "one gradient copy per slice: \(m)")
                }
                let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
                let dy = rng.floats(d.outputCount)
                let (y, dx, dw, _) = ConvolutionTests.reference(d, x: x, w: w, bias: bias, dy: dy)
                let r = try Self.run(b, d, blocked, x: x, w: w, bias: bias, dy: dy)
                assertClose(r.y, y, "forward \(m)")
                assertClose(r.dx, dx, "backward data \(m)")
                assertClose(r.dw, dw, "backward filter \(m)")
            }
        }
    }

    /// The channel split (`oneDNNChannelSplit`): slices of whole 16-channel blocks and a ragged
    /// last one, more workers than blocks, batches smaller than the workers, bias and ReLU; all
    /// three passes against the reference with exactly the workspace the backend asks for.
    func testChannelSplitMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        let problems = try Self.wideProblems() + [
            try Conv2DDescriptor(batch: 3, inChannels: 70, inH: 5, inW: 7, outChannels: 50, kernelH: 3, kernelW: 3,
                                 padding: Padding2D(1)),
            try Conv2DDescriptor(batch: 2, inChannels: 64, inH: 6, inW: 6, outChannels: 96, kernelH: 1, kernelW: 1),
            // A strided 3×3 in ragged blocks, as the filter gradient of ResNet-50's 3×3/2 256→256 runs.
            try Conv2DDescriptor(batch: 3, inChannels: 40, inH: 11, inW: 9, outChannels: 48, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padding: Padding2D(1)),
            try FusedConvolutionTests.randomProblem(&rng)]
            + (0..<2).map { _ in
                let k = [1, 3].randomElement(using: &rng)!
                return try Conv2DDescriptor(batch: Int.random(in: 1...4, using: &rng),
                                            inChannels: Int.random(in: 17...70, using: &rng),
                                            inH: Int.random(in: 4...9, using: &rng), inW: Int.random(in: 4...9, using: &rng),
                                            outChannels: Int.random(in: 17...70, using: &rng), kernelH: k, kernelW: k,
                                            strideH: Int.random(in: 1...2, using: &rng), strideW: Int.random(in: 1...2, using: &rng),
                                            padding: Padding2D(k / 2), dilationH: k > 1 && Bool.random(using: &rng) ? 2 : 1)
            }
        let split = CPUBackend.oneDNNChannelSplit
        for problem in problems {
            for (batch, threads) in [(problem.batch, 2), (1, 2), (4, 3)] {
                var d = problem
                d.batch = batch
                let b = CPUBackend(threads: threads)
                let m = "\(d.problemText), \(threads) threads, seed \(rng.seed)"
                for direction in ConvolutionDirection.allCases {
                    let channels = direction == .backwardData ? d.inChannels : d.outChannels
                    let slices = b.oneDNNChannelSlices(d, direction)
                    if d.groups == 1, channels > 16 {
                        XCTAssertEqual(slices?.count, min(threads, (channels + 15) / 16), "\(direction) \(m)")
                        XCTAssertEqual(slices?.first?.lowerBound, 0, m)
                        XCTAssertEqual(slices?.last?.upperBound, channels, m)
                        XCTAssertTrue(slices?.dropLast().allSatisfy { $0.count % 16 == 0 } ?? false, "whole blocks: \(m)")
                        let layout = try b.oneDNNLayout(d, direction, split, bias: true, activation: nil)
                        XCTAssertEqual(layout.channels, slices, "the slices agree on the shared copy's layout: \(m)")
                    } else {
                        XCTAssertNil(slices, "one block or groups: the batch split, \(direction) \(m)")
                    }
                }
                let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
                let dy = rng.floats(d.outputCount)
                let (y, dx, dw, _) = ConvolutionTests.reference(d, x: x, w: w, bias: bias, dy: dy)
                let r = try Self.run(b, d, split, x: x, w: w, bias: bias, dy: dy)
                assertClose(r.y, y, "forward \(m)")
                assertClose(r.dx, dx, "backward data \(m)")
                assertClose(r.dw, dw, "backward filter \(m)")
                let fused = try Self.run(b, d, split, x: x, w: w, bias: bias, dy: dy, activation: .relu)
                assertClose(fused.y, y.map { max($0, 0) }, "forward with ReLU \(m)")
            }
        }
    }

    /// Post-op ReLUs and our own epilogue for the rest agree with convolution then activation.
    func testFusedEpilogueMatchesUnfused() throws {
        var rng = SeededGenerator.fresh()
        let b = TestBackends.cpu
        for d in try Self.wideProblems() + [FusedConvolutionTests.randomProblem(&rng)] {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            for solution in Self.layouts {
                let plain = try Self.run(b, d, solution, x: x, w: w, bias: bias, dy: dy)
                for activation in FusedConvolutionTests.activations {
                    let fused = try Self.run(b, d, solution, x: x, w: w, bias: bias, dy: dy, activation: activation)
                    let Y = try b.makeBuffer(plain.y)
                    try b.activationForward(activation, count: d.outputCount, x: Y, y: Y)
                    assertClose(fused.y, try b.download(Y), tolerance: 1e-6, "\(solution) \(activation) \(d) seed \(rng.seed)")
                }
            }
        }
    }

    /// Too small a workspace is refused with a message naming the fix, not written past.
    func testTooSmallWorkspaceIsRefused() throws {
        let b = TestBackends.cpu, d = try Self.wideProblems()[0]
        let needed = b.convolutionWorkspaceCount(d, direction: .forward, solution: CPUBackend.oneDNNBlocked)
        XCTAssertGreaterThan(needed, d.inputCount, "the blocked layout needs reordered copies in the workspace")
        let x = try b.allocate(d.inputCount, dtype: .float32), w = try b.allocate(d.weightCount, dtype: .float32)
        let y = try b.allocate(d.outputCount, dtype: .float32), small = try b.allocate(d.inputCount / 2, dtype: .float32)
        let message = assertThrowsCNNError {
            try b.encodeConvolutionForward(d, x: x, weight: w, bias: nil, activation: nil, y: y,
                                           solution: CPUBackend.oneDNNBlocked, workspace: small)
        }
        XCTAssertTrue(message?.contains("convolutionWorkspaceCount") ?? false, message ?? "")
    }

    /// ResNet-50's wide layers go to oneDNN (its 3×3 layers at 7² and their filter gradients at 14²
    /// on the channel split), but for LeNet's narrow layers our own kernels stay first.
    func testHeuristicPicksOneDNNForWideLayers() throws {
        let resnet3x3 = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 56, inW: 56, outChannels: 64,
                                             kernelH: 3, kernelW: 3, padding: Padding2D(1))
        let resnet1x1 = try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 56, inW: 56, outChannels: 64,
                                             kernelH: 1, kernelW: 1)
        for direction in ConvolutionDirection.allCases {
            XCTAssertEqual(TestBackends.cpu.convolutionSolutions(for: resnet3x3, direction: direction).first,
                           CPUBackend.oneDNNBlocked, "\(direction)")
            // Its filter gradient runs as transposed GEMMs (PointwiseFilterGradientTests).
            XCTAssertEqual(TestBackends.cpu.convolutionSolutions(for: resnet1x1, direction: direction).first,
                           direction == .backwardFilter ? CPUBackend.pointwiseFilterTransposed : CPUBackend.oneDNNPlain,
                           "\(direction)")
            var single = resnet3x3
            single.batch = 1
            if TestBackends.cpu.threads > 1 { XCTAssertNotEqual(TestBackends.cpu.convolutionSolutions(for: single, direction: direction).first?.algorithm,
                              .oneDNN, "batch 1 would run on OpenMP's threads") }
            let stage5 = try Conv2DDescriptor(batch: 8, inChannels: 512, inH: 7, inW: 7, outChannels: 512,
                                              kernelH: 3, kernelW: 3, padding: Padding2D(1))
            // Two workers, as measured. Without AVX-512 the filter gradients of the 7² and 14² stages
            // leave the blocked layout (`avx2PlainFilterPixels`).
            let avx2Filter = direction == .backwardFilter && CPUKernelISA.supported < .avx512
            XCTAssertEqual(CPUBackend(threads: 2).convolutionSolutions(for: stage5, direction: direction).first,
                           avx2Filter ? ConvolutionSolution(.im2colGEMM) : CPUBackend.oneDNNChannelSplit, "\(direction)")
            let stage4 = try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 14, inW: 14, outChannels: 256,
                                              kernelH: 3, kernelW: 3, padding: Padding2D(1))
            XCTAssertEqual(CPUBackend(threads: 2).convolutionSolutions(for: stage4, direction: direction).first,
                           avx2Filter ? CPUBackend.oneDNNPlain
                               : direction == .backwardFilter ? CPUBackend.oneDNNChannelSplit : CPUBackend.oneDNNBlocked,
                           "\(direction)")
            // Stage 4's strided 3×3 (28² -> 14²): only its filter gradient splits the channels; the
            // one from 56² keeps the batch split in every pass.
            let down4 = try Conv2DDescriptor(batch: 8, inChannels: 256, inH: 28, inW: 28, outChannels: 256, kernelH: 3,
                                             kernelW: 3, strideH: 2, strideW: 2, padding: Padding2D(1))
            XCTAssertEqual(CPUBackend(threads: 2).convolutionSolutions(for: down4, direction: direction).first,
                           avx2Filter ? CPUBackend.oneDNNPlain
                               : direction == .backwardFilter ? CPUBackend.oneDNNChannelSplit : CPUBackend.oneDNNBlocked,
                           "\(direction)")
            let down3 = try Conv2DDescriptor(batch: 8, inChannels: 128, inH: 56, inW: 56, outChannels: 128, kernelH: 3,
                                             kernelW: 3, strideH: 2, strideW: 2, padding: Padding2D(1))
            XCTAssertEqual(CPUBackend(threads: 2).convolutionSolutions(for: down3, direction: direction).first,
                           CPUBackend.oneDNNBlocked, "\(direction)")
            // The same 28² -> 14² at 128 channels (ResNet-50 at 112² input) was not measured: batch
            // split, but for the AVX2 filter gradient, which goes by the plane's size.
            let down3Small = try Conv2DDescriptor(batch: 8, inChannels: 128, inH: 28, inW: 28, outChannels: 128,
                                                  kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padding: Padding2D(1))
            XCTAssertEqual(CPUBackend(threads: 2).convolutionSolutions(for: down3Small, direction: direction).first,
                           avx2Filter ? CPUBackend.oneDNNPlain : CPUBackend.oneDNNBlocked, "\(direction)")
            XCTAssertNotEqual(TestBackends.cpu.convolutionSolutions(for: try BlockedConvolutionTests.cases()[1].d,
                                                                    direction: direction).first?.algorithm, .oneDNN)
        }
    }

    /// ResNet-50's 1×1 layers by shape: a strided forward runs im2col (a subsampling copy and a
    /// GEMM per image), backward-data at 14² with more input than output channels runs blocked,
    /// and so does it at 7² (where the rest run packed), the rest of the wide ones on oneDNN's
    /// NCHW path.
    func testHeuristicPlacesPointwiseLayersByShape() throws {
        let b = CPUBackend(threads: 2)
        func first(_ c: Int, _ k: Int, _ size: Int, stride: Int = 1, _ direction: ConvolutionDirection) throws
            -> ConvolutionSolution? {
            let d = try Conv2DDescriptor(batch: 8, inChannels: c, inH: size, inW: size, outChannels: k, kernelH: 1,
                                         kernelW: 1, strideH: stride, strideW: stride)
            return b.convolutionSolutions(for: d, direction: direction).first
        }
        let im2col = ConvolutionSolution(.im2colGEMM)
        XCTAssertEqual(try first(256, 512, 56, stride: 2, .forward), im2col)
        XCTAssertEqual(try first(512, 1024, 28, stride: 2, .forward), im2col)
        XCTAssertEqual(try first(256, 512, 56, stride: 2, .backwardData), CPUBackend.oneDNNPlain)
        XCTAssertEqual(try first(256, 512, 56, stride: 2, .backwardFilter), CPUBackend.oneDNNPlain)
        XCTAssertEqual(try first(1024, 256, 14, .backwardData), CPUBackend.oneDNNBlocked)
        XCTAssertEqual(try first(1024, 512, 14, .backwardData), CPUBackend.oneDNNBlocked)
        XCTAssertEqual(try first(256, 1024, 14, .backwardData), CPUBackend.oneDNNPlain)
        XCTAssertEqual(try first(1024, 256, 14, .forward), CPUBackend.oneDNNPlain)
        XCTAssertEqual(try first(512, 128, 28, .backwardData), CPUBackend.oneDNNPlain)
        XCTAssertEqual(try first(2048, 512, 7, .backwardData), CPUBackend.oneDNNBlocked)
        XCTAssertEqual(try first(512, 2048, 7, .backwardData), CPUBackend.im2colPacked)
    }
}
