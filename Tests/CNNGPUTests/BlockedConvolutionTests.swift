@testable import CNNGPU
import XCTest

/// The CPU backend's register-blocked convolution (CPUBackend+BlockedConvolution.swift) on
/// shapes the shared cases do not reach: LeNet's layers, channel counts that fill one, two and
/// a partial register block of 6, widths past one 8-wide column block, odd output heights,
/// and worker counts that split a batch unevenly, under every instruction set this processor has
/// (AVX-512 runs 16-wide column blocks of 4 rows or 4 filter taps, then 8-wide ones past the
/// last whole 16). Backward-data runs as GEMM + col2im (col2im_backward_data.c) except on the
/// 130² plane, whose column matrix is past `col2imMaxScratchBytes`.
final class BlockedConvolutionTests: XCTestCase {
    static func cases() throws -> [ConvCase] {
        func c(_ name: String, batch: Int, inC: Int, h: Int, w: Int, outC: Int, k: (Int, Int),
               padding: Padding2D) throws -> ConvCase {
            ConvCase(name: name, d: try Conv2DDescriptor(
                batch: batch, inChannels: inC, inH: h, inW: w, outChannels: outC, kernelH: k.0, kernelW: k.1,
                strideH: 1, strideW: 1, padding: padding))
        }
        return [
            try c("LeNet conv1", batch: 5, inC: 1, h: 28, w: 28, outC: 6, k: (5, 5), padding: Padding2D(2)),
            try c("LeNet conv2", batch: 3, inC: 6, h: 14, w: 14, outC: 16, k: (5, 5), padding: .zero),
            try c("13 channels, odd height, 17 wide, asymmetric padding", batch: 3, inC: 3, h: 9, w: 17, outC: 13,
                  k: (3, 4), padding: Padding2D(top: 2, bottom: 0, left: 1, right: 3)),
            try c("one output row", batch: 2, inC: 2, h: 5, w: 9, outC: 7, k: (5, 3), padding: .zero),
            try c("41 wide: two 16-wide blocks and a partial 8", batch: 2, inC: 4, h: 7, w: 43, outC: 8, k: (3, 3),
                  padding: .zero),
            // AVX-512 tiles: 7 output rows run as 4 + 2 + 1, 27 taps as 4-tap passes + 2 + 1, and a
            // 24-wide gradient row as a 16-wide pass plus an 8-wide one.
            try c("27 taps, 7 rows, 24 wide", batch: 3, inC: 3, h: 9, w: 26, outC: 11, k: (3, 3), padding: .zero),
            // Channels in whole blocks of 16 on narrow rows: with AVX-512 and AVX2 the forward pass
            // and the filter gradient run with channels along the lanes; AVX-512: 14 kernel rows
            // (2 channels × 7) as blocks of 4 + 4 + 4 + 2 and 7 columns as 6 + 1 (filter
            // gradient), 10 output columns as 5 + 5 and 7 rows as 4 + 3 (forward); AVX2: single
            // rows, the same columns.
            try c("32 channels, 7×7 kernel, 10 wide", batch: 3, inC: 2, h: 10, w: 13, outC: 32, k: (7, 7),
                  padding: Padding2D(top: 1, bottom: 2, left: 1, right: 2)),
            try c("16 channels, 1 row, 13 wide", batch: 2, inC: 3, h: 3, w: 15, outC: 16, k: (3, 3),
                  padding: .zero),
            // col2im: dx channels in groups of 6 + 2 + 1, padding past the kernel on top (dx rows
            // no dy row reaches), a 20-wide row as 16 + 4 lanes, a 2×5 kernel.
            try c("9 channels, padding past the kernel", batch: 2, inC: 9, h: 6, w: 20, outC: 5, k: (2, 5),
                  padding: Padding2D(top: 3, bottom: 1, left: 0, right: 4)),
            // Narrow and wide rows in the padded planes: 3 wide (under one vector), 48 and 50 wide
            // (three 16-wide blocks and a partial one).
            try c("3 wide, padded", batch: 2, inC: 2, h: 6, w: 3, outC: 5, k: (3, 3), padding: Padding2D(1)),
            try c("50 wide", batch: 2, inC: 1, h: 4, w: 50, outC: 6, k: (3, 3), padding: .zero),
            try c("130² plane: backward-data in the padded forward form", batch: 1, inC: 2, h: 130, w: 130,
                  outC: 3, k: (3, 3), padding: Padding2D(1)),
        ]
    }

    func testBlockedKernelsMatchReference() throws {
        var rng = SeededGenerator.fresh()
        ConvolutionAlgorithm.forced = .direct
        defer { ConvolutionAlgorithm.forced = nil }
        for c in try Self.cases() {
            let d = c.d
            XCTAssertTrue(CPUBackend.blockedConvolutionApplies(d), c.name)
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            let dy = rng.floats(d.outputCount)
            let y = ConvolutionReference.forward(d, x: x.doubles, w: w.doubles, bias: bias.doubles)
            let dx = ConvolutionReference.backwardData(d, dy: dy.doubles, w: w.doubles)
            let dw = ConvolutionReference.backwardFilter(d, x: x.doubles, dy: dy.doubles)
            for isa in CPUKernelISA.allCases where isa <= .supported {
                for threads in [1, 2, 3] {
                    let r = try CPUKernelISA.limited(to: isa) {
                        try ConvolutionTests.run(CPUBackend(threads: threads), d, x: x, w: w, bias: bias, dy: dy)
                    }
                    let m = "\(c.name), \(isa), \(threads) threads, seed \(rng.seed)"
                    assertClose(r.y, y, "forward \(m)")
                    assertClose(r.dx, dx, "backward data \(m)")
                    assertClose(r.dw, dw, "backward filter \(m)")
                }
            }
        }
    }

    func testLeNetLayersPickTheBlockedKernels() throws {
        let (conv1, conv2) = (try Self.cases()[0].d, try Self.cases()[1].d)
        func first(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection) -> ConvolutionAlgorithm? {
            TestBackends.cpu.convolutionSolutions(for: d, direction: direction).first?.algorithm
        }
        XCTAssertEqual(first(conv1, .forward), .direct)
        XCTAssertEqual(first(conv2, .forward), .direct)
        XCTAssertEqual(first(conv2, .backwardFilter), .direct)
        XCTAssertEqual(first(conv2, .backwardData), .direct)
        XCTAssertTrue(CPUBackend.col2imBackwardDataApplies(conv2))
        XCTAssertFalse(CPUBackend.col2imBackwardDataApplies(try Self.cases().last!.d))
        XCTAssertEqual(CPUBackend.channelVectorFilterGradientApplies(conv2), CPUKernelISA.active >= .avx2)
        XCTAssertFalse(CPUBackend.channelVectorFilterGradientApplies(conv1))
        XCTAssertEqual(CPUBackend.channelVectorForwardApplies(conv2), CPUKernelISA.active >= .avx2)
        XCTAssertFalse(CPUBackend.channelVectorForwardApplies(conv1))
        // One input channel would leave 5 of the adjoint's 6 register lanes idle.
        XCTAssertEqual(first(conv1, .backwardData), .im2colGEMM)
    }
}
