import CNNGPU
import XCTest

/// Softmax cross-entropy with label smoothing, against PyTorch's definition written out in
/// Double: the target is q = (1 - ε)·onehot + ε/cols and the loss is -Σ q·log softmax.
final class LabelSmoothingTests: XCTestCase {
    private func reference(rows: Int, cols: Int, smoothing eps: Double, logits: [Double], labels: [Int32]) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let row = Array(logits[r * cols..<(r + 1) * cols])
            let m = row.max()!
            let logSum = m + log(row.map { exp($0 - m) }.reduce(0, +))
            for j in 0..<cols {
                let q = (j == Int(labels[r]) ? 1 - eps : 0) + eps / Double(cols)
                total -= q * (row[j] - logSum)
            }
        }
        return total / Double(rows)
    }

    private func run(_ b: any LossOps, rows: Int, cols: Int, smoothing: Float, logits: [Float], labels: [Int32],
                     inPlace: Bool = false) throws -> (loss: Float, gradient: [Float]) {
        let x = try b.makeBuffer(logits), y = try b.makeInt32Buffer(labels)
        let loss = try b.allocate(1, dtype: .float32)
        let gradient = inPlace ? x : try b.allocate(rows * cols, dtype: .float32)
        try b.softmaxCrossEntropy(rows: rows, cols: cols, labelSmoothing: smoothing, logits: x, labels: y, loss: loss,
                                  gradient: gradient)
        return (try b.download(loss)[0], try b.download(gradient))
    }

    func testSmoothedLossAndGradientMatchReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for (rows, cols, eps) in [(3, 7, 0.1), (4, 10, 0.25), (2, 1000, 0.1), (5, 1, 0.3)] as [(Int, Int, Double)] {
                let logits = rng.floats(rows * cols, in: -4...4), labels = rng.ints(rows, below: cols)
                let what = "\(b.testName) \(rows)×\(cols) ε \(eps) seed \(rng.seed)"
                for inPlace in [false, true] {
                    let got = try run(b, rows: rows, cols: cols, smoothing: Float(eps), logits: logits, labels: labels,
                                      inPlace: inPlace)
                    assertClose([got.loss], [reference(rows: rows, cols: cols, smoothing: eps, logits: logits.doubles,
                                                       labels: labels)], what)
                    // The reference's derivative, by central differences.
                    let numeric = finiteDifferenceGradient(at: logits.doubles, weights: [1]) {
                        [self.reference(rows: rows, cols: cols, smoothing: eps, logits: $0, labels: labels)]
                    }
                    assertClose(got.gradient, numeric, what + (inPlace ? " in place" : ""))
                }
            }
        }
    }

    func testZeroSmoothingIsPlainCrossEntropyAndHugeLogitsStayFinite() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            let (rows, cols) = (3, 10)
            let logits = rng.floats(rows * cols, in: -1000...1000), labels = rng.ints(rows, below: cols)
            for eps in [0, 0.1] {
                let got = try run(b, rows: rows, cols: cols, smoothing: Float(eps), logits: logits, labels: labels)
                let expected = reference(rows: rows, cols: cols, smoothing: eps, logits: logits.doubles, labels: labels)
                XCTAssertEqual(Double(got.loss), expected, accuracy: 1e-4 * abs(expected) + 1e-3, "\(b.testName) ε \(eps)")
                XCTAssertTrue(got.gradient.allSatisfy(\.isFinite), b.testName)
            }
        }
    }

    func testSmoothingOutsideZeroToOneIsRefused() throws {
        for b in TestBackends.conforming((any LossOps).self) {
            let x = try b.makeBuffer([Float](repeating: 0, count: 6)), y = try b.makeInt32Buffer([0, 1])
            let loss = try b.allocate(1, dtype: .float32), g = try b.allocate(6, dtype: .float32)
            for bad: Float in [-0.1, 1, .nan] {
                let error = assertThrowsCNNError({
                    try b.softmaxCrossEntropy(rows: 2, cols: 3, labelSmoothing: bad, logits: x, labels: y, loss: loss, gradient: g)
                }, "\(b.testName) ε \(bad)")
                XCTAssertTrue(error?.contains("label smoothing") ?? false, error ?? "no error")
            }
        }
    }
}
