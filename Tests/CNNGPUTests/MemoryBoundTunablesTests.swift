@testable import CNNGPU
import XCTest

/// The memory-bound OpenCL kernels under several tunable sets of MemoryBoundTunables (forced
/// through `OpenCLBackend.memoryBound`) and at edge sizes — counts that are not multiples of
/// the work-group or vector width, one channel, huge and tiny spatial extents — against the CPU
/// backend, which the op tests check against plain references.
final class MemoryBoundTunablesTests: XCTestCase {
    /// Its own backend, so that forcing tunables never changes what other tests run.
    private static let backend: OpenCLBackend? = try? OpenCLBackend(deviceIndex: 0)

    private static let streamingSets: [TunableValues?] = [
        nil,
        ["STREAM_WG": 16, "STREAM_VEC": 1, "STREAM_ITEMS": 1],
        ["STREAM_WG": 32, "STREAM_VEC": 8, "STREAM_ITEMS": 2],
        ["STREAM_WG": 256, "STREAM_VEC": 2, "STREAM_ITEMS": 8],
    ]
    private static let batchNormSets: [TunableValues?] = [
        nil,
        ["BN_WG": 16, "BN_VEC": 1, "BN_ITEMS": 1, "BN_REDUCE_WG": 256, "BN_REDUCE_ITEMS": 1, "BN_REDUCE_CONTIGUOUS": 0,
         "BN_FUSED_FORWARD": 1, "BN_STREAM_STORES": 0],
        ["BN_WG": 32, "BN_VEC": 8, "BN_ITEMS": 2, "BN_REDUCE_WG": 16, "BN_REDUCE_ITEMS": 2, "BN_REDUCE_CONTIGUOUS": 1,
         "BN_FUSED_FORWARD": 0, "BN_STREAM_STORES": 1],
        ["BN_WG": 256, "BN_VEC": 2, "BN_ITEMS": 8, "BN_REDUCE_WG": 32, "BN_REDUCE_ITEMS": 8, "BN_REDUCE_CONTIGUOUS": 0,
         "BN_FUSED_FORWARD": 0, "BN_STREAM_STORES": 0],
        ["BN_WG": 64, "BN_VEC": 4, "BN_ITEMS": 1, "BN_REDUCE_WG": 64, "BN_REDUCE_ITEMS": 4, "BN_REDUCE_CONTIGUOUS": 1,
         "BN_FUSED_FORWARD": 1, "BN_STREAM_STORES": 0],
        // The per-channel forward in the coalesced order with partial last vectors, and with
        // shares of several rows per work-item (16 work-items, 8-float vectors); streaming
        // stores with and without plain ones (rows of odd length leave y's vectors unaligned).
        ["BN_WG": 256, "BN_VEC": 8, "BN_ITEMS": 1, "BN_REDUCE_WG": 16, "BN_REDUCE_ITEMS": 8, "BN_REDUCE_CONTIGUOUS": 0,
         "BN_FUSED_FORWARD": 1, "BN_STREAM_STORES": 1],
        ["BN_WG": 256, "BN_VEC": 1, "BN_ITEMS": 1, "BN_REDUCE_WG": 16, "BN_REDUCE_ITEMS": 8, "BN_REDUCE_CONTIGUOUS": 1,
         "BN_FUSED_FORWARD": 1, "BN_STREAM_STORES": 1],
        // The GPU defaults (coalesced first passes).
        MemoryBoundTunables.batchNorm.gpuDefault,
    ]
    /// POOL_MAX_GATHER_VEC (3-wide stride-2 max backward) varies apart from POOL_VEC: 16 beside
    /// the per-pixel and 4-wide forward kernels too.
    private static let poolingSets: [TunableValues?] = [
        nil, ["POOL_WG": 16, "POOL_ITEMS": 4, "POOL_VEC": 1, "POOL_ROWS": 1, "POOL_MAX_GATHER_VEC": 1],
        ["POOL_WG": 256, "POOL_ITEMS": 1, "POOL_VEC": 4, "POOL_ROWS": 2, "POOL_MAX_GATHER_VEC": 16],
        ["POOL_WG": 32, "POOL_ITEMS": 2, "POOL_VEC": 8, "POOL_ROWS": 1, "POOL_MAX_GATHER_VEC": 8],
        ["POOL_WG": 64, "POOL_ITEMS": 1, "POOL_VEC": 1, "POOL_ROWS": 2, "POOL_MAX_GATHER_VEC": 16],
        // Row blocks that leave a partial last block on most of the shapes below.
        ["POOL_WG": 16, "POOL_ITEMS": 1, "POOL_VEC": 8, "POOL_ROWS": 4, "POOL_MAX_GATHER_VEC": 16],
        ["POOL_WG": 64, "POOL_ITEMS": 2, "POOL_VEC": 4, "POOL_ROWS": 4, "POOL_MAX_GATHER_VEC": 4],
    ]
    private static let softmaxSets: [TunableValues?] = [
        nil, MemoryBoundTunables.softmax.gpuDefault,
        ["SOFTMAX_WG": 8, "SOFTMAX_VEC": 8, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 1],
        ["SOFTMAX_WG": 8, "SOFTMAX_VEC": 16, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 0],
        ["SOFTMAX_WG": 4, "SOFTMAX_VEC": 4, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 1],
        ["SOFTMAX_WG": 16, "SOFTMAX_VEC": 16, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 0],
        ["SOFTMAX_WG": 64, "SOFTMAX_VEC": 16, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 1],
        ["SOFTMAX_WG": 32, "SOFTMAX_VEC": 1, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 0],
    ]

