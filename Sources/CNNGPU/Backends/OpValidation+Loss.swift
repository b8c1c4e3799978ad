/// Argument checks of the loss and metric ops (`LossOps`), shared by every backend.
extension OpValidation {
    func softmaxCrossEntropy(rows: Int, cols: Int, labelSmoothing: Float = 0, logits: any DeviceBuffer,
                             labels: any DeviceBuffer, loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        let op = "softmax_cross_entropy"
        // PyTorch's range: ε = 1 would ignore the labels entirely.
        guard labelSmoothing >= 0, labelSmoothing < 1 else {
            throw CNNError.invalidArgument("\(op): label smoothing must be in [0, 1), got \(labelSmoothing)")
        }
        try checkPositive(op, ["rows": rows, "cols": cols])
        try elementCount(op, rows: rows, cols: cols)
        try buffer(logits, op, "logits", count: rows * cols)
        try buffer(labels, op, "labels", count: rows, dtype: .int32)
        try buffer(loss, op, "loss", count: 1)
        try buffer(gradient, op, "gradient", count: rows * cols)
    }

    func meanSquaredError(count: Int, prediction: any DeviceBuffer, target: any DeviceBuffer,
                          loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        let op = "mean_squared_error"
        try elementwise(op, count: count, ["prediction": prediction, "target": target, "gradient": gradient])
        try buffer(loss, op, "loss", count: 1)
    }

    func topKCorrect(rows: Int, cols: Int, k: Int, scores: any DeviceBuffer, labels: any DeviceBuffer,
                     out: any DeviceBuffer) throws {
        let op = "top_k_correct"
        try elementCount(op, rows: rows, cols: cols)
        try classification(op, rows: rows, cols: cols, scores: scores, labels: labels)
        guard k >= 1, k <= cols else {
            throw CNNError.invalidShape(op: op, detail: "k must be in 1...\(cols) (the number of classes), got \(k)")
        }
        try buffer(out, op, "out", count: 1)
    }

    func argmax(rows: Int, cols: Int, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        let op = "argmax"
        try elementCount(op, rows: rows, cols: cols)
        try classification(op, rows: rows, cols: cols, scores: x, labels: nil)
        try buffer(out, op, "out", count: rows, dtype: .int32)
    }

    private func classification(_ op: String, rows: Int, cols: Int, scores: any DeviceBuffer,
                                labels: (any DeviceBuffer)?) throws {
        try checkPositive(op, ["rows": rows, "cols": cols])
        try buffer(scores, op, "scores", count: rows * cols)
        if let labels { try buffer(labels, op, "labels", count: rows, dtype: .int32) }
    }

    /// Checks that `rows·cols` does not overflow, so that absurd sizes are an error, not a trap.
    private func elementCount(_ op: String, rows: Int, cols: Int) throws {
        guard !rows.multipliedReportingOverflow(by: cols).overflow else {
            throw CNNError.invalidShape(op: op, detail: "\(rows) rows × \(cols) columns overflows")
        }
    }
}
