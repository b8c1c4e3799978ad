/// The input a class neuron most wants (Simonyan et al. 2014): starting from a blank image
/// (the dataset mean, zero after normalization, plus noise of ±0.1: at and near zero a ReLU
/// network whose first biases are negative has no gradient at all), gradient ascent on the class's score S_c
/// (the logit, before the softmax) with L2 regularization, maximizing S_c(x) − λ‖x‖².
public struct ClassModel: Sendable {
    public var classIndex: Int
    /// The optimized input (in the model's normalized input space).
    public var image: [Float]
    /// The class score after each step.
    public var scores: [Float]

    /// Each step moves the image by `learningRate` along the gradient of S_c − λ‖x‖²,
    /// normalized by its root mean square, so one learning rate suits models whose score
    /// gradients differ by orders of magnitude; a step that lowers the objective is undone and
    /// the rate halved, and each accepted step lets it grow back towards `learningRate` (deep
    /// untrained networks are far from linear at the first rate).
    /// - Throws: `CNNError.invalidArgument` for a class out of range or steps < 1.
    public static func optimize(_ probe: ModelProbe, classIndex: Int, steps: Int = 200, learningRate: Float = 0.1,
                                l2: Float = 0.1, seed: UInt64 = 0) throws -> ClassModel {
        guard probe.batch == 1 else { throw CNNError.invalidArgument("a class model is one image: use a probe of batch 1") }
        guard steps > 0 else { throw CNNError.invalidArgument("--steps must be positive, got \(steps)") }
        guard (0..<probe.classes).contains(classIndex) else {
            throw CNNError.invalidArgument("class \(classIndex) is out of range: the model has \(probe.classes) classes (0...\(probe.classes - 1))")
        }
        var random = SplitMix64(seed: seed)
        var x = (0..<probe.graph.inputShape.count).map { _ in Float(random.unitDouble() - 0.5) * 0.2 }
        let oneHot = Saliency.oneHot(classIndex, count: probe.classes)
        func objective(_ score: Float, _ x: [Float]) -> Float { score - l2 * x.reduce(0) { $0 + $1 * $1 } }
        var score = try probe.forward(x)[classIndex]
        var scores = [score]
        var rate = learningRate
        for _ in 0..<steps {
            let g = try probe.backward(outputGradient: oneHot)
            let direction = zip(g, x).map { $0 - 2 * l2 * $1 }
            let rms = (direction.reduce(0) { $0 + $1 * $1 } / Float(direction.count)).squareRoot()
            guard rms > 0, rms.isFinite else { break }
            var candidate = x
            for i in x.indices { candidate[i] += rate * direction[i] / rms }
            let next = try probe.forward(candidate)[classIndex]
            if objective(next, candidate) < objective(score, x) {
                rate /= 2
                try probe.forward(x)   // the next gradient is taken at x again
            } else {
                x = candidate; score = next
                rate = min(rate * 1.5, learningRate)
            }
            scores.append(score)
        }
        return ClassModel(classIndex: classIndex, image: x, scores: scores)
    }
}
