@testable import CNNGPU
import XCTest

final class MemoryTests: XCTestCase {
    func testUploadDownloadCopyFill() throws {
        for b in TestBackends.all {
            let x = try b.makeBuffer([1, 2, 3, 4, 5, 6])
            XCTAssertEqual(try b.download(x), [1, 2, 3, 4, 5, 6], b.testName)
            let y = try b.allocate(6, dtype: .float32)
            try b.fill(y, value: -1)
            try b.copy(from: x, to: y, count: 3, srcOffset: 2, dstOffset: 1)
            XCTAssertEqual(try b.download(y), [-1, 3, 4, 5, -1, -1], b.testName)
            let labels = try b.makeInt32Buffer([7, 0, -3])
            XCTAssertEqual(try b.downloadInt32(labels), [7, 0, -3], b.testName)
        }
    }

    func testStridedCopyConcatAndSplit() throws {
        for b in TestBackends.all {
            // Two [N=2, C, S=2] tensors with 1 and 2 channels.
            let a = try b.makeBuffer([1, 2, 3, 4])
            let c = try b.makeBuffer([10, 11, 12, 13, 20, 21, 22, 23])
            let out = try b.allocate(12, dtype: .float32)
            try b.concatChannels(batch: 2, spatial: 2, inputs: [(a, 1), (c, 2)], output: out)
            XCTAssertEqual(try b.download(out), [1, 2, 10, 11, 12, 13, 3, 4, 20, 21, 22, 23], b.testName)
            let a2 = try b.allocate(4, dtype: .float32), c2 = try b.allocate(8, dtype: .float32)
            try b.splitChannels(batch: 2, spatial: 2, input: out, outputs: [(a2, 1), (c2, 2)])
            XCTAssertEqual(try b.download(a2), [1, 2, 3, 4], b.testName)
            XCTAssertEqual(try b.download(c2), [10, 11, 12, 13, 20, 21, 22, 23], b.testName)
        }
    }

    func testViewsAliasTheirParent() throws {
        for b in TestBackends.all {
            let a = b.viewAlignment
            let flat = try b.allocate(3 * a, dtype: .float32)
            try b.fill(flat, value: 0)
            let second = try b.view(of: flat, offset: a, count: a)
            try b.fill(second, value: 2)
            let values = try b.download(flat)
            XCTAssertEqual(values[0], 0, b.testName); XCTAssertEqual(values[a], 2, b.testName)
            XCTAssertEqual(values[2 * a - 1], 2, b.testName); XCTAssertEqual(values[2 * a], 0, b.testName)
            XCTAssertEqual(try b.download(second), [Float](repeating: 2, count: a), b.testName)
            assertThrowsCNNError({ _ = try b.view(of: flat, offset: 2 * a, count: a + 1) }, b.testName)
        }
    }

    func testBadBuffersAreTypedErrors() throws {
        for b in TestBackends.all {
            assertThrowsCNNError({ _ = try b.allocate(0, dtype: .float32) }, b.testName)
            let small = try b.allocate(3, dtype: .float32)
            assertThrowsCNNError({ try b.upload([Float](repeating: 1, count: 4), to: small) }, b.testName)
            assertThrowsCNNError({ _ = try b.download(small, offset: 2, count: 2) }, b.testName)
            assertThrowsCNNError({ try b.uploadInt32([1], to: small) }, b.testName)
            let other: any BackendMemory = CPUBackend()
            let foreign = try other.allocate(3, dtype: .float32)
            assertThrowsCNNError({ try b.fill(foreign, value: 0, offset: 0, count: 3) }, b.testName)
        }
    }
}

final class GEMMTests: XCTestCase {
    /// Plain triple loop in Double: C = alpha·op(A)·op(B) + beta·C.
    func referenceGEMM(_ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                       _ a: [Float], _ b: [Float], _ beta: Double, _ c: [Float]) -> [Double] {
        var out = c.doubles
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = tA ? a[p * m + i] : a[i * k + p]
                    let bv = tB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                out[i * n + j] = alpha * s + beta * out[i * n + j]
            }
        }
        return out
    }

    func testGEMMAllTransposesAgainstReference() throws {
        var rng = SeededGenerator.fresh()
        let (m, n, k) = (7, 5, 9)
        for b in TestBackends.conforming((any GEMMOps).self) {
            for tA in [false, true] {
                for tB in [false, true] {
                    let a = rng.floats(m * k), bm = rng.floats(k * n), c = rng.floats(m * n)
                    let expected = referenceGEMM(tA, tB, m, n, k, 1.5, a, bm, 0.5, c)
                    let A = try b.makeBuffer(a), B = try b.makeBuffer(bm), C = try b.makeBuffer(c)
                    try b.gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1.5,
                               a: MatrixRef(A, ld: tA ? m : k), b: MatrixRef(B, ld: tB ? k : n),
                               beta: 0.5, c: MatrixRef(C, ld: n))
                    assertClose(try b.download(C), expected, "\(b.testName) tA=\(tA) tB=\(tB) seed \(rng.seed)")
                }
            }
        }
    }

    func testStridedBatchedGEMM() throws {
        var rng = SeededGenerator.fresh()
        let (m, n, k, batch) = (3, 4, 5, 3)
        for b in TestBackends.conforming((any GEMMOps).self) {
            let a = rng.floats(m * k * batch), bm = rng.floats(k * n * batch)
            var expected: [Double] = []
            for i in 0..<batch {
                expected += referenceGEMM(false, false, m, n, k, 1, Array(a[(i * m * k)..<((i + 1) * m * k)]),
                                          Array(bm[(i * k * n)..<((i + 1) * k * n)]), 0, [Float](repeating: 0, count: m * n))
            }
            let A = try b.makeBuffer(a), B = try b.makeBuffer(bm), C = try b.allocate(m * n * batch, dtype: .float32)
            try b.gemmStridedBatched(transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                                     a: MatrixRef(A, ld: k, stride: m * k), b: MatrixRef(B, ld: n, stride: k * n),
                                     beta: 0, c: MatrixRef(C, ld: n, stride: m * n), batchCount: batch)
            assertClose(try b.download(C), expected, "\(b.testName) seed \(rng.seed)")
        }
    }

    func testGEMMRejectsShortBuffers() throws {
        for b in TestBackends.conforming((any GEMMOps).self) {
            let A = try b.allocate(6, dtype: .float32)
            assertThrowsCNNError({
                try b.gemm(transA: false, transB: false, m: 3, n: 3, k: 3, alpha: 1, a: MatrixRef(A, ld: 3),
                           b: MatrixRef(A, ld: 3), beta: 0, c: MatrixRef(A, ld: 3))
            }, b.testName)
        }
    }
}