    private static let poolingSameSets: [TunableValues?] = [
        nil, ["POOL_SAME_ROWS": 4, "POOL_SAME_ALIGN": 1, "POOL_SAME_VEC": 8],
        // Strips longer than the default: capped at a 13-row plane, a partial last one on 28.
        ["POOL_SAME_ROWS": 16, "POOL_SAME_ALIGN": 16, "POOL_SAME_VEC": 4],
        ["POOL_SAME_ROWS": 16, "POOL_SAME_ALIGN": 8, "POOL_SAME_VEC": 1], MemoryBoundTunables.poolingSame.gpuDefault,
    ]

    private static let poolingTiledSets: [TunableValues?] = [
        nil, ["POOL_TILED_ROWS": 1, "POOL_TILED_ALIGN": 1], ["POOL_TILED_ROWS": 4, "POOL_TILED_ALIGN": 16],
        // 28 rows of 32 pass 256 work-items: the launch takes fewer rows.
        ["POOL_TILED_ROWS": 28, "POOL_TILED_ALIGN": 32], MemoryBoundTunables.poolingTiled.gpuDefault,
    ]

    private func openCL() throws -> OpenCLBackend {
        _ = try TestBackends.requireOpenCL()
        return try XCTUnwrap(Self.backend, "could not open a second OpenCL backend")
    }

    /// Runs `body` on the CPU backend and on OpenCL under each of `sets`, comparing outputs.
    /// `sampled`: the pooling tests, whose shapes are built into each program (one PoCL compile
    /// per shape and set: their full products took a quarter of CI's time, Benchmarks/NOTES-ci.md),
    /// run each shape with `sampled` of the sets in turn (`rotation`, the defaults among them),
    /// so that every set still meets shapes of each test (each such test has calls × sampled ≥
    /// its sets) and another seed pairs them otherwise. The defaults also run on the zoo's
    /// shapes in ModelZooTests and PoolingTests. CNNGPU_TEST_EXHAUSTIVE=1 runs every pair.
    private func crossCheck(_ family: MemoryBoundKernel, _ sets: [TunableValues?], _ label: String,
                            tolerance: Double = 1e-5, sampled: Int? = nil,
                            _ body: (any Backend) throws -> [Float]) throws {
        let cl = try openCL()
        let expected = try body(TestBackends.cpu)
        defer { try? cl.memoryBound.set(family, nil) }
        for set in sampled.map({ rotation.take(sets, count: $0) }) ?? sets {
            try cl.memoryBound.set(family, set)
            let actual = try body(cl)
            assertClose(actual, expected, tolerance: tolerance, "\(label) with \(set.map { "\($0)" } ?? "defaults")")
        }
    }

    /// The non-default sets a sampled `crossCheck` runs (XCTest makes an instance per test, so
    /// each test has its own rotation).
    private var rotation = SampleRotation()

