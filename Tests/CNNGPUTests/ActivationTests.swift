@testable import CNNGPU
import XCTest

final class ActivationTests: XCTestCase {
    static let functions: [Activation] = [.relu, .leakyReLU(alpha: 0.1), .elu(alpha: 1), .elu(alpha: 0.7),
                                          .sigmoid, .tanh]

    /// Random inputs in [-3, 3] kept at least `margin` away from 0, where relu, leaky relu and
    /// elu (alpha ≠ 1) have a kink that finite differences cannot resolve.
    func inputs(_ count: Int, _ rng: inout SeededGenerator, margin: Float = 1e-2) -> [Float] {
        rng.floats(count, in: -3...3).map { abs($0) < margin ? ($0 < 0 ? -margin : margin) * 2 : $0 }
    }

    // MARK: Element-wise activations

    func testActivationForwardMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ActivationOps).self) {
            for f in Self.functions {
                for count in [1, 7, 1003] {
                    let x = rng.floats(count, in: -4...4)
                    let X = try b.makeBuffer(x), Y = try b.allocate(count, dtype: .float32)
                    try b.activationForward(f, count: count, x: X, y: Y)
                    let expected = ActivationReference.forward(f, x.doubles)
                    assertClose(try b.download(Y), expected, "\(b.testName) \(f) n=\(count) seed \(rng.seed)")
                    // In place: x and y the same buffer.
                    try b.activationForward(f, count: count, x: X, y: X)
                    assertClose(try b.download(X), expected, "\(b.testName) \(f) in place n=\(count) seed \(rng.seed)")
                }
            }
        }
    }

    func testActivationBackwardMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ActivationOps).self) {
            for f in Self.functions {
                for count in [1, 7, 301] {
                    let x = inputs(count, &rng), dy = rng.floats(count)
                    let X = try b.makeBuffer(x), Y = try b.allocate(count, dtype: .float32)
                    let DY = try b.makeBuffer(dy), DX = try b.allocate(count, dtype: .float32)
                    try b.activationForward(f, count: count, x: X, y: Y)
                    try b.activationBackward(f, count: count, x: X, y: Y, dy: DY, dx: DX)
                    let dx = try b.download(DX)
                    let message = "\(b.testName) \(f) n=\(count) seed \(rng.seed)"
                    assertClose(dx, ActivationReference.backward(f, x: x.doubles, dy: dy.doubles), message)
                    let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                        ActivationReference.forward(f, $0)
                    }
                    assertClose(dx, numeric, "finite differences: " + message)
                    // dx may overwrite dy.
                    try b.activationBackward(f, count: count, x: X, y: Y, dy: DY, dx: DY)
                    XCTAssertEqual(try b.download(DY), dx, "dx aliasing dy: " + message)
                }
            }
        }
    }

    /// With alpha > 0, y > 0 exactly where x > 0, so after an in-place forward pass (x
    /// overwritten by y) the backward pass still works when given y for x.
    func testBackwardAfterInPlaceForward() throws {
        var rng = SeededGenerator.fresh()
        let count = 301
        for b in TestBackends.conforming((any ActivationOps).self) {
            for f in Self.functions {
                let x = inputs(count, &rng), dy = rng.floats(count)
                let X = try b.makeBuffer(x), DY = try b.makeBuffer(dy), DX = try b.allocate(count, dtype: .float32)
                try b.activationForward(f, count: count, x: X, y: X)
                try b.activationBackward(f, count: count, x: X, y: X, dy: DY, dx: DX)
                assertClose(try b.download(DX), ActivationReference.backward(f, x: x.doubles, dy: dy.doubles),
                            "\(b.testName) \(f) seed \(rng.seed)")
            }
        }
    }

    func testActivationSpecialValues() throws {
        for b in TestBackends.conforming((any ActivationOps).self) {
            let x: [Float] = [-100, -1, 0, 1, 100]
            let X = try b.makeBuffer(x), Y = try b.allocate(5, dtype: .float32)
            try b.activationForward(.relu, count: 5, x: X, y: Y)
            XCTAssertEqual(try b.download(Y), [0, 0, 0, 1, 100], b.testName)
            try b.activationForward(.sigmoid, count: 5, x: X, y: Y)
            let s = try b.download(Y)
            XCTAssertEqual(s[0], 0, accuracy: 1e-30, b.testName)
            XCTAssertEqual(s[2], 0.5, b.testName)
            XCTAssertEqual(s[4], 1, b.testName)
            try b.activationForward(.tanh, count: 5, x: X, y: Y)
            XCTAssertEqual(try b.download(Y)[0], -1, accuracy: 1e-6, b.testName)
            // ReLU's gradient at exactly 0 is 0 (PyTorch's convention).
            let DY = try b.makeBuffer([1, 1, 1, 1, 1]), DX = try b.allocate(5, dtype: .float32)
            try b.activationBackward(.relu, count: 5, x: X, y: Y, dy: DY, dx: DX)
            XCTAssertEqual(try b.download(DX), [0, 0, 0, 1, 1], b.testName)
        }
    }

    // MARK: Softmax

    static let softmaxShapes = [AxisShape(outer: 3, axis: 7, inner: 5), AxisShape(outer: 4, axis: 10, inner: 1),
                                AxisShape(outer: 1, axis: 1, inner: 3), AxisShape(outer: 2, axis: 33, inner: 2)]

    func testSoftmaxForwardMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ActivationOps).self) {
            for shape in Self.softmaxShapes {
                for log in [false, true] {
                    let x = rng.floats(shape.count, in: -5...5)
                    let X = try b.makeBuffer(x), Y = try b.allocate(shape.count, dtype: .float32)
                    try b.softmaxForward(shape, log: log, x: X, y: Y)
                    let expected = ActivationReference.softmax(shape, log: log, x.doubles)
                    let message = "\(b.testName) \(shape) log=\(log) seed \(rng.seed)"
                    assertClose(try b.download(Y), expected, message)
                    try b.softmaxForward(shape, log: log, x: X, y: X)
                    assertClose(try b.download(X), expected, "in place: " + message)
                }
            }
        }
    }

    /// Logits far beyond Float's exp range: only the max-shifted form gets them right.
    func testSoftmaxIsNumericallyStable() throws {
        var rng = SeededGenerator.fresh()
        let shape = AxisShape(outer: 4, axis: 10, inner: 1)
        for b in TestBackends.conforming((any ActivationOps).self) {
            for log in [false, true] {
                let x = rng.floats(shape.count, in: -5...5).enumerated().map { $0.element + ($0.offset % 2 == 0 ? 200 : -200) }
                let X = try b.makeBuffer(x), Y = try b.allocate(shape.count, dtype: .float32)
                try b.softmaxForward(shape, log: log, x: X, y: Y)
                let y = try b.download(Y)
                XCTAssert(y.allSatisfy(\.isFinite), "\(b.testName) log=\(log) seed \(rng.seed): \(y)")
                assertClose(y, ActivationReference.softmax(shape, log: log, x.doubles),
                            "\(b.testName) log=\(log) seed \(rng.seed)")
            }
        }
    }

    func testSoftmaxBackwardMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ActivationOps).self) {
            for shape in Self.softmaxShapes {
                for log in [false, true] {
                    let x = rng.floats(shape.count, in: -3...3), dy = rng.floats(shape.count)
                    let X = try b.makeBuffer(x), Y = try b.allocate(shape.count, dtype: .float32)
                    let DY = try b.makeBuffer(dy), DX = try b.allocate(shape.count, dtype: .float32)
                    try b.softmaxForward(shape, log: log, x: X, y: Y)
                    try b.softmaxBackward(shape, log: log, y: Y, dy: DY, dx: DX)
                    let dx = try b.download(DX)
                    let message = "\(b.testName) \(shape) log=\(log) seed \(rng.seed)"
                    assertClose(dx, ActivationReference.softmaxBackward(shape, log: log, x: x.doubles, dy: dy.doubles),
                                message)
                    let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                        ActivationReference.softmax(shape, log: log, $0)
                    }
                    // A softmax row of length 1 has zero gradient: compare absolutely there.
                    if shape.axis == 1 {
                        XCTAssert(dx.allSatisfy { abs($0) < 1e-6 }, message)
                    } else {
                        assertClose(dx, numeric, "finite differences: " + message)
                    }
                    try b.softmaxBackward(shape, log: log, y: Y, dy: DY, dx: DY)
                    XCTAssertEqual(try b.download(DY), dx, "dx aliasing dy: " + message)
                }
            }
        }
    }

    /// The work-group-per-row kernels, which the OpenCL backend picks for rows of 512 and more,
    /// run here directly under several softmax tunable sets: rows shorter than a vector, than a
    /// work-group's vectors, one float past them, and long rows with a partial last vector.
    func testOpenCLWorkGroupSoftmaxMatchesReference() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.softmax, nil) }
        var rng = SeededGenerator.fresh()
        // Both orders of a work-item's vectors (contiguous runs, coalesced), runs that leave
        // the last work-items of a group without vectors (8 × float8 or 8 × float16 on a row of
        // 70), and scalar runs; float16 in both orders.
        let sets: [TunableValues?] = [
            nil, ["SOFTMAX_WG": 16, "SOFTMAX_VEC": 8, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 1],
            ["SOFTMAX_WG": 128, "SOFTMAX_VEC": 4, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 0],
            ["SOFTMAX_WG": 32, "SOFTMAX_VEC": 1, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 1],
            ["SOFTMAX_WG": 16, "SOFTMAX_VEC": 2, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 0],
            ["SOFTMAX_WG": 8, "SOFTMAX_VEC": 8, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 1],
            ["SOFTMAX_WG": 64, "SOFTMAX_VEC": 1, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 0],
            ["SOFTMAX_WG": 16, "SOFTMAX_VEC": 16, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 1],
            ["SOFTMAX_WG": 32, "SOFTMAX_VEC": 16, "SOFTMAX_CONTIGUOUS": 1, "SOFTMAX_POLY_EXP": 0],
            ["SOFTMAX_WG": 2, "SOFTMAX_VEC": 4, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 1],
        ]
        for set in sets {
            try cl.memoryBound.set(MemoryBoundTunables.softmax, set)
            let values = cl.memoryBound.values(MemoryBoundTunables.softmax)
            let span = values["SOFTMAX_WG"]! * values["SOFTMAX_VEC"]!
            for shape in [AxisShape(outer: 4, axis: 10, inner: 1), AxisShape(outer: 1, axis: 1, inner: 1),
                          AxisShape(outer: 3, axis: span + 1, inner: 1), AxisShape(outer: 2, axis: 1000, inner: 1),
                          AxisShape(outer: 2, axis: 1003, inner: 1), AxisShape(outer: 1, axis: 70, inner: 1),
                          AxisShape(outer: 5, axis: 1, inner: 1)] {
                for (log, range) in [(false, -5...5), (true, -5...5), (false, -500...500), (true, -500...500)] as [(Bool, ClosedRange<Float>)] {
                    // ±500: most exponentials underflow to 0 (no scaling rescues them) and the
                    // largest dominates the sum.
                    let x = rng.floats(shape.count, in: range), dy = rng.floats(shape.count)
                    let X = try cl.makeBuffer(x), Y = try cl.allocate(shape.count, dtype: .float32)
                    let DY = try cl.makeBuffer(dy), DX = try cl.allocate(shape.count, dtype: .float32)
                    let message = "\(shape) log=\(log) \(values) seed \(rng.seed)"
                    try cl.softmaxForward(shape, log: log, x: X, y: Y, algorithm: .workgroup)
                    assertClose(try cl.download(Y), ActivationReference.softmax(shape, log: log, x.doubles), message)
                    try cl.softmaxBackward(shape, log: log, y: Y, dy: DY, dx: DX, algorithm: .workgroup)
                    let dxExpected = ActivationReference.softmaxBackward(shape, log: log, x: x.doubles, dy: dy.doubles)
                    if range.upperBound > 5 && !log {
                        // Nearly one-hot rows: dx = y·(dy − Σ dy·y) is a difference of nearly
                        // equal floats where y ≈ 1 and tiny elsewhere, so every |dx| is near the
                        // rounding of the sum (|dy| ≤ 1): compare absolutely, a few ulps of 1.
                        let worst = zip(try cl.download(DX), dxExpected).map { abs(Double($0) - $1) }.max() ?? 0
                        XCTAssertLessThan(worst, 1e-6, message)
                    } else {
                        assertClose(try cl.download(DX), dxExpected, tolerance: shape.axis == 1 ? 1 : 1e-4, message)
                    }
                    try cl.softmaxForward(shape, log: log, x: X, y: X, algorithm: .workgroup)
                    assertClose(try cl.download(X), ActivationReference.softmax(shape, log: log, x.doubles),
                                "in place: " + message)
                }
            }
        }
    }

    /// A NaN in a row makes that whole row NaN and leaves the other rows as they were, whichever
    /// lane, vector or work-item holds it: the max pass skips NaN (its compare is false), and the
    /// exponential of NaN − m carries it into the sum. CPU default set and a coalesced one.
    func testOpenCLWorkGroupSoftmaxNaNRow() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.softmax, nil) }
        var rng = SeededGenerator.fresh()
        let shape = AxisShape(outer: 3, axis: 1000, inner: 1)
        for set in [nil, ["SOFTMAX_WG": 16, "SOFTMAX_VEC": 8, "SOFTMAX_CONTIGUOUS": 0, "SOFTMAX_POLY_EXP": 1]] as [TunableValues?] {
            try cl.memoryBound.set(MemoryBoundTunables.softmax, set)
            for position in [0, 17, 999] {
                var x = rng.floats(shape.count, in: -5...5)
                x[1000 + position] = .nan
                let X = try cl.makeBuffer(x), Y = try cl.allocate(shape.count, dtype: .float32)
                let message = "NaN at \(position), \(cl.memoryBound.values(MemoryBoundTunables.softmax)) seed \(rng.seed)"
                for log in [false, true] {
                    try cl.softmaxForward(shape, log: log, x: X, y: Y, algorithm: .workgroup)
                    let y = try cl.download(Y)
                    XCTAssert(y[1000..<2000].allSatisfy(\.isNaN), message)
                    var finite = x
                    finite.replaceSubrange(1000..<2000, with: repeatElement(0, count: 1000))
                    let expected = ActivationReference.softmax(shape, log: log, finite.doubles)
                    for row in [0, 2] {
                        let r = row * 1000..<(row + 1) * 1000
                        assertClose(Array(y[r]), Array(expected[r]), "log=\(log) row \(row), " + message)
                    }
                }
            }
        }
    }

    // MARK: Maxout

    typealias MaxoutCase = (batch: Int, channels: Int, groupSize: Int, spatial: Int)
    static let maxoutCases: [MaxoutCase] = [(3, 6, 3, 7), (2, 4, 2, 5), (1, 5, 1, 3), (2, 5, 5, 1)]

    func testMaxoutForwardBackwardMatchReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ActivationOps).self) {
            for c in Self.maxoutCases {
                let inCount = c.batch * c.channels * c.spatial, outCount = inCount / c.groupSize
                // Distinct values at least 2/inCount apart, so no two in a group come within the
                // finite-difference step of each other (a near tie has no derivative).
                let x = (0..<inCount).map { Float($0) * 2 / Float(inCount) - 1 }.shuffled(using: &rng)
                let dy = rng.floats(outCount)
                let X = try b.makeBuffer(x), Y = try b.allocate(outCount, dtype: .float32)
                let DY = try b.makeBuffer(dy), DX = try b.makeBuffer(rng.floats(inCount))   // stale contents
                try b.maxoutForward(batch: c.batch, channels: c.channels, groupSize: c.groupSize, spatial: c.spatial,
                                    x: X, y: Y)
                try b.maxoutBackward(batch: c.batch, channels: c.channels, groupSize: c.groupSize, spatial: c.spatial,
                                     x: X, dy: DY, dx: DX)
                let message = "\(b.testName) \(c) seed \(rng.seed)"
                assertClose(try b.download(Y), ActivationReference.maxout(
                    batch: c.batch, channels: c.channels, groupSize: c.groupSize, spatial: c.spatial, x.doubles), message)
                let dx = try b.download(DX)
                assertClose(dx, ActivationReference.maxoutBackward(
                    batch: c.batch, channels: c.channels, groupSize: c.groupSize, spatial: c.spatial,
                    x: x.doubles, dy: dy.doubles), message)
                let numeric = finiteDifferenceGradient(at: x.doubles, weights: dy.doubles) {
                    ActivationReference.maxout(batch: c.batch, channels: c.channels, groupSize: c.groupSize,
                                               spatial: c.spatial, $0)
                }
                assertClose(dx, numeric, "finite differences: " + message)
            }
        }
    }

    func testMaxoutTiesRouteToFirstMaximum() throws {
        for b in TestBackends.conforming((any ActivationOps).self) {
            // [N=1, C=4, S=2], groups of 2: channel pairs (0,1) and (2,3).
            let X = try b.makeBuffer([1, 5, 1, 7, 3, 2, 3, 2])
            let Y = try b.allocate(4, dtype: .float32), DX = try b.allocate(8, dtype: .float32)
            try b.maxoutForward(batch: 1, channels: 4, groupSize: 2, spatial: 2, x: X, y: Y)
            XCTAssertEqual(try b.download(Y), [1, 7, 3, 2], b.testName)
            try b.maxoutBackward(batch: 1, channels: 4, groupSize: 2, spatial: 2, x: X,
                                 dy: try b.makeBuffer([10, 20, 30, 40]), dx: DX)
            XCTAssertEqual(try b.download(DX), [10, 0, 0, 20, 30, 40, 0, 0], b.testName)
        }
    }

    // MARK: Backends agree

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        func both(_ values: [Float]) throws -> (any DeviceBuffer, any DeviceBuffer) {
            (try cpu.makeBuffer(values), try cl.makeBuffer(values))
        }
        let count = 100_003   // also holds the largest softmax and maxout shapes below
        let x = inputs(count, &rng), dy = rng.floats(count)
        let (xc, xg) = try both(x), (dyc, dyg) = try both(dy)
        let (yc, yg) = try both(x), (dxc, dxg) = try both(x)
        for f in Self.functions {
            try cpu.activationForward(f, count: count, x: xc, y: yc)
            try cl.activationForward(f, count: count, x: xg, y: yg)
            assertClose(try cl.download(yg), try cpu.download(yc), tolerance: 1e-5, "\(f) forward seed \(rng.seed)")
            try cpu.activationBackward(f, count: count, x: xc, y: yc, dy: dyc, dx: dxc)
            try cl.activationBackward(f, count: count, x: xg, y: yg, dy: dyg, dx: dxg)
            assertClose(try cl.download(dxg), try cpu.download(dxc), tolerance: 1e-5, "\(f) backward seed \(rng.seed)")
        }
        for shape in [AxisShape(outer: 7, axis: 13, inner: 11), AxisShape(outer: 100, axis: 1000, inner: 1),
                      AxisShape(outer: 3, axis: 5, inner: 100)] {
            for log in [false, true] {
                try cpu.softmaxForward(shape, log: log, x: xc, y: yc)
                try cl.softmaxForward(shape, log: log, x: xg, y: yg)
                assertClose(try cl.download(yg, offset: 0, count: shape.count), try cpu.download(yc, offset: 0, count: shape.count),
                            tolerance: 1e-5, "softmax \(shape) log=\(log) seed \(rng.seed)")
                try cpu.softmaxBackward(shape, log: log, y: yc, dy: dyc, dx: dxc)
                try cl.softmaxBackward(shape, log: log, y: yg, dy: dyg, dx: dxg)
                assertClose(try cl.download(dxg, offset: 0, count: shape.count), try cpu.download(dxc, offset: 0, count: shape.count),
                            tolerance: 1e-5, "softmax backward \(shape) log=\(log) seed \(rng.seed)")
            }
        }
        let (n, c, g, s) = (5, 12, 4, 31)
        try cpu.maxoutForward(batch: n, channels: c, groupSize: g, spatial: s, x: xc, y: yc)
        try cl.maxoutForward(batch: n, channels: c, groupSize: g, spatial: s, x: xg, y: yg)
        XCTAssertEqual(try cl.download(yg, offset: 0, count: n * c / g * s),
                       try cpu.download(yc, offset: 0, count: n * c / g * s), "maxout seed \(rng.seed)")
        try cpu.maxoutBackward(batch: n, channels: c, groupSize: g, spatial: s, x: xc, dy: dyc, dx: dxc)
        try cl.maxoutBackward(batch: n, channels: c, groupSize: g, spatial: s, x: xg, dy: dyg, dx: dxg)
        XCTAssertEqual(try cl.download(dxg, offset: 0, count: n * c * s),
                       try cpu.download(dxc, offset: 0, count: n * c * s), "maxout backward seed \(rng.seed)")
    }

    // MARK: Bad input

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any ActivationOps).self) {
            let small = try b.allocate(5, dtype: .float32), big = try b.allocate(24, dtype: .float32)
            let ints = try b.allocate(24, dtype: .int32)
            let foreign = try CPUBackend().allocate(24, dtype: .float32)
            let name = b.testName
            assertThrowsCNNError({ try b.activationForward(.relu, count: 6, x: small, y: big) }, name)
            assertThrowsCNNError({ try b.activationForward(.relu, count: 6, x: big, y: small) }, name)
            assertThrowsCNNError({ try b.activationForward(.relu, count: 0, x: big, y: big) }, name)
            assertThrowsCNNError({ try b.activationForward(.tanh, count: -1, x: big, y: big) }, name)
            assertThrowsCNNError({ try b.activationForward(.relu, count: 6, x: ints, y: big) }, name)
            assertThrowsCNNError({ try b.activationForward(.relu, count: 6, x: foreign, y: big) }, name)
            assertThrowsCNNError({ try b.activationBackward(.sigmoid, count: 6, x: big, y: big, dy: small, dx: big) }, name)
            assertThrowsCNNError({ try b.activationBackward(.sigmoid, count: 6, x: big, y: big, dy: big, dx: small) }, name)

            let shape = AxisShape(outer: 2, axis: 3, inner: 2)
            assertThrowsCNNError({ try b.softmaxForward(shape, log: false, x: small, y: big) }, name)
            assertThrowsCNNError({ try b.softmaxForward(AxisShape(outer: 2, axis: 0, inner: 2), log: true, x: big, y: big) }, name)
            assertThrowsCNNError({ try b.softmaxBackward(shape, log: false, y: big, dy: big, dx: small) }, name)
            assertThrowsCNNError({ try b.softmaxBackward(shape, log: true, y: big, dy: ints, dx: big) }, name)

            assertThrowsCNNError({ try b.maxoutForward(batch: 1, channels: 6, groupSize: 4, spatial: 2, x: big, y: big) },
                                 "group does not divide channels: " + name)
            assertThrowsCNNError({ try b.maxoutForward(batch: 1, channels: 6, groupSize: 0, spatial: 2, x: big, y: big) }, name)
            assertThrowsCNNError({ try b.maxoutForward(batch: 2, channels: 6, groupSize: 2, spatial: 2, x: big, y: small) }, name)
            assertThrowsCNNError({ try b.maxoutForward(batch: 3, channels: 6, groupSize: 2, spatial: 2, x: big, y: big) }, name)
            assertThrowsCNNError({ try b.maxoutBackward(batch: 2, channels: 6, groupSize: 2, spatial: 2,
                                                        x: big, dy: big, dx: small) }, name)
            assertThrowsCNNError({ try b.maxoutBackward(batch: 2, channels: 6, groupSize: 5, spatial: 2,
                                                        x: big, dy: big, dx: big) }, name)
        }
    }
}
