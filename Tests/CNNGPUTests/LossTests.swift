import CNNGPU
import XCTest

final class LossTests: XCTestCase {
    private let shapes = [(rows: 3, cols: 7), (rows: 3, cols: 10), (rows: 3, cols: 1000), (rows: 5, cols: 1), (rows: 300, cols: 10)]

    // MARK: Running the ops

    private func crossEntropy(_ b: any LossOps, rows: Int, cols: Int, logits: [Float], labels: [Int32],
                              inPlace: Bool = false) throws -> (loss: Float, gradient: [Float]) {
        let x = try b.makeBuffer(logits), y = try b.makeInt32Buffer(labels)
        let loss = try b.allocate(1, dtype: .float32)
        let gradient = inPlace ? x : try b.allocate(rows * cols, dtype: .float32)
        try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: x, labels: y, loss: loss, gradient: gradient)
        return (try b.download(loss)[0], try b.download(gradient))
    }

    private func meanSquaredError(_ b: any LossOps, prediction: [Float], target: [Float]) throws
        -> (loss: Float, gradient: [Float]) {
        let p = try b.makeBuffer(prediction), t = try b.makeBuffer(target)
        let loss = try b.allocate(1, dtype: .float32), gradient = try b.allocate(prediction.count, dtype: .float32)
        try b.meanSquaredError(count: prediction.count, prediction: p, target: t, loss: loss, gradient: gradient)
        return (try b.download(loss)[0], try b.download(gradient))
    }

    private func topK(_ b: any LossOps, rows: Int, cols: Int, k: Int, scores: [Float], labels: [Int32]) throws -> Float {
        let x = try b.makeBuffer(scores), y = try b.makeInt32Buffer(labels)
        let out = try b.allocate(1, dtype: .float32)
        try b.fill(out, value: -1)
        try b.topKCorrect(rows: rows, cols: cols, k: k, scores: x, labels: y, out: out)
        return try b.download(out)[0]
    }

    /// The loss and gradient of `crossEntropy` against LossReference's, computed in Double.
    private func assertMatchesReference(_ got: (loss: Float, gradient: [Float]), rows: Int, cols: Int, logits: [Float],
                                        labels: [Int32], _ what: String, file: StaticString = #filePath,
                                        line: UInt = #line) {
        let x = logits.doubles
        assertClose([got.loss], [LossReference.softmaxCrossEntropyLoss(rows: rows, cols: cols, logits: x, labels: labels)],
                    what, file: file, line: line)
        assertClose(got.gradient, LossReference.softmaxCrossEntropyGradient(rows: rows, cols: cols, logits: x, labels: labels),
                    what, file: file, line: line)
    }

    private func argmax(_ b: any LossOps, rows: Int, cols: Int, x values: [Float]) throws -> [Int32] {
        let x = try b.makeBuffer(values), out = try b.allocate(rows, dtype: .int32)
        try b.argmax(rows: rows, cols: cols, x: x, out: out)
        return try b.downloadInt32(out)
    }

    // MARK: Softmax cross-entropy

    func testSoftmaxCrossEntropyMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for (rows, cols) in shapes {
                let logits = rng.floats(rows * cols, in: -4...4), labels = rng.ints(rows, below: cols)
                let got = try crossEntropy(b, rows: rows, cols: cols, logits: logits, labels: labels)
                let what = "\(b.testName) \(rows)×\(cols) seed \(rng.seed)"
                assertMatchesReference(got, rows: rows, cols: cols, logits: logits, labels: labels, what)
            }
        }
    }

    func testSoftmaxCrossEntropyGradientMatchesFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for (rows, cols) in [(3, 7), (3, 10)] {
                let logits = rng.floats(rows * cols, in: -3...3), labels = rng.ints(rows, below: cols)
                let got = try crossEntropy(b, rows: rows, cols: cols, logits: logits, labels: labels)
                let numeric = finiteDifferenceGradient(at: logits.doubles, weights: [1]) {
                    [LossReference.softmaxCrossEntropyLoss(rows: rows, cols: cols, logits: $0, labels: labels)]
                }
                assertClose(got.gradient, numeric, "\(b.testName) \(rows)×\(cols) seed \(rng.seed)")
            }
        }
    }

    func testSoftmaxCrossEntropyIsStableForHugeLogits() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            let (rows, cols) = (3, 10)
            // ±1000 overflows exp() without the max subtraction; one row is all +1000.
            var logits = rng.floats(rows * cols, in: -1000...1000)
            for j in 0..<cols { logits[2 * cols + j] = j % 2 == 0 ? 1000 : -1000 }
            let labels = rng.ints(rows, below: cols)
            let got = try crossEntropy(b, rows: rows, cols: cols, logits: logits, labels: labels)
            let what = "\(b.testName) seed \(rng.seed)"
            XCTAssertTrue(got.loss.isFinite && got.gradient.allSatisfy(\.isFinite), what)
            assertMatchesReference(got, rows: rows, cols: cols, logits: logits, labels: labels, what)
        }
    }

    /// A logit of −∞ that is not the label (a masked class) has probability 0: the loss stays
    /// finite without label smoothing, as PyTorch's does, on rows shorter and longer than a
    /// vector, in one row or in several of them.
    func testSoftmaxCrossEntropyMinusInfinityLogitIsFinite() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for (rows, cols) in [(3, 10), (3, 1000), (64, 10)] {
                var logits = rng.floats(rows * cols, in: -4...4)
                let labels = rng.ints(rows, below: cols)
                for r in stride(from: 0, to: rows, by: 2) { logits[r * cols + (Int(labels[r]) + 1) % cols] = -.infinity }
                let got = try crossEntropy(b, rows: rows, cols: cols, logits: logits, labels: labels)
                let what = "\(b.testName) \(rows)×\(cols) seed \(rng.seed)"
                XCTAssertTrue(got.loss.isFinite && got.gradient.allSatisfy(\.isFinite), "\(what): loss \(got.loss)")
                assertMatchesReference(got, rows: rows, cols: cols, logits: logits, labels: labels, what)
            }
        }
    }

    /// The device cannot throw on a label it reads: the loss becomes NaN (and so does the bad
    /// row's gradient), which the trainer's NaN check reports.
    func testSoftmaxCrossEntropyBadLabelGivesNaN() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            let (rows, cols) = (3, 7)
            let logits = rng.floats(rows * cols)
            for bad: Int32 in [-1, Int32(cols), 1_000_000] {
                let got = try crossEntropy(b, rows: rows, cols: cols, logits: logits, labels: [2, bad, 0])
                XCTAssertTrue(got.loss.isNaN, "\(b.testName) label \(bad): loss \(got.loss)")
                XCTAssertTrue(got.gradient[cols..<2 * cols].allSatisfy(\.isNaN), "\(b.testName) label \(bad)")
                XCTAssertTrue(got.gradient[0..<cols].allSatisfy(\.isFinite), "\(b.testName) label \(bad)")
                XCTAssertTrue(got.gradient[(2 * cols)...].allSatisfy(\.isFinite), "\(b.testName) label \(bad)")
            }
        }
    }

    func testSoftmaxCrossEntropyGradientMayOverwriteLogits() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            let (rows, cols) = (3, 10)
            let logits = rng.floats(rows * cols, in: -4...4), labels = rng.ints(rows, below: cols)
            let got = try crossEntropy(b, rows: rows, cols: cols, logits: logits, labels: labels, inPlace: true)
            let what = "\(b.testName) seed \(rng.seed)"
            assertMatchesReference(got, rows: rows, cols: cols, logits: logits, labels: labels, what)
        }
    }

    // MARK: Mean squared error

    func testMeanSquaredErrorMatchesReferenceAndFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for count in [1, 7, 1000, 4099, 70_001] {
                let p = rng.floats(count, in: -2...2), t = rng.floats(count, in: -2...2)
                let got = try meanSquaredError(b, prediction: p, target: t)
                let what = "\(b.testName) count \(count) seed \(rng.seed)"
                assertClose([got.loss], [LossReference.meanSquaredErrorLoss(prediction: p.doubles, target: t.doubles)], what)
                assertClose(got.gradient, LossReference.meanSquaredErrorGradient(prediction: p.doubles, target: t.doubles), what)
                if count <= 1000 {
                    let numeric = finiteDifferenceGradient(at: p.doubles, weights: [1]) {
                        [LossReference.meanSquaredErrorLoss(prediction: $0, target: t.doubles)]
                    }
                    assertClose(got.gradient, numeric, what + " (finite differences)")
                }
            }
        }
    }

    // MARK: Top-k and argmax

    func testTopKCorrectMatchesReference() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for (rows, cols) in [(3, 7), (3, 10), (3, 1000), (37, 10)] {
                // Scores from a few integers: many ties with the label's score.
                let continuous = rng.floats(rows * cols)
                let tied = (0..<rows * cols).map { _ in Float(Int.random(in: 0..<3, using: &rng)) }
                let labels = rng.ints(rows, below: cols)
                for scores in [continuous, tied] {
                    for k in Set([1, 2, 5, cols]) where k <= cols {
                        let expected = LossReference.topKCorrect(rows: rows, cols: cols, k: k, scores: scores, labels: labels)
                        XCTAssertEqual(try topK(b, rows: rows, cols: cols, k: k, scores: scores, labels: labels),
                                       Float(expected), "\(b.testName) \(rows)×\(cols) k \(k) seed \(rng.seed)")
                    }
                }
            }
        }
    }

    /// A label tied with the k-th score counts as correct; a label outside 0..<cols never does.
    func testTopKCorrectTiesAndBadLabels() throws {
        let scores: [Float] = [1, 2, 2, 0,
                               5, 5, 5, 5,
                               0, 3, 1, 2]
        for b in TestBackends.conforming((any LossOps).self) {
            XCTAssertEqual(try topK(b, rows: 3, cols: 4, k: 1, scores: scores, labels: [2, 3, 1]), 3, b.testName)
            XCTAssertEqual(try topK(b, rows: 3, cols: 4, k: 1, scores: scores, labels: [0, 0, 3]), 1, b.testName)
            XCTAssertEqual(try topK(b, rows: 3, cols: 4, k: 2, scores: scores, labels: [0, 0, 3]), 2, b.testName)
            XCTAssertEqual(try topK(b, rows: 3, cols: 4, k: 4, scores: scores, labels: [3, 0, 0]), 3, b.testName)
            XCTAssertEqual(try topK(b, rows: 3, cols: 4, k: 4, scores: scores, labels: [-1, 4, 1]), 1, b.testName)
        }
    }

    func testArgmaxMatchesReferenceAndPicksFirstOnTies() throws {
        var rng = SeededGenerator.fresh()
        for b in TestBackends.conforming((any LossOps).self) {
            for (rows, cols) in shapes + [(37, 10)] {
                let x = rng.floats(rows * cols)
                XCTAssertEqual(try argmax(b, rows: rows, cols: cols, x: x), LossReference.argmax(rows: rows, cols: cols, x: x),
                               "\(b.testName) \(rows)×\(cols) seed \(rng.seed)")
                let tied = (0..<rows * cols).map { _ in Float(Int.random(in: 0..<3, using: &rng)) }
                XCTAssertEqual(try argmax(b, rows: rows, cols: cols, x: tied), LossReference.argmax(rows: rows, cols: cols, x: tied),
                               "\(b.testName) ties \(rows)×\(cols) seed \(rng.seed)")
            }
            XCTAssertEqual(try argmax(b, rows: 3, cols: 4, x: [1, 3, 3, 0, -5, -5, -5, -5, 0, .nan, 9, .nan]),
                           [1, 0, 1], b.testName)
        }
    }

    // MARK: Backends agree

    func testOpenCLAndCPUAgree() throws {
        let cl = try TestBackends.requireOpenCL()
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let (rows, cols) = (3, 1000)
        let logits = rng.floats(rows * cols, in: -8...8), labels = rng.ints(rows, below: cols)
        let what = "seed \(rng.seed)"
        let ce = (try crossEntropy(cl, rows: rows, cols: cols, logits: logits, labels: labels),
                  try crossEntropy(cpu, rows: rows, cols: cols, logits: logits, labels: labels))
        assertClose([ce.0.loss], [ce.1.loss], tolerance: 1e-5, "cross-entropy loss " + what)
        assertClose(ce.0.gradient, ce.1.gradient, tolerance: 1e-5, "cross-entropy gradient " + what)

        let p = rng.floats(4099), t = rng.floats(4099)
        let mse = (try meanSquaredError(cl, prediction: p, target: t), try meanSquaredError(cpu, prediction: p, target: t))
        assertClose([mse.0.loss], [mse.1.loss], tolerance: 1e-5, "MSE loss " + what)
        assertClose(mse.0.gradient, mse.1.gradient, tolerance: 1e-6, "MSE gradient " + what)

        for k in [1, 5, 500] {
            XCTAssertEqual(try topK(cl, rows: rows, cols: cols, k: k, scores: logits, labels: labels),
                           try topK(cpu, rows: rows, cols: cols, k: k, scores: logits, labels: labels), "top-\(k) " + what)
        }
        XCTAssertEqual(try argmax(cl, rows: rows, cols: cols, x: logits), try argmax(cpu, rows: rows, cols: cols, x: logits),
                       "argmax " + what)
    }

    /// The tree reductions have a fixed order: the same inputs give the same bits every time.
    func testOpenCLReductionsAreDeterministic() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let p = rng.floats(70_001), t = rng.floats(70_001)
        let first = try meanSquaredError(cl, prediction: p, target: t).loss
        for _ in 0..<3 {
            XCTAssertEqual(try meanSquaredError(cl, prediction: p, target: t).loss.bitPattern, first.bitPattern, "seed \(rng.seed)")
        }
        let (rows, cols) = (300, 10)
        let logits = rng.floats(rows * cols), labels = rng.ints(rows, below: cols)
        let ce = try crossEntropy(cl, rows: rows, cols: cols, logits: logits, labels: labels).loss
        XCTAssertEqual(try crossEntropy(cl, rows: rows, cols: cols, logits: logits, labels: labels).loss.bitPattern,
                       ce.bitPattern, "seed \(rng.seed)")
    }

    // MARK: Bad input

    func testBadInputIsTypedError() throws {
        for b in TestBackends.conforming((any LossOps).self) {
            let (rows, cols) = (3, 7)
            let x = try b.allocate(rows * cols, dtype: .float32), short = try b.allocate(rows * cols - 1, dtype: .float32)
            let labels = try b.makeInt32Buffer([0, 1, 2]), shortLabels = try b.makeInt32Buffer([0, 1])
            let floatLabels = try b.makeBuffer([0, 1, 2])
            let loss = try b.allocate(1, dtype: .float32), g = try b.allocate(rows * cols, dtype: .float32)
            let intOut = try b.allocate(rows, dtype: .int32), floatOut = try b.allocate(rows, dtype: .float32)
            let foreign = try CPUBackend().allocate(rows * cols, dtype: .float32)
            let name = b.testName

            // Softmax cross-entropy.
            for (r, c) in [(0, cols), (rows, 0), (-1, cols), (rows, -2)] {
                assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: r, cols: c, logits: x, labels: labels, loss: loss, gradient: g) }, "\(name) \(r)×\(c)")
            }
            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: short, labels: labels, loss: loss, gradient: g) }, name)
            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: x, labels: shortLabels, loss: loss, gradient: g) }, name)
            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: x, labels: floatLabels, loss: loss, gradient: g) }, name)
            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: x, labels: labels, loss: intOut, gradient: g) }, name)
            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: x, labels: labels, loss: loss, gradient: short) }, name)
            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: foreign, labels: labels, loss: loss, gradient: g) }, name)

            assertThrowsCNNError({ try b.softmaxCrossEntropy(rows: Int.max / 2, cols: 3, logits: x, labels: labels, loss: loss, gradient: g) }, name + " overflow")

            // Mean squared error.
            assertThrowsCNNError({ try b.meanSquaredError(count: 0, prediction: x, target: x, loss: loss, gradient: g) }, name)
            assertThrowsCNNError({ try b.meanSquaredError(count: rows * cols, prediction: x, target: short, loss: loss, gradient: g) }, name)
            assertThrowsCNNError({ try b.meanSquaredError(count: rows * cols, prediction: x, target: x, loss: loss, gradient: short) }, name)
            assertThrowsCNNError({ try b.meanSquaredError(count: rows, prediction: x, target: x, loss: intOut, gradient: g) }, name)

            // Top-k.
            for k in [0, -1, cols + 1] {
                assertThrowsCNNError({ try b.topKCorrect(rows: rows, cols: cols, k: k, scores: x, labels: labels, out: loss) }, "\(name) k \(k)")
            }
            assertThrowsCNNError({ try b.topKCorrect(rows: rows, cols: cols, k: 1, scores: short, labels: labels, out: loss) }, name)
            assertThrowsCNNError({ try b.topKCorrect(rows: Int.max / 2, cols: 3, k: 1, scores: x, labels: labels, out: loss) }, name + " overflow")
            assertThrowsCNNError({ try b.topKCorrect(rows: rows, cols: cols, k: 1, scores: x, labels: floatLabels, out: loss) }, name)
            assertThrowsCNNError({ try b.topKCorrect(rows: rows, cols: cols, k: 1, scores: x, labels: shortLabels, out: loss) }, name)
            assertThrowsCNNError({ try b.topKCorrect(rows: rows, cols: cols, k: 1, scores: x, labels: labels, out: intOut) }, name)

            // Argmax.
            assertThrowsCNNError({ try b.argmax(rows: 0, cols: cols, x: x, out: intOut) }, name)
            assertThrowsCNNError({ try b.argmax(rows: 3, cols: Int.max / 2, x: x, out: intOut) }, name + " overflow")
            assertThrowsCNNError({ try b.argmax(rows: rows, cols: cols, x: short, out: intOut) }, name)
            assertThrowsCNNError({ try b.argmax(rows: rows, cols: cols, x: x, out: floatOut) }, name)
            assertThrowsCNNError({ try b.argmax(rows: rows + 1, cols: cols - 2, x: x, out: intOut) }, name)
        }
    }
}