    /// y of `d`'s forward pass on x, then dx of its backward pass on dy (max pooling through
    /// the winners the forward pass saved).
    private func poolingForwardBackward(_ be: any Backend, _ d: Pool2DDescriptor, x: [Float], dy: [Float]) throws
        -> [Float] {
        let y = try be.allocate(d.outputCount, dtype: .float32), dx = try be.allocate(d.inputCount, dtype: .float32)
        let indices = d.mode == .max ? try be.allocate(d.outputCount, dtype: .int32) : nil
        try be.poolingForward(d, x: try be.makeBuffer(x), y: y, indices: indices)
        try be.poolingBackward(d, dy: try be.makeBuffer(dy), indices: indices, dx: dx)
        return try be.download(y) + be.download(dx)
    }

    func testStreamingKernelsAtEdgeCounts() throws {
        var rng = SeededGenerator.fresh()
        for count in [1, 3, 5, 63, 1025, 100_003] {
            let a = rng.floats(count), b = rng.floats(count), c = rng.floats(count)
            try crossCheck(MemoryBoundTunables.streaming, Self.streamingSets, "count \(count) seed \(rng.seed)") { be in
                let ab = try be.makeBuffer(a), bb = try be.makeBuffer(b), cb = try be.makeBuffer(c)
                let out = try be.allocate(count, dtype: .float32), dx = try be.allocate(count, dtype: .float32)
                var results: [Float] = []
                for f in [Activation.relu, .leakyReLU(alpha: 0.1), .elu(alpha: 1), .sigmoid, .tanh] {
                    try be.activationForward(f, count: count, x: ab, y: out)
                    results += try be.download(out)
                    try be.activationBackward(f, count: count, x: ab, y: out, dy: bb, dx: dx)
                    results += try be.download(dx)
                }
                try be.add(count: count, a: ab, b: bb, out: out, activation: .relu)
                results += try be.download(out)
                try be.multiply(count: count, a: ab, b: bb, out: out)
                results += try be.download(out)
                try be.scale(count: count, alpha: 0.5, x: ab, out: out)
                results += try be.download(out)
                try be.axpy(count: count, alpha: -2, x: ab, y: cb)
                results += try be.download(cb)
                // Optimizers update in place: fresh copies each time.
                let w = try be.makeBuffer(c), v = try be.makeBuffer(b.map { abs($0) })
                let m = try be.makeBuffer(a)
                try be.sgdUpdate(SGDParameters(learningRate: 0.1, weightDecay: 0.01), count: count, weights: w,
                                 gradients: ab, velocity: nil)
                try be.sgdUpdate(SGDParameters(learningRate: 0.1, momentum: 0.9, nesterov: true), count: count,
                                 weights: w, gradients: bb, velocity: m)
                try be.adamUpdate(AdamParameters(learningRate: 0.01, weightDecay: 0.1, step: 2), count: count,
                                  weights: w, gradients: ab, m: m, v: v)
                results += try be.download(w) + be.download(m) + be.download(v)
                return results
            }
        }
    }

