import Foundation

/// Runs a trained classifier in inference mode: batch-norm running statistics, no dropout,
/// and a softmax over the output logits.
///
/// ```swift
/// let graph = try ModelZoo.build("resnet18", classes: 1000)
/// let classifier = try Classifier(graph: graph, weights: url, backend: CPUBackend())
/// let probabilities = try classifier.probabilities(of: [sample])   // sample: 3·224·224 floats
/// ```
public final class Classifier {
    public let graph: Graph
    public let parameters: ParameterStore
    private var plans: [Int: Plan] = [:]

    public init(graph: Graph, weights: URL, backend: any Backend) throws {
        self.graph = graph
        parameters = try ParameterStore(graph: graph, backend: backend, seed: 0, initialize: false)
        try ModelWeights.load(weights, into: parameters)
    }

    /// A classifier over weights already loaded (a run's checkpoint read by the caller).
    public init(graph: Graph, parameters: ParameterStore) {
        self.graph = graph
        self.parameters = parameters
    }

    /// Class probabilities of each sample (each `graph.inputShape.count` values, preprocessed
    /// as the model was trained).
    public func probabilities(of samples: [[Float]]) throws -> [[Float]] {
        try logits(of: samples).map { row in
            let row = row.map(Double.init)
            let top = row.max() ?? 0
            let exps = row.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            return exps.map { Float($0 / sum) }
        }
    }

    /// The raw outputs (logits) of each sample, before the softmax.
    public func logits(of samples: [[Float]]) throws -> [[Float]] {
        guard !samples.isEmpty else { return [] }
        let n = graph.inputShape.count
        if let bad = samples.firstIndex(where: { $0.count != n }) {
            throw CNNError.invalidArgument("sample \(bad) has \(samples[bad].count) values; the model takes \(graph.inputShape) = \(n)")
        }
        let batch = samples.count
        let plan = try plans[batch] ?? Plan(graph: graph, parameters: parameters, batch: batch, training: false)
        plans[batch] = plan
        let backend = parameters.backend
        try backend.upload(samples.flatMap { $0 }, to: plan.input)
        try Executor(plan: plan).forward(training: false)
        let classes = graph.outputShape.count
        let logits = try backend.download(plan.output, count: batch * classes)
        return (0..<batch).map { i in Array(logits[(i * classes)..<((i + 1) * classes)]) }
    }
}
