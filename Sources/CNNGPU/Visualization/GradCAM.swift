/// Class activation maps by gradients (Selvaraju et al. 2017): a layer's feature maps A_k,
/// each weighted by its gradient averaged over the map, α_k = mean(∂score/∂A_k), summed and
/// rectified, ReLU(Σ α_k A_k); then scaled to [0, 1] and resized bilinearly to the input.
public struct GradCAMMap: Sendable {
    public var layer: String
    public var classIndex: Int
    public var logits: [Float]
    /// The map at the layer's resolution, before scaling (`layerHeight × layerWidth`).
    public var raw: [Float]
    public var layerWidth: Int
    public var layerHeight: Int
    /// Scaled to [0, 1] by its maximum and resized to the input (`height × width`).
    public var map: [Float]
    public var width: Int
    public var height: Int
}

public enum GradCAM {
    /// The default layer: the last one whose output is still a C×H×W map larger than 1×1 (the
    /// last convolutional block, before global pooling and the classifier), not counting the
    /// adaptive pooling of AlexNet and VGG, which only resizes that block's maps for the head.
    public static func defaultLayer(of graph: Graph) throws -> String {
        guard let node = graph.nodes.dropFirst().last(where: {
            !($0.layer is AdaptiveAvgPool2D) && ($0.shape.chw.map { $0.h * $0.w } ?? 0) > 1
        }) else {
            throw CNNError.invalidArgument("the model has no layer with spatial feature maps for Grad-CAM")
        }
        return node.name
    }

    /// - Throws: naming the layer when it is unknown (listing valid ones) or has no spatial maps.
    public static func compute(_ probe: ModelProbe, image: [Float], layer: String, classIndex: Int? = nil) throws -> GradCAMMap {
        guard probe.batch == 1 else { throw CNNError.invalidArgument("Grad-CAM looks at one image at a time: use a probe of batch 1") }
        let node = probe.graph.nodes[try probe.graph.node(named: layer)]
        guard let (k, h, w) = node.shape.chw else {
            throw CNNError.invalidArgument("layer '\(layer)' outputs \(node.shape), not C×H×W feature maps; Grad-CAM needs "
                + "a convolutional layer, e.g. \(try defaultLayer(of: probe.graph))")
        }
        let logits = try probe.forward(image)
        let c = try Saliency.resolveClass(classIndex, logits: logits)
        try probe.backward(outputGradient: Saliency.oneHot(c, count: logits.count))
        let a = try probe.activation(of: layer), g = try probe.gradient(of: layer)
        let raw = camMap(activations: a, gradients: g, channels: k, plane: h * w)
        let top = raw.max() ?? 0
        let scaled = top > 0 ? raw.map { $0 / top } : raw
        let (_, inH, inW) = probe.graph.inputShape.chw ?? (1, h, w)
        return GradCAMMap(layer: layer, classIndex: c, logits: logits, raw: raw, layerWidth: w, layerHeight: h,
                          map: bilinearResize(scaled, width: w, height: h, toWidth: inW, toHeight: inH), width: inW, height: inH)
    }

    /// ReLU(Σ_k mean(g_k) · a_k) over `channels` planes of `plane` values.
    static func camMap(activations a: [Float], gradients g: [Float], channels: Int, plane: Int) -> [Float] {
        var cam = [Float](repeating: 0, count: plane)
        for k in 0..<channels {
            let alpha = g[(k * plane)..<((k + 1) * plane)].reduce(0, +) / Float(plane)
            for p in 0..<plane { cam[p] += alpha * a[k * plane + p] }
        }
        return cam.map { max($0, 0) }
    }
}