    func testBatchNormAtEdgeShapes() throws {
        var rng = SeededGenerator.fresh()
        // One channel; tiny rows (dense, 3×1); rows not a multiple of any tile; a huge row.
        let shapes = [AxisShape(outer: 3, axis: 1, inner: 35), AxisShape(outer: 5, axis: 7, inner: 1),
                      AxisShape(outer: 2, axis: 3, inner: 3), AxisShape(outer: 2, axis: 5, inner: 1031),
                      AxisShape(outer: 1, axis: 2, inner: 70_001)]
        for shape in shapes {
            let n = shape.count, c = shape.axis
            let x = rng.floats(n).map { $0 * 3 + 1 }, dy = rng.floats(n)
            let gamma = rng.floats(c), beta = rng.floats(c)
            for relu in [false, true] {
                try crossCheck(MemoryBoundTunables.batchNorm, Self.batchNormSets,
                               "\(shape) relu \(relu) seed \(rng.seed)", tolerance: 1e-4) { be in
                    let xb = try be.makeBuffer(x), dyb = try be.makeBuffer(dy), y = try be.allocate(n, dtype: .float32)
                    let g = try be.makeBuffer(gamma), bt = try be.makeBuffer(beta)
                    let rm = try be.makeBuffer([Float](repeating: 0.5, count: c))
                    let rv = try be.makeBuffer([Float](repeating: 2, count: c))
                    let mean = try be.allocate(c, dtype: .float32), invStd = try be.allocate(c, dtype: .float32)
                    try be.batchNormForwardTraining(shape, x: xb, gamma: g, beta: bt, y: y, runningMean: rm,
                                                    runningVar: rv, momentum: 0.1, epsilon: 1e-5, savedMean: mean,
                                                    savedInvStd: invStd, relu: relu)
                    var results = try be.download(y) + be.download(mean) + be.download(invStd) + be.download(rm)
                        + be.download(rv)
                    let dx = try be.allocate(n, dtype: .float32)
                    let dg = try be.allocate(c, dtype: .float32), db = try be.allocate(c, dtype: .float32)
                    if relu {
                        try be.batchNormReLUBackward(shape, x: xb, y: y, dy: dyb, gamma: g, savedMean: mean,
                                                     savedInvStd: invStd, dx: dx, dGamma: dg, dBeta: db)
                        results += try be.download(dx) + be.download(dg) + be.download(db)
                        // With β: the mask recomputed from x (OpenCL), y read (CPU).
                        try be.batchNormReLUBackward(shape, x: xb, y: y, dy: dyb, gamma: g, beta: bt, savedMean: mean,
                                                     savedInvStd: invStd, dx: dx, dGamma: dg, dBeta: db)
                    } else {
                        try be.batchNormBackward(shape, x: xb, dy: dyb, gamma: g, savedMean: mean,
                                                 savedInvStd: invStd, dx: dx, dGamma: dg, dBeta: db)
                    }
                    results += try be.download(dx) + be.download(dg) + be.download(db)
                    try be.batchNormForwardInference(shape, x: xb, gamma: g, beta: bt, runningMean: rm, runningVar: rv,
                                                     epsilon: 1e-5, y: y, relu: relu)
                    return results + (try be.download(y))
                }
            }
        }
    }

