import Foundation

/// How a trained classifier does on a dataset: loss, top-1 and top-5 accuracy, the confusion
/// matrix with per-class precision, recall and F1, and its most confident mistakes.
public struct ClassificationReport: Sendable {
    public struct Mistake: Sendable {
        /// The sample's position in the dataset's order.
        public var index: Int
        public var truth: Int
        public var predicted: Int
        /// The softmax probability of the (wrong) prediction.
        public var confidence: Float
        /// The sample as given to the model (preprocessed).
        public var sample: [Float]
    }

    public var classNames: [String]
    public var samples: Int
    /// Mean softmax cross-entropy.
    public var loss: Double
    public var top1: Double
    /// Top-5 accuracy (top-k with k = the number of classes when there are fewer than 5).
    public var top5: Double
    public var confusion: ConfusionMatrix
    /// The most confident misclassifications, most confident first.
    public var mistakes: [Mistake]

    /// Runs `data` through the model on an inference plan of its backend (the same plans and ops
    /// as training), computing every statistic from the logits on the host in Double.
    /// - Parameters:
    ///   - graph: the model as built.
    ///   - parameters: its trained weights, on the backend that runs the evaluation.
    ///   - data: the labelled samples, preprocessed as in training.
    ///   - classNames: a name for each of the model's classes, in label order.
    ///   - keepMistakes: how many of the most confident misclassifications to keep.
    public static func evaluate(graph: Graph, parameters: ParameterStore, data: BatchSource, classNames: [String],
                                keepMistakes: Int = 16) throws -> ClassificationReport {
        let classes = graph.outputShape.count
        guard classNames.count == classes else {
            throw CNNError.invalidArgument("\(classNames.count) class names for a model of \(classes) classes")
        }
        let backend = parameters.backend
        var plans: [Int: Plan] = [:]
        var confusion = ConfusionMatrix(classes: classes)
        var lossSum = 0.0, top5 = 0, seen = 0
        var mistakes: [Mistake] = []
        let sampleSize = graph.inputShape.count
        let k = min(5, classes)
        for batch in data.batches(epoch: 0, skipping: 0) {
            let n = batch.count
            let plan = try plans[n] ?? Plan(graph: graph, parameters: parameters, batch: n, training: false)
            plans[n] = plan
            try backend.upload(Array(batch.images.prefix(n * sampleSize)), to: plan.input)
            try Executor(plan: plan).forward(training: false)
            let logits = try backend.download(plan.output, count: n * classes)
            for s in 0..<n {
                let row = logits[(s * classes)..<((s + 1) * classes)].map(Double.init)
                let truth = Int(batch.labels[s])
                guard (0..<classes).contains(truth) else {
                    throw CNNError.invalidArgument("label \(truth) of sample \(seen + s) is outside the model's \(classes) classes")
                }
                let top = row.max()!
                let logSum = top + log(row.reduce(0) { $0 + exp($1 - top) })
                lossSum += logSum - row[truth]
                let predicted = row.indices.max { row[$0] < row[$1] }!
                confusion.add(truth: truth, predicted: predicted)
                // Ties count as correct, as the device's top-k op does.
                if row.filter({ $0 > row[truth] }).count < k { top5 += 1 }
                if predicted != truth {
                    let confidence = Float(exp(top - logSum))
                    if mistakes.count < keepMistakes || confidence > mistakes.last!.confidence {
                        let sample = Array(batch.images[(s * sampleSize)..<((s + 1) * sampleSize)])
                        mistakes.append(Mistake(index: seen + s, truth: truth, predicted: predicted, confidence: confidence, sample: sample))
                        mistakes.sort { $0.confidence > $1.confidence }
                        if mistakes.count > keepMistakes { mistakes.removeLast() }
                    }
                }
            }
            seen += n
        }
        if let error = data.iterationError { throw error }
        guard seen > 0 else { throw CNNError.invalidArgument("the evaluation data has no samples") }
        return ClassificationReport(classNames: classNames, samples: seen, loss: lossSum / Double(seen),
                                    top1: Double(confusion.correct) / Double(seen), top5: Double(top5) / Double(seen),
                                    confusion: confusion, mistakes: mistakes)
    }

    /// Loss, accuracies, the per-class table and the confusion matrix, for the console.
    public var text: String {
        var lines = [String(format: "samples   %d", samples), String(format: "loss      %.4f", loss),
                     String(format: "top-1     %.2f%%", top1 * 100),
                     String(format: "top-%d     %.2f%%", min(5, classNames.count), top5 * 100), "",
                     "class".padding(toLength: 22, withPad: " ", startingAt: 0) + "precision    recall        F1   support"]
        func pct(_ v: Double) -> String { v.isNaN ? "        -" : String(format: "%8.2f%%", v * 100) }
        for c in 0..<classNames.count {
            lines.append(Canvas.fitting("\(c) \(classNames[c])", width: 21 * BitmapFont.advance).padding(toLength: 22, withPad: " ", startingAt: 0)
                         + pct(confusion.precision(c)) + "  " + pct(confusion.recall(c)) + "  " + pct(confusion.f1(c))
                         + String(format: "%10d", confusion.support(c)))
        }
        lines += ["", "confusion matrix (rows: true class, columns: predicted)", confusion.table(names: classNames)]
        return lines.joined(separator: "\n")
    }

    /// Everything, for scripts (NaN scores, of classes never predicted or absent, are null).
    public func json(model: String) throws -> Data {
        func number(_ v: Double) -> Any { v.isNaN ? NSNull() : v }
        let perClass: [[String: Any]] = (0..<classNames.count).map { c in
            ["class": c, "name": classNames[c], "precision": number(confusion.precision(c)), "recall": number(confusion.recall(c)),
             "f1": number(confusion.f1(c)), "support": confusion.support(c)]
        }
        let object: [String: Any] = [
            "model": model, "samples": samples, "loss": loss, "top1": top1, "top5": top5, "top5_k": min(5, classNames.count),
            "classes": classNames, "per_class": perClass, "confusion": confusion.counts,
            "most_confident_mistakes": mistakes.map { ["index": $0.index, "true": $0.truth, "predicted": $0.predicted,
                                                       "confidence": Double($0.confidence)] },
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The mistakes as a grid of pictures captioned "true → predicted (confidence)"; `toPicture`
    /// turns a preprocessed sample back into an image.
    public func mistakesGrid(toPicture: ([Float]) -> Canvas, title: String) -> Canvas {
        let tiles = mistakes.map { m in
            ImageGrid.Tile(toPicture(m.sample).fitting(side: 112),
                           caption: "true: \(classNames[m.truth])\npred: \(classNames[m.predicted])\n"
                               + String(format: "%.1f%%  #%d", m.confidence * 100, m.index), captionColor: .red)
        }
        let scale = max(1, 112 / max(tiles.map(\.picture.width).max() ?? 112, 1))
        return ImageGrid(title: title, notes: ["most confident mistakes first"], columns: min(max(tiles.count, 1), 8), scale: scale)
            .render(tiles)
    }
}
