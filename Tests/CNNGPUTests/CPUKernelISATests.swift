@testable import CNNGPU
import Foundation
import XCTest

/// The CPU backend's C loops (Sources/CCPUKernels: pooling, batch norm, optimizers, softmax) in every instruction
/// set this machine can run (baseline, AVX2, AVX-512), forced one at a time, against the Double
/// references. Sizes straddle the 16-lane vectors and the 4096-value summation blocks; rows
/// shorter than 32 floats take the staged path, longer ones the direct one.
final class CPUKernelISATests: XCTestCase {
    private var variants: [CPUKernelISA] { CPUKernelISA.allCases.filter { $0 <= CPUKernelISA.supported } }

    func testTheWidestInstructionSetIsUsed() {
        XCTAssertEqual(CPUKernelISA.active, CPUKernelISA.supported)
        CPUKernelISA.limited(to: .baseline) { XCTAssertEqual(CPUKernelISA.active, .baseline) }
        XCTAssertEqual(CPUKernelISA.active, CPUKernelISA.supported)
    }

    func testPoolingInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        // (h, w, window, stride, padding): ResNet-50's stem pool at 64² input (32 → 16), rows of
        // fewer than 16 outputs, exactly 16, 17, stride 3, and asymmetric padding.
        let shapes: [(h: Int, w: Int, window: Int, stride: Int, pad: Padding2D)] = [
            (32, 32, 3, 2, Padding2D(1)), (7, 9, 2, 2, Padding2D(0)), (5, 16, 3, 1, Padding2D(1)),
            (4, 17, 2, 1, Padding2D(0)), (6, 50, 3, 3, Padding2D(1)), (5, 35, 3, 2, Padding2D(top: 0, bottom: 1, left: 1, right: 0)),
            (3, 100, 1, 1, Padding2D(0)),
            // Wider windows than the specialized ones: 5×5/2 and 7×7/3 (the backward gathers' generic paths).
            (13, 40, 5, 2, Padding2D(2)), (20, 37, 7, 3, Padding2D(3)),
            // Windows that tile the image (average pooling's direct backward): an odd column left
            // out after exactly 16 outputs, and windows clipped at the bottom and right of 41 columns.
            (6, 33, 2, 2, Padding2D(0)), (9, 41, 2, 2, Padding2D(top: 0, bottom: 1, left: 0, right: 1)),
            // Tiling windows over whole row pairs of 32 to 64 (a multiple of 8) columns (the
            // backward's two-source permutes, AVX-512): DenseNet's 56², 16 outputs a row, and
            // right and bottom padding that no window reaches.
            (4, 56, 2, 2, Padding2D(0)), (2, 32, 2, 2, Padding2D(0)), (6, 40, 2, 2, Padding2D(top: 0, bottom: 1, left: 0, right: 1)),
            // Rows of 64 floats or more, whose input (and max backward's gradients and dx) the
            // loops prefetch ahead, up to the end of each call's planes.
            (9, 70, 3, 2, Padding2D(1)), (4, 64, 2, 2, Padding2D(0)),
            // 3×3/2 padded top-left on rows of at most 32 (loaded straight from the plane): an
            // odd width under 16, 17 columns, and no padding at the bottom and right.
            (7, 9, 3, 2, Padding2D(1)), (5, 17, 3, 2, Padding2D(1)), (8, 30, 3, 2, Padding2D(top: 1, bottom: 0, left: 1, right: 0)),
            // 3×3/1 keeping the size (average pooling's flat-plane box sums, AVX-512): one pixel, a row
            // narrower than a vector, 28² (the plane ends mid-vector), 33 columns.
            (1, 1, 3, 1, Padding2D(1)), (3, 5, 3, 1, Padding2D(1)), (28, 28, 3, 1, Padding2D(1)), (7, 33, 3, 1, Padding2D(1)),
            // 3×3/1 max pooling's separable path (GoogLeNet's pool branches at 28², 14², 7²): an odd
            // number of output rows, no padding, one-sided padding, and 31 and 45 columns.
            (14, 14, 3, 1, Padding2D(1)), (7, 7, 3, 1, Padding2D(1)), (9, 31, 3, 1, Padding2D(0)),
            (6, 17, 3, 1, Padding2D(top: 1, bottom: 0, left: 0, right: 1)), (4, 45, 3, 1, Padding2D(1)),
            // Its backward's gather (AVX-512): 13 and 15 columns (one block spilling into the next
            // row), one row, two pixels, padding on the left or bottom only, and 130 columns (past
            // the layouts it makes once a call).
            (11, 13, 3, 1, Padding2D(1)), (3, 15, 3, 1, Padding2D(top: 1, bottom: 0, left: 1, right: 0)),
            (1, 40, 3, 1, Padding2D(1)), (1, 2, 3, 1, Padding2D(1)),
            (6, 6, 3, 1, Padding2D(top: 0, bottom: 1, left: 1, right: 0)), (5, 130, 3, 1, Padding2D(1)),
            // 3×3/2 max pooling's separable path (max_pool_3x3_stride2.c; 32² above too): ResNet's
            // stem at 112², odd sizes (17 outputs a row: the last block starts at column 1, its
            // last tap the right padding), no padding with an odd width, and bottom/right padding
            // only, which the last output row and column reach.
            (112, 112, 3, 2, Padding2D(1)), (33, 33, 3, 2, Padding2D(1)), (7, 33, 3, 2, Padding2D(1)),
            (12, 47, 3, 2, Padding2D(0)), (10, 64, 3, 2, Padding2D(top: 0, bottom: 1, left: 0, right: 1)),
        ]
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                for s in shapes {
                    for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
                        let d = try Pool2DDescriptor(batch: 2, channels: 3, inH: s.h, inW: s.w, windowH: s.window,
                                                     windowW: s.window, strideH: s.stride, strideW: s.stride,
                                                     padding: s.pad, mode: mode)
                        // Few distinct values: ties, where the first maximum in row-major order wins.
                        let x = (0..<d.inputCount).map { _ in Float(Int.random(in: -2...2, using: &rng)) }
                        let dy = rng.floats(d.outputCount)
                        let (expected, expectedIndices) = PoolingReference.forward(d, x.doubles)
                        let expectedDx = PoolingReference.backward(d, dy: dy.doubles, indices: expectedIndices)
                        let label = "\(isa) \(s) \(mode) seed \(rng.seed)"
                        let y = try b.allocate(d.outputCount, dtype: .float32), y2 = try b.allocate(d.outputCount, dtype: .float32)
                        let idx = try b.allocate(d.outputCount, dtype: .int32), dx = try b.allocate(d.inputCount, dtype: .float32)
                        let xb = try b.makeBuffer(x)
                        try b.poolingForward(d, x: xb, y: y, indices: mode == .max ? idx : nil)
                        try b.poolingBackward(d, dy: try b.makeBuffer(dy), indices: mode == .max ? idx : nil, dx: dx)
                        if mode == .max {
                            XCTAssertEqual(try b.download(y), expected.map(Float.init), label)
                            XCTAssertEqual(try b.downloadInt32(idx), expectedIndices, "indices \(label)")
                            // Without indices (inference) the kernel skips tracking them.
                            try b.poolingForward(d, x: xb, y: y2, indices: nil)
                            XCTAssertEqual(try b.download(y2), expected.map(Float.init), "no indices \(label)")
                        } else {
                            assertClose(try b.download(y), expected, tolerance: 1e-5, label)
                        }
                        assertClose(try b.download(dx), expectedDx, tolerance: 1e-5, "dx \(label)")
                    }
                }
            }
        }
    }

    /// Global average pooling (Sources/CCPUKernels/global_average_pool.c): planes of one float,
    /// fewer than a vector, exactly one and two, ResNet-50's 7², and past a 4096-float block.
    func testGlobalAveragePoolInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                for (planes, spatial) in [(3, 1), (5, 15), (4, 16), (2, 32), (7, 49), (3, 33), (2, 4097)] {
                    let x = rng.floats(planes * spatial)
                    let y = try b.allocate(planes, dtype: .float32)
                    try b.globalAveragePoolForward(planes: planes, spatial: spatial, x: try b.makeBuffer(x), y: y)
                    let magnitudes = PoolingReference.globalAverageForward(planes: planes, spatial: spatial, x.doubles.map(abs))
                    assertSumsClose(try b.download(y), PoolingReference.globalAverageForward(planes: planes, spatial: spatial, x.doubles),
                                    magnitudes: magnitudes, "\(isa) \(planes)×\(spatial) seed \(rng.seed)")
                }
            }
        }
    }

    /// 3×3/2 on its separable path (max_pool_3x3_stride2.c): a plane with NaN (pooled again
    /// with the NaN rule), one with −∞ only but for a few values (the first pixel of an all −∞
    /// window in the image), and one of ties; padding never wins.
    func testMaxPool3x3Stride2NaNAndInfinityInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        let (h, w) = (9, 40)
        let d = try Pool2DDescriptor(batch: 1, channels: 3, inH: h, inW: w, windowH: 3, windowW: 3, strideH: 2,
                                     strideW: 2, padding: Padding2D(1), mode: .max)
        var x = (0..<(3 * h * w)).map { _ in Float(Int.random(in: -2...2, using: &rng)) }
        for i in 0..<(h * w) {
            let r = Int.random(in: 0..<10, using: &rng)
            if r < 2 { x[i] = .nan } else if r < 4 { x[i] = -.infinity }
            x[h * w + i] = r == 0 ? 1 : -.infinity
        }
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                let y = try b.allocate(d.outputCount, dtype: .float32), idx = try b.allocate(d.outputCount, dtype: .int32)
                try b.poolingForward(d, x: try b.makeBuffer(x), y: y, indices: idx)
                let got = try b.download(y), indices = try b.downloadInt32(idx)
                for p in 0..<3 {
                    for oh in 0..<d.outH {
                        for ow in 0..<d.outW {
                            // Row-major scan: the last NaN, else the first maximum, else the first pixel.
                            var winner = -1
                            for ih in max(2 * oh - 1, 0)..<min(2 * oh + 2, h) {
                                for iw in max(2 * ow - 1, 0)..<min(2 * ow + 2, w) {
                                    let v = x[p * h * w + ih * w + iw]
                                    if winner < 0 || v.isNaN || v > x[p * h * w + winner] && !x[p * h * w + winner].isNaN {
                                        winner = ih * w + iw
                                    }
                                }
                            }
                            let o = p * d.outH * d.outW + oh * d.outW + ow, expected = x[p * h * w + winner]
                            let label = "\(isa) plane \(p) output \(oh),\(ow) seed \(rng.seed)"
                            XCTAssertEqual(Int(indices[o]), winner, label)
                            XCTAssertEqual(got[o].isNaN, expected.isNaN, label)
                            if !expected.isNaN { XCTAssertEqual(got[o], expected, label) }
                        }
                    }
                }
            }
        }
    }

    func testMaxPoolingNaNAndInfinityInEveryInstructionSet() throws {
        let b = CPUBackend()
        // One row of 40: a NaN wins its windows (the last NaN of a window), −∞ everywhere else
        // keeps each window's first pixel; padding never wins.
        let d = try Pool2DDescriptor(batch: 1, channels: 1, inH: 1, inW: 40, windowH: 1, windowW: 3, strideH: 1,
                                     strideW: 2, padding: Padding2D(top: 0, bottom: 0, left: 1, right: 1), mode: .max)
        var x = [Float](repeating: -.infinity, count: 40)
        x[5] = .nan; x[6] = .nan; x[20] = 1
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                let y = try b.allocate(d.outputCount, dtype: .float32), idx = try b.allocate(d.outputCount, dtype: .int32)
                try b.poolingForward(d, x: try b.makeBuffer(x), y: y, indices: idx)
                let got = try b.download(y), indices = try b.downloadInt32(idx)
                for ow in 0..<d.outputCount {
                    let w0 = max(ow * 2 - 1, 0), w1 = min(ow * 2 + 2, 40)
                    let window = Array(w0..<w1)
                    let nan = window.last { x[$0].isNaN }, finite = window.first { x[$0] == 1 }
                    let winner = nan ?? finite ?? w0
                    XCTAssertEqual(Int(indices[ow]), winner, "\(isa) output \(ow)")
                    XCTAssertEqual(got[ow].isNaN, x[winner].isNaN, "\(isa) output \(ow)")
                    if !x[winner].isNaN { XCTAssertEqual(got[ow], x[winner], "\(isa) output \(ow)") }
                }
            }
        }
    }

    func testBatchNormInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        // Runs of channels (inner below 64): 1 (dense), 15, 16, 17 (vector edges), with more
        // channels than one run holds; one channel at a time: 100, 4099 (past a 4096-value
        // block), and a channel of 90 003 values (more than L2: per-row statistics).
        let shapes = [AxisShape(outer: 5, axis: 3, inner: 1), AxisShape(outer: 3, axis: 2, inner: 15),
                      AxisShape(outer: 2, axis: 3, inner: 16), AxisShape(outer: 3, axis: 2, inner: 17),
                      AxisShape(outer: 300, axis: 7, inner: 33), AxisShape(outer: 3, axis: 2, inner: 100),
                      AxisShape(outer: 2, axis: 2, inner: 4099), AxisShape(outer: 3, axis: 1, inner: 30_001)]
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                for s in shapes {
                    let label = "\(isa) \(s) seed \(rng.seed)"
                    // An offset mean checks that the variance does not cancel.
                    let xv = rng.floats(s.count).map { 3 + 2 * $0 }, dyv = rng.floats(s.count)
                    let gv = rng.floats(s.axis, in: 0.5...1.5), bv = rng.floats(s.axis)
                    let x = try b.makeBuffer(xv), gamma = try b.makeBuffer(gv), beta = try b.makeBuffer(bv)
                    let rm = try b.makeBuffer([Float](repeating: 0, count: s.axis))
                    let rv = try b.makeBuffer([Float](repeating: 1, count: s.axis))
                    let y = try b.allocate(s.count, dtype: .float32), yRelu = try b.allocate(s.count, dtype: .float32)
                    let mean = try b.allocate(s.axis, dtype: .float32), invStd = try b.allocate(s.axis, dtype: .float32)
                    try b.batchNormForwardTraining(s, x: x, gamma: gamma, beta: beta, y: y, runningMean: rm, runningVar: rv,
                                                   momentum: 1, epsilon: 1e-5, savedMean: mean, savedInvStd: invStd)
                    try b.batchNormForwardTraining(s, x: x, gamma: gamma, beta: beta, y: yRelu, runningMean: rm,
                                                   runningVar: rv, momentum: 1, epsilon: 1e-5, savedMean: mean,
                                                   savedInvStd: invStd, relu: true)
                    let expected = NormalizationReference.batchNormTraining(
                        s, x: xv.doubles, gamma: gv.doubles, beta: bv.doubles, runningMean: [Double](repeating: 0, count: s.axis),
                        runningVar: [Double](repeating: 1, count: s.axis), momentum: 1, epsilon: 1e-5)
                    assertClose(try b.download(y), expected.y, label + " y")
                    assertClose(try b.download(yRelu), expected.y.map { max($0, 0) }, label + " y relu")
                    assertClose(try b.download(mean), expected.mean, label + " mean")
                    assertClose(try b.download(invStd), expected.invStd, label + " invStd")
                    assertClose(try b.download(rv), expected.runningVar, label + " runningVar")

                    // Inference with the running statistics just set (momentum 1), with ReLU.
                    let yInfer = try b.allocate(s.count, dtype: .float32)
                    try b.batchNormForwardInference(s, x: x, gamma: gamma, beta: beta, runningMean: rm, runningVar: rv,
                                                    epsilon: 1e-5, y: yInfer, relu: true)
                    let expectedInfer = NormalizationReference.batchNormInference(
                        s, x: xv.doubles, gamma: gv.doubles, beta: bv.doubles, runningMean: expected.runningMean,
                        runningVar: expected.runningVar, epsilon: 1e-5)
                    assertClose(try b.download(yInfer), expectedInfer.map { max($0, 0) }, label + " inference")

                    // Backward, plain and through the ReLU (dy masked where the output is not positive).
                    let dy = try b.makeBuffer(dyv)
                    let dx = try b.allocate(s.count, dtype: .float32)
                    let dGamma = try b.allocate(s.axis, dtype: .float32), dBeta = try b.allocate(s.axis, dtype: .float32)
                    let reluOutput = try b.download(yRelu)
                    for relu in [false, true] {
                        if relu {
                            try b.batchNormReLUBackward(s, x: x, y: yRelu, dy: dy, gamma: gamma, savedMean: mean,
                                                        savedInvStd: invStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
                        } else {
                            try b.batchNormBackward(s, x: x, dy: dy, gamma: gamma, savedMean: mean, savedInvStd: invStd,
                                                    dx: dx, dGamma: dGamma, dBeta: dBeta)
                        }
                        let g = relu ? zip(dyv, reluOutput).map { $1 > 0 ? $0 : 0 } : dyv
                        let e = NormalizationReference.batchNormBackward(s, x: xv.doubles, dy: g.doubles, gamma: gv.doubles,
                                                                         epsilon: 1e-5)
                        let magnitudes = NormalizationReference.batchNormGradientMagnitudes(s, x: xv.doubles, dy: g.doubles,
                                                                                            epsilon: 1e-5)
                        assertClose(try b.download(dx), e.dx, "\(label) relu \(relu) dx")
                        assertSumsClose(try b.download(dGamma), e.dGamma, magnitudes: magnitudes.dGamma, "\(label) relu \(relu) dGamma")
                        assertSumsClose(try b.download(dBeta), e.dBeta, magnitudes: magnitudes.dBeta, "\(label) relu \(relu) dBeta")
                    }
                }
            }
        }
    }

    /// A tensor of 16 MiB or more takes the non-temporal stores of the training forward (y) and
    /// of the backward pass (dx): an odd inner size puts every row after the first at another
    /// 64-byte alignment, so each row has an ordinary-store head, a streamed middle and a tail.
    func testBatchNormStreamingStoresInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        let s = AxisShape(outer: 2, axis: 2, inner: 1_050_001)
        XCTAssertGreaterThanOrEqual(s.count * 4, 16 << 20, "the shape must reach the streaming size")
        let xv = rng.floats(s.count).map { 3 + 2 * $0 }, gv = rng.floats(s.axis, in: 0.5...1.5), bv = rng.floats(s.axis)
        let expected = NormalizationReference.batchNormTraining(
            s, x: xv.doubles, gamma: gv.doubles, beta: bv.doubles, runningMean: [0, 0], runningVar: [1, 1], momentum: 1,
            epsilon: 1e-5)
        let dyv = rng.floats(s.count)
        let expectedDx = NormalizationReference.batchNormBackward(s, x: xv.doubles, dy: dyv.doubles, gamma: gv.doubles,
                                                                  epsilon: 1e-5).dx
        let x = try b.makeBuffer(xv), gamma = try b.makeBuffer(gv), beta = try b.makeBuffer(bv), dy = try b.makeBuffer(dyv)
        // Every row's first and last 80 values (heads and tails) and every 61st value between: a
        // full comparison of 4 M values takes most of a minute in the unoptimized test build.
        var checked = Set(stride(from: 0, to: s.count, by: 61))
        for row in 0..<(s.outer * s.axis) {
            let start = row * s.inner
            checked.formUnion(start..<(start + 80))
            checked.formUnion((start + s.inner - 80)..<(start + s.inner))
        }
        let positions = checked.sorted()
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                for relu in [false, true] {
                    let y = try b.allocate(s.count, dtype: .float32)
                    let mean = try b.allocate(s.axis, dtype: .float32), invStd = try b.allocate(s.axis, dtype: .float32)
                    try b.batchNormForwardTraining(s, x: x, gamma: gamma, beta: beta, y: y,
                                                   runningMean: try b.makeBuffer([Float](repeating: 0, count: 2)),
                                                   runningVar: try b.makeBuffer([Float](repeating: 1, count: 2)),
                                                   momentum: 1, epsilon: 1e-5, savedMean: mean, savedInvStd: invStd,
                                                   relu: relu)
                    let got = try b.download(y)
                    assertClose(positions.map { got[$0] }, positions.map { relu ? max(expected.y[$0], 0) : expected.y[$0] },
                                "\(isa) relu \(relu) seed \(rng.seed)")
                    assertClose(try b.download(mean), expected.mean, "\(isa) mean seed \(rng.seed)")
                    guard !relu else { continue }
                    let dx = try b.allocate(s.count, dtype: .float32)
                    try b.batchNormBackward(s, x: x, dy: dy, gamma: gamma, savedMean: mean, savedInvStd: invStd, dx: dx,
                                            dGamma: try b.allocate(s.axis, dtype: .float32),
                                            dBeta: try b.allocate(s.axis, dtype: .float32))
                    let gotDx = try b.download(dx)
                    assertClose(positions.map { gotDx[$0] }, positions.map { expectedDx[$0] }, "\(isa) dx seed \(rng.seed)")
                }
            }
        }
    }

    /// One step of every optimizer variant on 37 parameters (two vectors and a tail of 5).
    func testOptimizersInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend(), count = 37
        let sgd = [SGDParameters(learningRate: 0.1, weightDecay: 0.01), SGDParameters(learningRate: 0.05, momentum: 0.9, dampening: 0.3),
                   SGDParameters(learningRate: 0.05, momentum: 0.8, weightDecay: 5e-4, nesterov: true)]
        let adam = [AdamParameters(learningRate: 1e-2, beta1: 0.8, beta2: 0.99, weightDecay: 0.1, step: 2),
                    AdamParameters(learningRate: 1e-2, weightDecay: 0.1, decoupledWeightDecay: true, step: 3)]
        let rmsprop = [RMSpropParameters(learningRate: 1e-2, alpha: 0.9, weightDecay: 0.05),
                       RMSpropParameters(learningRate: 5e-3, alpha: 0.95, epsilon: 1e-4, momentum: 0.5, weightDecay: 0.01)]
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                let w0 = rng.floats(count), g = rng.floats(count), state = rng.floats(count, in: 0...1)
                let label = "\(isa) seed \(rng.seed)"
                for p in sgd {
                    var w = w0.doubles, v = state.doubles
                    let weights = try b.makeBuffer(w0), velocity = try b.makeBuffer(state)
                    try b.sgdUpdate(p, count: count, weights: weights, gradients: try b.makeBuffer(g), velocity: velocity)
                    OptimizerReference.sgdStep(p, weights: &w, gradients: g.doubles, velocity: &v)
                    assertClose(try b.download(weights), w, "SGD \(p) \(label)")
                    assertClose(try b.download(velocity), v, "SGD velocity \(p) \(label)")
                }
                for p in adam {
                    var w = w0.doubles, m = state.doubles, v = state.doubles
                    let weights = try b.makeBuffer(w0), mb = try b.makeBuffer(state), vb = try b.makeBuffer(state)
                    try b.adamUpdate(p, count: count, weights: weights, gradients: try b.makeBuffer(g), m: mb, v: vb)
                    OptimizerReference.adamStep(p, weights: &w, gradients: g.doubles, m: &m, v: &v)
                    assertClose(try b.download(weights), w, "Adam \(p) \(label)")
                    assertClose(try b.download(mb), m, "Adam m \(p) \(label)")
                    assertClose(try b.download(vb), v, "Adam v \(p) \(label)")
                }
                for p in rmsprop {
                    var w = w0.doubles, sq = state.doubles, buffer = [Double](repeating: 0, count: count)
                    let weights = try b.makeBuffer(w0), square = try b.makeBuffer(state)
                    let momentum = p.momentum > 0 ? try b.makeBuffer([Float](repeating: 0, count: count)) : nil
                    try b.rmspropUpdate(p, count: count, weights: weights, gradients: try b.makeBuffer(g),
                                        square: square, momentum: momentum)
                    RMSpropTests.referenceStep(p, weights: &w, gradients: g.doubles, square: &sq, buffer: &buffer)
                    assertClose(try b.download(weights), w, "RMSprop \(p) \(label)")
                    assertClose(try b.download(square), sq, "RMSprop square \(p) \(label)")
                }
            }
        }
    }

    /// Softmax and log-softmax over rows of 1, 15, 16, 17 (vector tails), 1000 and 1001 classes,
    /// in one, two and five rows (softmax's rows of 16 or more are swept in pairs: the next row's
    /// maximum and the previous row's scaling ride on each row's exponentials), with large
    /// negative inputs (exponentials that underflow to 0), −∞ entries, huge and tiny logits, a
    /// NaN row, and y = x; softmax's backward pass on the same rows.
    func testSoftmaxInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                for axis in [1, 15, 16, 17, 1000, 1001] {
                    for rows in [1, 2, 5] {
                        try checkSoftmax(b, axis: axis, rows: rows, isa: isa, rng: &rng)
                    }
                }
            }
        }
    }

    private func checkSoftmax(_ b: CPUBackend, axis: Int, rows: Int, isa: CPUKernelISA, rng: inout SeededGenerator) throws {
        let shape = AxisShape(outer: rows, axis: axis, inner: 1)
        let n = shape.count
        // (what, logits): ordinary ones with an entry whose exponential underflows, every third
        // −∞ (a row of 1 is then −∞ alone: NaN, as e^(−∞ − (−∞)) is), and scales far from 1.
        var cases: [(String, [Float])] = [("ordinary", rng.floats(n).map { 40 * $0 })]
        cases[0].1[0] = -200
        cases.append(("−∞ entries", rng.floats(n).enumerated().map { $0.offset % 3 == 1 ? -.infinity : 10 * $0.element }))
        cases.append(("huge", rng.floats(n).map { 1e30 * $0 }))
        cases.append(("tiny", rng.floats(n).map { 1e-30 * $0 }))
        for (what, x) in cases {
            for log in [false, true] {
                let y = try b.allocate(n, dtype: .float32)
                try b.softmaxForward(shape, log: log, x: try b.makeBuffer(x), y: y)
                var expected = [Double]()
                for row in 0..<rows {
                    let values = x[(row * axis)..<((row + 1) * axis)].map(Double.init)
                    let m = values.max()!, sum = values.reduce(0) { $0 + Foundation.exp($1 - m) }
                    expected += values.map { log ? $0 - m - Foundation.log(sum) : Foundation.exp($0 - m) / sum }
                }
                let got = try b.download(y)
                let label = "\(isa) \(what) axis \(axis) rows \(rows) log \(log) seed \(rng.seed)"
                if expected.contains(where: \.isNaN) {
                    XCTAssertEqual(got.map(\.isNaN), expected.map(\.isNaN), label)
                    assertClose(zip(got, expected).filter { !$0.1.isNaN }.map(\.0),
                                expected.filter { !$0.isNaN }, tolerance: 1e-5, label)
                } else {
                    assertClose(got, expected, tolerance: 1e-5, label)
                }
                // In place (y = x): the same bits.
                let inPlace = try b.makeBuffer(x)
                try b.softmaxForward(shape, log: log, x: inPlace, y: inPlace)
                XCTAssertEqual(try b.download(inPlace).map(\.bitPattern), got.map(\.bitPattern), "in place, \(label)")
            }
        }
        // Backward (softmax's rows in C, log-softmax's in Swift): dx = y·(dy − Σ dy·y).
        let probabilities = rng.floats(n).map { abs($0) }, dy = rng.floats(n)
        let dx = try b.allocate(n, dtype: .float32)
        try b.softmaxBackward(shape, log: false, y: try b.makeBuffer(probabilities), dy: try b.makeBuffer(dy), dx: dx)
        // Rounding is judged on the scale of the terms, |y|·(|dy| + Σ|dy·y|): dy − Σ dy·y cancels
        // where y is near 1 (a row of one: dy·(1 − y)), and the float sum's last bit then
        // dominates a small result (seed 16066242498386: 2.7·10⁻⁵ relative to the result).
        var expectedDx = [Double](), termScale = 0.0
        for row in 0..<rows {
            let r = (row * axis)..<((row + 1) * axis)
            let s = zip(dy[r], probabilities[r]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let magnitude = zip(dy[r], probabilities[r]).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            expectedDx += zip(dy[r], probabilities[r]).map { Double($0.1) * (Double($0.0) - s) }
            for (g, p) in zip(dy[r], probabilities[r]) { termScale = max(termScale, abs(Double(p)) * (abs(Double(g)) + magnitude)) }
        }
        assertClose(try b.download(dx), expectedDx, tolerance: 1e-5, scale: termScale,
                    "backward \(isa) axis \(axis) rows \(rows) seed \(rng.seed)")
        // A NaN makes its row NaN, and only its row.
        var x = rng.floats(n).map { 40 * $0 }
        let nanRow = rows / 2
        x[nanRow * axis + axis / 2] = .nan
        let y = try b.allocate(n, dtype: .float32)
        try b.softmaxForward(shape, log: false, x: try b.makeBuffer(x), y: y)
        let out = try b.download(y)
        for row in 0..<rows {
            let values = out[(row * axis)..<((row + 1) * axis)]
            XCTAssertTrue(row == nanRow ? values.allSatisfy(\.isNaN) : !values.contains(where: \.isNaN),
                          "\(isa) axis \(axis) rows \(rows): a NaN makes its row NaN, row \(row)")
        }
    }

    /// Softmax cross-entropy (softmax.c's loss entry) in every instruction set over rows of 1,
    /// 10 (LeNet's), 15, 16, 17, 1000 and 1001 classes in one, two and five rows (and 64 under
    /// 16 classes, whose exponentials run over the whole block), with and
    /// without label smoothing, against a Double reference: ordinary logits with an underflowing
    /// entry, −∞ entries (not at the label), huge and tiny logits; a NaN logit or a label out of
    /// range makes its row (and the loss) NaN and leaves the other rows' gradients alone; the
    /// gradient written over the logits gives the same bits.
    func testSoftmaxCrossEntropyInEveryInstructionSet() throws {
        var rng = SeededGenerator.fresh()
        let b = CPUBackend()
        for isa in variants {
            try CPUKernelISA.limited(to: isa) {
                for cols in [1, 10, 15, 16, 17, 1000, 1001] {
                    // Rows under 16 classes share vectors across rows: LeNet's 64 rows too.
                    for rows in cols < 16 ? [1, 2, 5, 64] : [1, 2, 5] {
                        for smoothing: Float in [0, 0.1] {
                            try checkSoftmaxCrossEntropy(b, rows: rows, cols: cols, smoothing: smoothing, isa: isa, rng: &rng)
                        }
                    }
                }
            }
        }
    }

    private func checkSoftmaxCrossEntropy(_ b: CPUBackend, rows: Int, cols: Int, smoothing: Float, isa: CPUKernelISA,
                                          rng: inout SeededGenerator) throws {
        let n = rows * cols
        let labels = (0..<rows).map { _ in Int32.random(in: 0..<Int32(cols), using: &rng) }
        func run(_ x: [Float], _ labels: [Int32], inPlace: Bool = false) throws -> (loss: Float, gradient: [Float]) {
            let logits = try b.makeBuffer(x), loss = try b.allocate(1, dtype: .float32)
            let gradient = inPlace ? logits : try b.allocate(n, dtype: .float32)
            try b.softmaxCrossEntropy(rows: rows, cols: cols, labelSmoothing: smoothing, logits: logits,
                                      labels: try b.makeInt32Buffer(labels), loss: loss, gradient: gradient)
            return (try b.download(loss)[0], try b.download(gradient))
        }
        var cases: [(String, [Float])] = [("ordinary", rng.floats(n).map { 40 * $0 })]
        cases[0].1[n - 1] = -200
        // −∞ away from the labels: e^(−∞ − m) = 0; with smoothing the mean of x is −∞ (loss +∞).
        var infinite = rng.floats(n).map { 10 * $0 }
        for i in 0..<n where i % 3 == 1 && i % cols != Int(labels[i / cols]) && cols > 1 { infinite[i] = -.infinity }
        cases.append(("−∞ entries", infinite))
        cases.append(("huge", rng.floats(n).map { 1e30 * $0 }))
        cases.append(("tiny", rng.floats(n).map { 1e-30 * $0 }))
        let eps = Double(smoothing)
        for (what, x) in cases {
            var expectedLoss = 0.0, expectedGradient = [Double]()
            for row in 0..<rows {
                let values = x[(row * cols)..<((row + 1) * cols)].map(Double.init), label = Int(labels[row])
                let m = values.max()!, sum = values.reduce(0) { $0 + Foundation.exp($1 - m) }
                let belowMax = values.reduce(0) { $0 + (m - $1) }
                // Without smoothing the term is left out: a −∞ entry keeps the loss finite (PyTorch's).
                expectedLoss += Foundation.log(sum) + (1 - eps) * (m - values[label])
                    + (eps > 0 ? eps * belowMax / Double(cols) : 0)
                expectedGradient += values.enumerated().map { j, v in
                    (Foundation.exp(v - m) / sum - (j == label ? 1 - eps : 0) - eps / Double(cols)) / Double(rows)
                }
            }
            expectedLoss /= Double(rows)
            let got = try run(x, labels)
            let label = "\(isa) \(what) \(rows)×\(cols) ε \(smoothing) seed \(rng.seed)"
            // Absolute floors: where the label's logit dominates, the loss (log of a sum near 1)
            // and the gradient (p − 1 with p near 1) are small differences of numbers near 1,
            // exact in float only to ~10⁻⁷ absolute (a 1×10 row of ±40 logits: 2.9·10⁻⁵ relative
            // on a loss of 0.0016). A wrong term errs by ε/C/N or more.
            if expectedLoss.isFinite {
                XCTAssertLessThanOrEqual(abs(Double(got.loss) - expectedLoss), 1e-5 * max(abs(expectedLoss), 1),
                                         "loss, \(label): got \(got.loss), expected \(expectedLoss)")
            } else {
                XCTAssertEqual(got.loss.isNaN, expectedLoss.isNaN, "loss, \(label)")
                if !expectedLoss.isNaN { XCTAssertEqual(Double(got.loss), expectedLoss, "loss, \(label)") }
            }
            if cols == 1 {
                // The target's terms cancel the probability 1: 0 up to float rounding of 1/N's parts.
                XCTAssertLessThanOrEqual(got.gradient.map(abs).max()!, 1e-6, "gradient, \(label)")
            } else {
                let worst = zip(got.gradient, expectedGradient).map { abs(Double($0) - $1) }.max()!
                let scale = max(expectedGradient.map(abs).max()!, 1 / Double(rows))
                XCTAssertLessThanOrEqual(worst, 1e-5 * scale, "gradient, \(label): differs by \(worst)")
            }
            let inPlace = try run(x, labels, inPlace: true)
            XCTAssertEqual(inPlace.gradient.map(\.bitPattern), got.gradient.map(\.bitPattern), "in place, \(label)")
            XCTAssertEqual(inPlace.loss.bitPattern, got.loss.bitPattern, "in place, \(label)")
        }
        // A NaN logit, or a label out of range, makes its row NaN and only its row.
        let bad = rows / 2
        var x = rng.floats(n).map { 40 * $0 }
        x[bad * cols + cols / 2] = .nan
        var outOfRange = labels
        outOfRange[bad] = Int32(cols)
        for (what, logits, labels) in [("NaN logit", x, labels), ("label out of range", rng.floats(n), outOfRange)] {
            let got = try run(logits, labels)
            XCTAssertTrue(got.loss.isNaN, "\(isa) \(what) \(rows)×\(cols): the loss is NaN")
            for row in 0..<rows {
                let values = got.gradient[(row * cols)..<((row + 1) * cols)]
                XCTAssertTrue(row == bad ? values.allSatisfy(\.isNaN) : !values.contains(where: \.isNaN),
                              "\(isa) \(what) \(rows)×\(cols): row \(row)")
            }
        }
    }
}