    func testPoolingAtEdgeShapes() throws {
        var rng = SeededGenerator.fresh()
        let problems = [
            // ResNet's stem window on an odd plane; a 1×1 plane; a tall thin plane; one channel.
            try Pool2DDescriptor(batch: 2, channels: 3, inH: 19, inW: 23, windowH: 3, windowW: 3, strideH: 2, strideW: 2,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 3, channels: 2, inH: 1, inW: 1, windowH: 1, windowW: 1, strideH: 1, strideW: 1,
                                 mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 1, inH: 301, inW: 2, windowH: 2, windowW: 2, strideH: 1, strideW: 1,
                                 mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 1, inH: 70, inW: 90, windowH: 3, windowW: 2, strideH: 3, strideW: 2,
                                 padding: Padding2D(top: 1, bottom: 0, left: 0, right: 1), mode: .max),
            // Rows wide enough for the vector taps of POOL_VEC > 1: stride 1 with padding, and
            // stride 2 with a partial last vector.
            try Pool2DDescriptor(batch: 2, channels: 2, inH: 9, inW: 29, windowH: 3, windowW: 3, strideH: 1, strideW: 1,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 3, inH: 20, inW: 36, windowH: 2, windowW: 2, strideH: 2, strideW: 2,
                                 mode: .max),
            // ResNet's stem window on rows of 64 and 35: whole and partial 16-wide gather strips,
            // and forward strips at the row ends picked from the nearest in-row vectors.
            try Pool2DDescriptor(batch: 2, channels: 2, inH: 10, inW: 64, windowH: 3, windowW: 3, strideH: 2, strideW: 2,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 3, inH: 9, inW: 35, windowH: 3, windowW: 3, strideH: 2, strideW: 2,
                                 mode: .max),
            // Average backward with more candidate outputs along a row than a vector holds at
            // stride 2 (POOL_VEC 4: 5 for 4 pixels): the first vector of them loaded inside the
            // row, gathered from clamped columns at its ends.
            try Pool2DDescriptor(batch: 1, channels: 2, inH: 7, inW: 45, windowH: 5, windowW: 5, strideH: 2, strideW: 2,
                                 padding: Padding2D(2), mode: .max),
        ]
        for base in problems {
            for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
                var d = base
                d.mode = mode
                // Distinct values, so that a max's winner is the same on both backends.
                let x = (0..<d.inputCount).map { Float($0) / Float(d.inputCount) }.shuffled(using: &rng)
                let dy = rng.floats(d.outputCount)
                try crossCheck(MemoryBoundTunables.pooling, Self.poolingSets, "\(d) seed \(rng.seed)", sampled: 1) { be in
                    try poolingForwardBackward(be, d, x: x, dy: dy)
                }
            }
        }
    }

    /// pooling_same.cl's "same" stride-1 pools (average forward in both padding modes, average
    /// backward with padding counted, max forward and backward): one plane (edge kernels only),
    /// two, and several (interior kernels between); rows of 16 (the narrowest taken), 17 and 40
    /// (work-groups rounded up past the row, a last column strip overlapping the one before),
    /// strips that leave a partial last one, 5×5 windows (on 17 columns a middle strip of 4
    /// reaches past the row) and a 7×7.
    func testSamePoolingAtEdgeShapes() throws {
        var rng = SeededGenerator.fresh()
        let problems = [
            try Pool2DDescriptor(batch: 1, channels: 1, inH: 16, inW: 16, windowH: 3, windowW: 3, strideH: 1, strideW: 1,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 2, channels: 1, inH: 30, inW: 17, windowH: 3, windowW: 3, strideH: 1, strideW: 1,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 3, channels: 2, inH: 9, inW: 40, windowH: 5, windowW: 5, strideH: 1, strideW: 1,
                                 padding: Padding2D(2), mode: .max),
            try Pool2DDescriptor(batch: 2, channels: 3, inH: 28, inW: 28, windowH: 3, windowW: 3, strideH: 1, strideW: 1,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 2, inH: 13, inW: 17, windowH: 5, windowW: 5, strideH: 1, strideW: 1,
                                 padding: Padding2D(2), mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 1, inH: 11, inW: 20, windowH: 7, windowW: 7, strideH: 1, strideW: 1,
                                 padding: Padding2D(3), mode: .max),
        ]
        let cl = try openCL()
        for base in problems {
            for mode in [PoolingMode.max, .averageIncludingPadding, .averageExcludingPadding] {
                var d = base
                d.mode = mode
                XCTAssertTrue(cl.samePoolingApplies(d), "\(d) should take pooling_same.cl")
                // Distinct values, so that a max's winner is the same on both backends.
                let x = (0..<d.inputCount).map { Float($0) / Float(d.inputCount) }.shuffled(using: &rng)
                let dy = rng.floats(d.outputCount)
                try crossCheck(MemoryBoundTunables.poolingSame, Self.poolingSameSets, "\(d) seed \(rng.seed)",
                               sampled: 1) { be in
                    try poolingForwardBackward(be, d, x: x, dy: dy)
                }
            }
        }
    }

    /// pooling_same.cl's max forward picks the CPU backend's winner where windows hold ties,
    /// NaN and −∞ (the first maximum in row-major order, the last NaN; a window of −∞ keeps its
    /// first pixel in the image), with and without indices, bit for bit, in two parameter sets
    /// a problem in turn (four of the five a run, all of them over runs); the backward pass
    /// then sums the same gradients.
    func testSameMaxPoolingTiesAndNaN() throws {
        var rng = SeededGenerator.fresh()
        let problems = [
            try Pool2DDescriptor(batch: 2, channels: 3, inH: 28, inW: 28, windowH: 3, windowW: 3, strideH: 1, strideW: 1,
                                 padding: Padding2D(1), mode: .max),
            try Pool2DDescriptor(batch: 1, channels: 2, inH: 13, inW: 17, windowH: 5, windowW: 5, strideH: 1, strideW: 1,
                                 padding: Padding2D(2), mode: .max),
        ]
        let values: [Float] = [-1, 0, 0, 1, 1, -.infinity, -.infinity, .nan]
        for d in problems {
            XCTAssertTrue(try openCL().samePoolingApplies(d), "\(d) should take pooling_same.cl")
            // Runs of −∞ as well as scattered ties, so that whole windows are −∞.
            let x = (0..<d.inputCount).map { $0 % 97 < 9 ? -Float.infinity : values.randomElement(using: &rng)! }
            let dy = rng.floats(d.outputCount)
            // Bit halves up to 65535 beside them: a difference of 1 is 1.5e-5 of that scale.
            try crossCheck(MemoryBoundTunables.poolingSame, Self.poolingSameSets, "\(d) seed \(rng.seed)",
                           tolerance: 1e-6, sampled: 2) { be in
                let xb = try be.makeBuffer(x)
                let y = try be.allocate(d.outputCount, dtype: .float32), plain = try be.allocate(d.outputCount, dtype: .float32)
                let indices = try be.allocate(d.outputCount, dtype: .int32), dx = try be.allocate(d.inputCount, dtype: .float32)
                try be.poolingForward(d, x: xb, y: y, indices: indices)
                try be.poolingForward(d, x: xb, y: plain, indices: nil)
                try be.poolingBackward(d, dy: try be.makeBuffer(dy), indices: indices, dx: dx)
                // Bit patterns (16 bits a Float, so exact) and winners: NaN compared too.
                let bits = (try be.download(y) + be.download(plain)).flatMap {
                    [Float($0.bitPattern >> 16), Float($0.bitPattern & 0xffff)]
                }
                return bits + (try be.downloadInt32(indices)).map(Float.init) + (try be.download(dx))
            }
        }
    }

    /// pooling_tiled.cl's average backward where windows tile the input: 16 outputs wide (the
    /// narrowest taken), 17 and 20 (groups rounded up past the row), output heights that leave
    /// a partial last group of rows, a 3×3/3 window (scalar stores), both padding modes.
    func testTiledAveragePoolingAtEdgeShapes() throws {
        var rng = SeededGenerator.fresh()
        let problems = [
            try Pool2DDescriptor(batch: 1, channels: 1, inH: 32, inW: 32, windowH: 2, windowW: 2, strideH: 2, strideW: 2,
                                 mode: .averageIncludingPadding),
            try Pool2DDescriptor(batch: 2, channels: 3, inH: 34, inW: 40, windowH: 2, windowW: 2, strideH: 2, strideW: 2,
                                 mode: .averageIncludingPadding),
            try Pool2DDescriptor(batch: 1, channels: 2, inH: 48, inW: 51, windowH: 3, windowW: 3, strideH: 3, strideW: 3,
                                 mode: .averageIncludingPadding),
            try Pool2DDescriptor(batch: 2, channels: 2, inH: 60, inW: 56, windowH: 2, windowW: 2, strideH: 2, strideW: 2,
                                 mode: .averageIncludingPadding),
        ]
        let cl = try openCL()
        for base in problems {
            for mode in [PoolingMode.averageIncludingPadding, .averageExcludingPadding] {
                var d = base
                d.mode = mode
                XCTAssertTrue(cl.tiledPoolingApplies(d), "\(d) should take pooling_tiled.cl")
                let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
                try crossCheck(MemoryBoundTunables.poolingTiled, Self.poolingTiledSets, "\(d) seed \(rng.seed)",
                               sampled: 1) { be in
                    try poolingForwardBackward(be, d, x: x, dy: dy)
                }
            }
        }
    }

    /// Global average pooling: staged groups with a partial last group (planes not a multiple
    /// of the group), one-pixel planes, ResNet's 7² head, the largest staged plane (16², fewer
    /// planes per group than work-items) and the first plane size past it (one group per plane);
    /// backward with totals that are not multiples of POOL_VEC.
    func testGlobalAveragePoolAtEdgeShapes() throws {
        var rng = SeededGenerator.fresh()
        for (planes, spatial) in [(67, 49), (5, 1), (300, 3), (33, 256), (3, 257), (1, 7)] {
            let x = rng.floats(planes * spatial), dy = rng.floats(planes)
            try crossCheck(MemoryBoundTunables.pooling, Self.poolingSets, "\(planes)×\(spatial) seed \(rng.seed)",
                           tolerance: 1e-4, sampled: 2) { be in
                let y = try be.allocate(planes, dtype: .float32), dx = try be.allocate(planes * spatial, dtype: .float32)
                try be.globalAveragePoolForward(planes: planes, spatial: spatial, x: try be.makeBuffer(x), y: y)
                try be.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: try be.makeBuffer(dy), dx: dx)
                return try be.download(y) + be.download(dx)
            }
        }
    }

    /// The work-group-per-row softmax (run directly on OpenCL; the backend picks it for rows of
    /// 512 and more) against the CPU backend: rows of one float, around a float16 vector, of
    /// 1000 and 1001 floats, and huge logits (±1000: every exponential but the largest
    /// underflows), forward and backward, both modes.
    func testWorkGroupSoftmaxAtEdgeShapes() throws {
        var rng = SeededGenerator.fresh()
        for axis in [1, 15, 16, 17, 1000, 1001] {
            for (log, range) in [(false, -5...5), (true, -5...5), (false, -1000...1000), (true, -1000...1000)]
                as [(Bool, ClosedRange<Float>)] {
                let shape = AxisShape(outer: 3, axis: axis, inner: 1)
                let x = rng.floats(shape.count, in: range), dy = rng.floats(shape.count)
                // dx of nearly one-hot rows is the rounding of Σ dy·y: backward only on small logits.
                let backward = range.upperBound <= 5
                try crossCheck(MemoryBoundTunables.softmax, Self.softmaxSets,
                               "softmax \(shape) log=\(log) ±\(range.upperBound) seed \(rng.seed)") { be in
                    let y = try be.allocate(shape.count, dtype: .float32), dx = try be.allocate(shape.count, dtype: .float32)
                    try workGroupSoftmaxForward(be, shape, log: log, x: try be.makeBuffer(x), y: y)
                    guard backward else { return try be.download(y) }
                    try workGroupSoftmaxBackward(be, shape, log: log, y: y, dy: try be.makeBuffer(dy), dx: dx)
                    return try be.download(y) + be.download(dx)
                }
            }
        }
    }

    /// −∞ and NaN entries in the work-group softmax: a −∞ logit gets probability 0 (log: −∞), a
    /// NaN anywhere in a row makes the whole row NaN, and so does a row of −∞ only, as on the CPU
    /// backend; the other rows stay exact.
    func testWorkGroupSoftmaxNonFiniteEntries() throws {
        let cl = try openCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.softmax, nil) }
        var rng = SeededGenerator.fresh()
        for axis in [1, 17, 1001] {
            let shape = AxisShape(outer: 4, axis: axis, inner: 1)
            var x = rng.floats(shape.count, in: -5...5)
            // Row 0: −∞ entries (all of them when the row is one float); row 1: a NaN; row 2: only −∞.
            for a in stride(from: 0, to: axis, by: 3) { x[a] = -.infinity }
            x[axis + axis / 2] = .nan
            for a in 0..<axis { x[2 * axis + a] = -.infinity }
            for log in [false, true] {
                let expected = try softmaxOutput(TestBackends.cpu, shape, log: log, x)
                for set in Self.softmaxSets {
                    try cl.memoryBound.set(MemoryBoundTunables.softmax, set)
                    let actual = try softmaxOutput(cl, shape, log: log, x)
                    let message = "axis \(axis) log=\(log) \(set.map { "\($0)" } ?? "defaults") seed \(rng.seed)"
                    XCTAssertEqual(actual.map(\.isNaN), expected.map(\.isNaN), "NaN positions: " + message)
                    let kept = actual.indices.filter { !expected[$0].isNaN }
                    assertClose(kept.map { actual[$0] }, kept.map { expected[$0] }, tolerance: 1e-5, message)
                }
            }
        }
    }

    /// The forward's exponentials element by element against a Double reference, over x − max
    /// from 0 down past the normal floats (−90), under every softmax set (the kernel's own
    /// exponential and the built-in one): each probability within 1e-5 relative or 1e-37 absolute
    /// (the own exponential gives 0 below −87.33, the built-in one denormals); each
    /// log-probability within 1e-6 of max(1, |expected|).
    func testWorkGroupSoftmaxExponentialsAcrossTheirRange() throws {
        let cl = try openCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.softmax, nil) }
        var rng = SeededGenerator.fresh()
        let axis = 1001, shape = AxisShape(outer: 2, axis: axis, inner: 1)
        // Row 0: evenly from 0 to −90; row 1: random in [−90, 0] with a 0 (the maximum) in the
        // middle. x − max is then x itself, exact in float, so the reference's rounding is the kernel's.
        var x = (0..<axis).map { -90 * Float($0) / Float(axis - 1) } + rng.floats(axis, in: -90...0)
        x[axis + axis / 2] = 0
        for log in [false, true] {
            let expected = ActivationReference.softmax(shape, log: log, x.doubles)
            for set in Self.softmaxSets {
                try cl.memoryBound.set(MemoryBoundTunables.softmax, set)
                let actual = try softmaxOutput(cl, shape, log: log, x)
                let message = "log=\(log) \(set.map { "\($0)" } ?? "defaults") seed \(rng.seed)"
                let worst = zip(actual, expected).enumerated().max { a, b in
                    outside(Double(a.element.0), a.element.1, log: log) < outside(Double(b.element.0), b.element.1, log: log)
                }!
                XCTAssertLessThanOrEqual(outside(Double(worst.element.0), worst.element.1, log: log), 1,
                                         "x[\(worst.offset)] = \(x[worst.offset]): got \(worst.element.0), "
                                         + "expected \(worst.element.1); " + message)
            }
        }
        /// How far `actual` is from `expected` in units of the tolerance above (≤ 1 passes).
        func outside(_ actual: Double, _ expected: Double, log: Bool) -> Double {
            let error = abs(actual - expected)
            if log { return error / (1e-6 * max(1, abs(expected))) }
            return error / max(1e-5 * expected, 1e-37)
        }
    }

    private func softmaxOutput(_ be: any Backend, _ shape: AxisShape, log: Bool, _ x: [Float]) throws -> [Float] {
        let y = try be.allocate(shape.count, dtype: .float32)
        try workGroupSoftmaxForward(be, shape, log: log, x: try be.makeBuffer(x), y: y)
        return try be.download(y)
    }

    /// The work-group kernels on OpenCL whatever the row length; the CPU backend's softmax elsewhere.
    private func workGroupSoftmaxForward(_ be: any Backend, _ shape: AxisShape, log: Bool, x: any DeviceBuffer,
                                         y: any DeviceBuffer) throws {
        if let cl = be as? OpenCLBackend {
            try cl.softmaxForward(shape, log: log, x: x, y: y, algorithm: .workgroup)
        } else {
            try be.softmaxForward(shape, log: log, x: x, y: y)
        }
    }

    private func workGroupSoftmaxBackward(_ be: any Backend, _ shape: AxisShape, log: Bool, y: any DeviceBuffer,
                                          dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        if let cl = be as? OpenCLBackend {
            try cl.softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx, algorithm: .workgroup)
        } else {
            try be.softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx)
        }
    }

    func testInvalidTunablesAreRejected() throws {
        let cl = try openCL()
        XCTAssertThrowsError(try cl.memoryBound.set(MemoryBoundTunables.streaming,
                                                    ["STREAM_WG": 48, "STREAM_VEC": 4, "STREAM_ITEMS": 1]))
        XCTAssertThrowsError(try cl.memoryBound.set(MemoryBoundTunables.batchNorm, ["BN_WG": 64]))
        XCTAssertThrowsError(try cl.memoryBound.set(MemoryBoundTunables.softmax,
                                                    ["SOFTMAX_WG": 8, "SOFTMAX_VEC": 32, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 1]))
        XCTAssertEqual(cl.memoryBound.values(MemoryBoundTunables.pooling), MemoryBoundTunables.pooling.cpuDefault)
    }

    /// The settings keep each family's `-D` options beside its values (formed once, not per
    /// launch); they must follow every `set`, and a rejected set must leave both as they were.
    func testSettingsOptionsFollowTheirValues() throws {
        let settings = MemoryBoundSettings(kind: .cpu), family = MemoryBoundTunables.softmax
        func check(_ expected: TunableValues, _ line: UInt = #line) {
            let (values, options) = settings.resolved(family)
            XCTAssertEqual(values, expected, line: line)
            XCTAssertEqual(options, family.options(expected), line: line)
        }
        check(family.cpuDefault)
        let other = ["SOFTMAX_WG": 16, "SOFTMAX_VEC": 4, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 0]
        try settings.set(family, other)
        check(other)
        XCTAssertThrowsError(try settings.set(family, ["SOFTMAX_WG": 3]))
        check(other)
        try settings.set(family, nil)
        check(family.cpuDefault)
        XCTAssertEqual(MemoryBoundSettings(kind: .gpu).resolved(family).values, family.gpuDefault)
        XCTAssertEqual(settings.values(MemoryBoundTunables.streaming), MemoryBoundTunables.streaming.cpuDefault)
    }
}
