@testable import CNNGPU
import XCTest

final class ElementwiseTests: XCTestCase {
    static let sizes = [1, 7, 1_000_003]

    func testAddMultiplyScaleAxpyMatchReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ElementwiseOps).self) {
            for n in Self.sizes {
                let a = rng.floats(n, in: -10...10), c = rng.floats(n, in: -10...10)
                let alpha = Float.random(in: -3...3, using: &rng)
                let A = try b.makeBuffer(a), B = try b.makeBuffer(c), OUT = try b.allocate(n, dtype: .float32)
                let message = "\(b.testName) n=\(n) alpha=\(alpha) seed \(rng.seed)"
                try b.add(count: n, a: A, b: B, out: OUT)
                assertClose(try b.download(OUT), zip(a, c).map { Double($0) + Double($1) }, "add " + message)
                try b.multiply(count: n, a: A, b: B, out: OUT)
                assertClose(try b.download(OUT), zip(a, c).map { Double($0) * Double($1) }, "multiply " + message)
                try b.scale(count: n, alpha: alpha, x: A, out: OUT)
                assertClose(try b.download(OUT), a.map { Double(alpha) * Double($0) }, "scale " + message)
                try b.axpy(count: n, alpha: alpha, x: A, y: B)
                assertClose(try b.download(B), zip(a, c).map { Double($1) + Double(alpha) * Double($0) }, "axpy " + message)
            }
        }
    }

    /// Outputs may alias inputs, and ops touch only the first `count` elements.
    func testAliasingAndPartialCounts() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ElementwiseOps).self) {
            let n = 1001, count = 777
            let a = rng.floats(n), c = rng.floats(n)
            let message = "\(b.testName) seed \(rng.seed)"
            let A = try b.makeBuffer(a), B = try b.makeBuffer(c)
            try b.add(count: count, a: A, b: B, out: A)           // a ← a + b
            var expected = a.doubles
            for i in 0..<count { expected[i] = Double(a[i]) + Double(c[i]) }
            assertClose(try b.download(A), expected, "add into a " + message)
            try b.multiply(count: count, a: B, b: B, out: B)      // b ← b²
            var squared = c.doubles
            for i in 0..<count { squared[i] = Double(c[i]) * Double(c[i]) }
            assertClose(try b.download(B), squared, "square in place " + message)
            let X = try b.makeBuffer(a)
            try b.scale(count: count, alpha: -0.5, x: X, out: X)
            var scaled = a.doubles
            for i in 0..<count { scaled[i] = -0.5 * Double(a[i]) }
            assertClose(try b.download(X), scaled, "scale in place " + message)
            let Y = try b.makeBuffer(a)
            try b.axpy(count: count, alpha: 2, x: Y, y: Y)        // y ← 3y
            var tripled = a.doubles
            for i in 0..<count { tripled[i] = 3 * Double(a[i]) }
            assertClose(try b.download(Y), tripled, "axpy onto itself " + message)
        }
    }

    // MARK: Dropout

    /// Known answer: the first two outputs of SplitMix64 seeded with 0 (from its reference implementation).
    func testCounterRandomIsSplitMix64() {
        XCTAssertEqual(CounterRandom.hash(seed: 0, index: 0), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(CounterRandom.hash(seed: 0, index: 1), 0x6E78_9E6A_A1B9_65F4)
        var rng = SeededGenerator.fresh()
        let seed = rng.next()
        for i in [0, 1, 12345, 1 << 40] {
            XCTAssertEqual(CounterRandom.hash(seed: seed, index: UInt64(i)), DropoutReference.splitMix64(seed: seed, index: i))
            let u = CounterRandom.uniform(seed: seed, index: i)
            XCTAssert(u >= 0 && u < 1)
        }
    }

    func testDropoutMatchesReferenceMask() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any ElementwiseOps).self) {
            for n in [1, 7, 1003] {
                for p: Float in [0, 0.1, 0.5, 0.9] {
                    let seed = rng.next()
                    let x = rng.floats(n)
                    let X = try b.makeBuffer(x), Y = try b.allocate(n, dtype: .float32)
                    let M = try b.allocate(n, dtype: .float32)
                    try b.dropoutForward(count: n, probability: p, seed: seed, x: X, y: Y, mask: M)
                    let mask = DropoutReference.mask(count: n, probability: p, seed: seed)
                    let message = "\(b.testName) n=\(n) p=\(p) dropout seed \(seed)"
                    XCTAssertEqual(try b.download(M), mask, message)
                    XCTAssertEqual(try b.download(Y), zip(x, mask).map { $0 * $1 }, message)
                    // Backward is multiply by the mask; in place on x too.
                    try b.dropoutForward(count: n, probability: p, seed: seed, x: X, y: X, mask: M)
                    XCTAssertEqual(try b.download(X), zip(x, mask).map { $0 * $1 }, "in place " + message)
                    let DY = try b.makeBuffer(x), DX = try b.allocate(n, dtype: .float32)
                    try b.dropoutBackward(count: n, dy: DY, mask: M, dx: DX)
                    XCTAssertEqual(try b.download(DX), zip(x, mask).map { $0 * $1 }, "backward " + message)
                }
            }
        }
    }

    func testDropoutKeepsAboutOneMinusP() throws {
        var rng = SeededGenerator.fresh()
        let n = 1_000_003
        for b in TestBackends.conforming((any ElementwiseOps).self) {
            let X = try b.makeBuffer([Float](repeating: 1, count: n))
            let Y = try b.allocate(n, dtype: .float32), M = try b.allocate(n, dtype: .float32)
            var previous: [Float]?
            for p: Float in [0.2, 0.5] {
                let seed = rng.next()
                try b.dropoutForward(count: n, probability: p, seed: seed, x: X, y: Y, mask: M)
                let mask = try b.download(M)
                let kept = Double(mask.filter { $0 != 0 }.count) / Double(n)
                // The standard deviation is below 5e-4: this bound is 10σ away.
                XCTAssertEqual(kept, 1 - Double(p), accuracy: 5e-3, "\(b.testName) p=\(p) dropout seed \(seed)")
                XCTAssert(mask.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) }, "\(b.testName) p=\(p)")
                // The expectation of y is x.
                let mean = try b.download(Y).reduce(0.0) { $0 + Double($1) } / Double(n)
                XCTAssertEqual(mean, 1, accuracy: 0.02, "\(b.testName) p=\(p) dropout seed \(seed)")
                if let previous { XCTAssertNotEqual(previous, mask, "different seeds give different masks") }
                previous = mask
            }
        }
    }

    func testDropoutMaskIsBitIdenticalOnOpenCLAndCPU() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let n = 100_003
        let x = rng.floats(n)
        for p: Float in [0, 0.3, 0.75, 0.999] {
            let seed = rng.next()
            var masks: [[Float]] = [], outputs: [[Float]] = []
            for b in [cpu, cl] as [any ElementwiseOps] {
                let X = try b.makeBuffer(x), Y = try b.allocate(n, dtype: .float32), M = try b.allocate(n, dtype: .float32)
                try b.dropoutForward(count: n, probability: p, seed: seed, x: X, y: Y, mask: M)
                masks.append(try b.download(M))
                outputs.append(try b.download(Y))
            }
            XCTAssert(masks[0].elementsEqual(masks[1]) { $0.bitPattern == $1.bitPattern }, "mask p=\(p) dropout seed \(seed)")
            XCTAssert(outputs[0].elementsEqual(outputs[1]) { $0.bitPattern == $1.bitPattern }, "y p=\(p) dropout seed \(seed)")
        }
    }

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let n = 65_537
        let a = rng.floats(n, in: -5...5), c = rng.floats(n, in: -5...5)
        let alpha = Float.random(in: -2...2, using: &rng)
        var results: [[[Float]]] = []
        for b in [cpu, cl] as [any ElementwiseOps] {
            let A = try b.makeBuffer(a), B = try b.makeBuffer(c), OUT = try b.allocate(n, dtype: .float32)
            var r: [[Float]] = []
            try b.add(count: n, a: A, b: B, out: OUT); r.append(try b.download(OUT))
            try b.multiply(count: n, a: A, b: B, out: OUT); r.append(try b.download(OUT))
            try b.scale(count: n, alpha: alpha, x: A, out: OUT); r.append(try b.download(OUT))
            try b.axpy(count: n, alpha: alpha, x: A, y: B); r.append(try b.download(B))
            results.append(r)
        }
        for (op, (onCPU, onCL)) in zip(["add", "multiply", "scale", "axpy"], zip(results[0], results[1])) {
            assertClose(onCL, onCPU, tolerance: 1e-6, "\(op) seed \(rng.seed)")
        }
    }

    // MARK: Bad input

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any ElementwiseOps).self) {
            let small = try b.allocate(5, dtype: .float32), big = try b.allocate(10, dtype: .float32)
            let ints = try b.allocate(10, dtype: .int32)
            let foreign = try CPUBackend().allocate(10, dtype: .float32)
            let name = b.testName
            for p: Float in [-0.1, 1, 1.5, .nan, .infinity] {
                assertThrowsCNNError({ try b.dropoutForward(count: 10, probability: p, seed: 1, x: big, y: big, mask: big) },
                                     "p=\(p) " + name)
            }
            assertThrowsCNNError({ try b.dropoutForward(count: 10, probability: 0.5, seed: 1, x: big, y: big, mask: small) }, name)
            assertThrowsCNNError({ try b.dropoutForward(count: 0, probability: 0.5, seed: 1, x: big, y: big, mask: big) }, name)
            assertThrowsCNNError({ try b.dropoutForward(count: 10, probability: 0.5, seed: 1, x: ints, y: big, mask: big) }, name)
            assertThrowsCNNError({ try b.add(count: 10, a: big, b: small, out: big) }, name)
            assertThrowsCNNError({ try b.add(count: 10, a: big, b: big, out: foreign) }, name)
            assertThrowsCNNError({ try b.add(count: 0, a: big, b: big, out: big) }, name)
            assertThrowsCNNError({ try b.multiply(count: 10, a: small, b: big, out: big) }, name)
            assertThrowsCNNError({ try b.multiply(count: -3, a: big, b: big, out: big) }, name)
            assertThrowsCNNError({ try b.scale(count: 10, alpha: 2, x: big, out: small) }, name)
            assertThrowsCNNError({ try b.scale(count: 10, alpha: 2, x: ints, out: big) }, name)
            assertThrowsCNNError({ try b.axpy(count: 10, alpha: 2, x: small, y: big) }, name)
            assertThrowsCNNError({ try b.axpy(count: 0, alpha: 2, x: big, y: big) }, name)
            assertThrowsCNNError({ try b.dropoutBackward(count: 10, dy: big, mask: small, dx: big) }, name)
        }
    }
}

final class OpenCLIndexRangeTests: XCTestCase {
    /// Tensors past 32-bit indexing cannot be allocated on PoCL (1 GiB buffers), so the check
    /// the OpenCL ops run is tested directly.
    func testTensorsPastInt32IndexingAreRefused() throws {
        let cl = try TestBackends.requireOpenCL()
        XCTAssertEqual(cl.info.maxIndexableElements, Int(Int32.max))
        XCTAssertNoThrow(try cl.checks.indexable("add", ["x": Int(Int32.max)]))
        assertThrowsCNNError({ try cl.checks.indexable("add", ["x": Int(Int32.max) + 1]) })
    }
}
