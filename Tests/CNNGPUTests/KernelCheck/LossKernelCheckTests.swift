@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/loss.cl once on tiny shapes, for scripts/check-kernels.sh
/// (oclgrind). Values are checked loosely here; LossTests checks them properly.
final class KernelCheckLossTests: XCTestCase {
    func testEveryLossKernel() throws {
        let b = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let (rows, cols) = (5, 7)
        let logits = rng.floats(rows * cols), labels: [Int32] = [0, 6, 3, -1, 2]
        let x = try b.makeBuffer(logits), y = try b.makeInt32Buffer(labels)
        let loss = try b.allocate(1, dtype: .float32), gradient = try b.allocate(rows * cols, dtype: .float32)

        // cross_entropy_rows, cross_entropy_gradient, sum_tree_reduce (a bad label on row 3).
        try b.softmaxCrossEntropy(rows: rows, cols: cols, logits: x, labels: y, loss: loss, gradient: gradient)
        XCTAssertTrue(try b.download(loss)[0].isNaN)
        XCTAssertTrue(try b.download(gradient)[0..<cols].allSatisfy(\.isFinite))
        // The same kernels with label smoothing.
        try b.softmaxCrossEntropy(rows: rows, cols: cols, labelSmoothing: 0.1, logits: x, labels: y, loss: loss, gradient: gradient)
        XCTAssertTrue(try b.download(gradient)[0..<cols].allSatisfy(\.isFinite))

        // squared_error_gradient, then sum_tree_reduce with more values than work-items.
        let count = 300
        let p = try b.makeBuffer(rng.floats(count)), t = try b.makeBuffer(rng.floats(count))
        let g = try b.allocate(count, dtype: .float32)
        try b.meanSquaredError(count: count, prediction: p, target: t, loss: loss, gradient: g)
        XCTAssertTrue(try b.download(loss)[0].isFinite)

        // topk_correct_rows, argmax_rows.
        try b.topKCorrect(rows: rows, cols: cols, k: 2, scores: x, labels: y, out: loss)
        XCTAssertLessThanOrEqual(try b.download(loss)[0], Float(rows - 1))
        let indices = try b.allocate(rows, dtype: .int32)
        try b.argmax(rows: rows, cols: cols, x: x, out: indices)
        XCTAssertEqual(try b.downloadInt32(indices), LossReference.argmax(rows: rows, cols: cols, x: logits))
        // The per-row kernels' work-groups on rows of 40 (a group of 16 or 32 work-items, some
        // taking 3 columns and some 2), with a tie and a NaN for argmax's tree.
        let (rows2, cols2) = (3, 40)
        var logits2 = rng.floats(rows2 * cols2)
        logits2[5] = 9; logits2[37] = 9; logits2[cols2 + 30] = .nan
        let x2 = try b.makeBuffer(logits2), y2 = try b.makeInt32Buffer([1, 39, 20])
        let gradient2 = try b.allocate(rows2 * cols2, dtype: .float32)
        try b.softmaxCrossEntropy(rows: rows2, cols: cols2, logits: x2, labels: y2, loss: loss, gradient: gradient2)
        try b.topKCorrect(rows: rows2, cols: cols2, k: 3, scores: x2, labels: y2, out: loss)
        let indices2 = try b.allocate(rows2, dtype: .int32)
        try b.argmax(rows: rows2, cols: cols2, x: x2, out: indices2)
        // The CPU backend's rule: a NaN ranks above any number (LossReference.argmax skips NaNs).
        let cpu = TestBackends.cpu, cpuIndices = try cpu.allocate(rows2, dtype: .int32)
        try cpu.argmax(rows: rows2, cols: cols2, x: try cpu.makeBuffer(logits2), out: cpuIndices)
        XCTAssertEqual(try b.downloadInt32(indices2), try cpu.downloadInt32(cpuIndices))
        XCTAssertEqual(try b.downloadInt32(indices2)[0...1], [5, 30])
    }
}
