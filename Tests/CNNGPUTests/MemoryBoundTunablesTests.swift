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

    private func openCL() throws -> OpenCLBackend {
        _ = try TestBackends.requireOpenCL()
        return try XCTUnwrap(Self.backend, "could not open a second OpenCL backend")
    }

    /// Runs `body` on the CPU backend and on OpenCL under each of `sets`, comparing outputs.
    private func crossCheck(_ family: MemoryBoundKernel, _ sets: [TunableValues?], _ label: String,
                            tolerance: Double = 1e-5, _ body: (any Backend) throws -> [Float]) throws {
        let cl = try openCL()
        let expected = try body(TestBackends.cpu)
        defer { try? cl.memoryBound.set(family, nil) }
        for set in sets {
            try cl.memoryBound.set(family, set)
            let actual = try body(cl)
            assertClose(actual, expected, tolerance: tolerance, "\(label) with \(set.map { "\($0)" } ?? "defaults")")
        }
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
                try crossCheck(MemoryBoundTunables.pooling, Self.poolingSets, "\(d) seed \(rng.seed)") { be in
                    let xb = try be.makeBuffer(x), dyb = try be.makeBuffer(dy)
                    let y = try be.allocate(d.outputCount, dtype: .float32), dx = try be.allocate(d.inputCount, dtype: .float32)
                    let indices = mode == .max ? try be.allocate(d.outputCount, dtype: .int32) : nil
                    try be.poolingForward(d, x: xb, y: y, indices: indices)
                    try be.poolingBackward(d, dy: dyb, indices: indices, dx: dx)
                    return try be.download(y) + be.download(dx)
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
                           tolerance: 1e-4) { be in
                let y = try be.allocate(planes, dtype: .float32), dx = try be.allocate(planes * spatial, dtype: .float32)
                try be.globalAveragePoolForward(planes: planes, spatial: spatial, x: try be.makeBuffer(x), y: y)
                try be.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: try be.makeBuffer(dy), dx: dx)
                return try be.download(y) + be.download(dx)
            }
        }
    }

    func testInvalidTunablesAreRejected() throws {
        let cl = try openCL()
        XCTAssertThrowsError(try cl.memoryBound.set(MemoryBoundTunables.streaming,
                                                    ["STREAM_WG": 48, "STREAM_VEC": 4, "STREAM_ITEMS": 1]))
        XCTAssertThrowsError(try cl.memoryBound.set(MemoryBoundTunables.batchNorm, ["BN_WG": 64]))
        XCTAssertEqual(cl.memoryBound.values(MemoryBoundTunables.pooling), MemoryBoundTunables.pooling.cpuDefault)
    }
}
