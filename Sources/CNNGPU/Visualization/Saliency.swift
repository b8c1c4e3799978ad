/// Which input pixels a class score depends on: the gradient of the score with respect to the
/// input (Simonyan et al. 2014), or with guided backpropagation (Springenberg et al. 2015) when
/// the probe is guided.
public struct SaliencyMap: Sendable {
    /// The class whose score was differentiated.
    public var classIndex: Int
    /// The model's outputs (logits) for the image.
    public var logits: [Float]
    /// d(score)/d(input), shaped as the input (C×H×W).
    public var gradient: [Float]
    /// Per pixel, the largest |gradient| over the channels, scaled to [0, 1] by its maximum.
    public var map: [Float]
    public var width: Int
    public var height: Int
}

public enum Saliency {
    /// The saliency of `classIndex` (default: the top prediction) for one preprocessed image.
    /// - Throws: `CNNError.invalidArgument` when the class is out of range.
    public static func compute(_ probe: ModelProbe, image: [Float], classIndex: Int? = nil) throws -> SaliencyMap {
        guard probe.batch == 1 else { throw CNNError.invalidArgument("saliency looks at one image at a time: use a probe of batch 1") }
        let logits = try probe.forward(image)
        let c = try resolveClass(classIndex, logits: logits)
        let gradient = try probe.backward(outputGradient: oneHot(c, count: logits.count))
        let (channels, height, width) = probe.graph.inputShape.chw ?? (1, 1, probe.graph.inputShape.count)
        let plane = width * height
        var map = (0..<plane).map { p in (0..<channels).map { abs(gradient[$0 * plane + p]) }.max()! }
        let top = map.max() ?? 0
        if top > 0 { map = map.map { $0 / top } }
        return SaliencyMap(classIndex: c, logits: logits, gradient: gradient, map: map, width: width, height: height)
    }

    /// `index`, checked against the model's classes, or the top-scoring class when nil.
    static func resolveClass(_ index: Int?, logits: [Float]) throws -> Int {
        if let index {
            guard (0..<logits.count).contains(index) else {
                throw CNNError.invalidArgument("class \(index) is out of range: the model has \(logits.count) classes (0...\(logits.count - 1))")
            }
            return index
        }
        return logits.indices.max { logits[$0] < logits[$1] }!
    }

    static func oneHot(_ c: Int, count: Int) -> [Float] {
        var v = [Float](repeating: 0, count: count)
        v[c] = 1
        return v
    }
}
