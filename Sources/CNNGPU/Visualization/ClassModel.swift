/// The input a class neuron most wants (Simonyan et al. 2014): starting from a blank image
/// (the dataset mean, zero after normalization, plus faint noise: at exactly zero a ReLU
/// network whose first biases are negative has no gradient at all), gradient ascent on the class's score S_c
/// (the logit, before the softmax) with L2 regularization, maximizing S_c(x) − λ‖x‖².
public struct ClassModel: Sendable {
    public var classIndex: Int
    /// The optimized input (in the model's normalized input space).
    public var image: [Float]
    /// The class score after each step.
    public var scores: [Float]

    /// Each step moves the image by `learningRate` along the gradient of S_c − λ‖x‖²,
    /// normalized by its root mean square, so one learning rate works for models whose score
    /// gradients differ by orders of magnitude.
    /// - Throws: `CNNError.invalidArgument` for a class out of range or steps < 1.
    public static func optimize(_ probe: ModelProbe, classIndex: Int, steps: Int = 200, learningRate: Float = 0.1,
                                l2: Float = 0.1, seed: UInt64 = 0) throws -> ClassModel {
        guard probe.batch == 1 else { throw CNNError.invalidArgument("a class model is one image: use a probe of batch 1") }
        guard steps > 0 else { throw CNNError.invalidArgument("--steps must be positive, got \(steps)") }
        guard (0..<probe.classes).contains(classIndex) else {
            throw CNNError.invalidArgument("class \(classIndex) is out of range: the model has \(probe.classes) classes (0...\(probe.classes - 1))")
        }
        var random = SplitMix64(seed: seed)
        var x = (0..<probe.graph.inputShape.count).map { _ in Float(random.unitDouble() - 0.5) * 0.02 }
        let oneHot = Saliency.oneHot(classIndex, count: probe.classes)
        var scores: [Float] = []
        for _ in 0..<steps {
            let logits = try probe.forward(x)
            scores.append(logits[classIndex])
            let g = try probe.backward(outputGradient: oneHot)
            let direction = zip(g, x).map { $0 - 2 * l2 * $1 }
            let rms = (direction.reduce(0) { $0 + $1 * $1 } / Float(direction.count)).squareRoot()
            guard rms > 0, rms.isFinite else { break }
            for i in x.indices { x[i] += learningRate * direction[i] / rms }
        }
        scores.append(try probe.forward(x)[classIndex])
        return ClassModel(classIndex: classIndex, image: x, scores: scores)
    }
}
