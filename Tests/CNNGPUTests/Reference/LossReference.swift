import Foundation

/// Plain Double loops for the loss and metric ops: the definitions, not fast code.
enum LossReference {
    /// Mean over rows of -log softmax(logits)[label], with the row maximum subtracted so that
    /// logits of ±1000 stay finite. A label outside 0..<cols gives NaN.
    static func softmaxCrossEntropyLoss(rows: Int, cols: Int, logits: [Double], labels: [Int32]) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let row = Array(logits[r * cols..<(r + 1) * cols])
            let label = Int(labels[r])
            guard (0..<cols).contains(label) else { return .nan }
            let m = row.max()!
            let logSum = m + log(row.map { exp($0 - m) }.reduce(0, +))
            total += logSum - row[label]
        }
        return total / Double(rows)
    }

    /// (softmax(logits) - onehot(label)) / rows.
    static func softmaxCrossEntropyGradient(rows: Int, cols: Int, logits: [Double], labels: [Int32]) -> [Double] {
        var gradient = [Double](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            let row = Array(logits[r * cols..<(r + 1) * cols])
            let m = row.max()!
            let sum = row.map { exp($0 - m) }.reduce(0, +)
            for j in 0..<cols {
                let softmax = exp(row[j] - m) / sum
                gradient[r * cols + j] = (softmax - (j == Int(labels[r]) ? 1 : 0)) / Double(rows)
            }
        }
        return gradient
    }

    static func meanSquaredErrorLoss(prediction: [Double], target: [Double]) -> Double {
        zip(prediction, target).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(prediction.count)
    }

    static func meanSquaredErrorGradient(prediction: [Double], target: [Double]) -> [Double] {
        zip(prediction, target).map { 2 * ($0 - $1) / Double(prediction.count) }
    }

    /// Rows where fewer than k scores are strictly greater than the label's score.
    static func topKCorrect(rows: Int, cols: Int, k: Int, scores: [Float], labels: [Int32]) -> Int {
        var correct = 0
        for r in 0..<rows {
            let label = Int(labels[r])
            guard (0..<cols).contains(label) else { continue }
            let row = scores[r * cols..<(r + 1) * cols]
            let target = scores[r * cols + label]
            if !target.isNaN, row.filter({ $0 > target }).count < k { correct += 1 }
        }
        return correct
    }

    /// Index of the first largest score of each row.
    static func argmax(rows: Int, cols: Int, x: [Float]) -> [Int32] {
        (0..<rows).map { r in
            var best = 0
            for j in 0..<cols where x[r * cols + j] > x[r * cols + best] { best = j }
            return Int32(best)
        }
    }
}
