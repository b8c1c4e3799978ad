/// Every channel of a layer's output for one image, as a grid of grey pictures.
public enum FeatureMaps {
    /// The maps of layer `name` from the probe's last forward pass (sample 0).
    /// - Throws: naming the layer when it is unknown (listing valid ones) or its output is not
    ///   C×H×W maps (listing the layers that are).
    public static func grid(_ probe: ModelProbe, layer name: String, title: String? = nil, maxChannels: Int = 256) throws -> Canvas {
        let node = probe.graph.nodes[try probe.graph.node(named: name)]
        guard let (c, h, w) = node.shape.chw else {
            let maps = probe.graph.nodes.filter { $0.shape.chw != nil && $0.layer != nil }.map(\.name)
            throw CNNError.invalidArgument("layer '\(name)' outputs a vector of \(node.shape.count) values, not feature maps; "
                + "layers with C×H×W maps: " + maps.joined(separator: ", "))
        }
        let values = try probe.activation(of: name)
        let shown = min(c, maxChannels)
        // One scaling for the whole layer, so brightness compares across channels.
        let scaling = DisplayScaling(fitting: values[0..<(shown * h * w)])
        let tiles = (0..<shown).map { k in
            ImageGrid.Tile(Canvas(plane: values[(k * h * w)..<((k + 1) * h * w)], width: w, height: h, colormap: .gray, scaling: scaling),
                           caption: "\(k)")
        }
        let scale = max(1, 96 / max(h, w))
        var notes = ["\(node.layer!.kind) output \(node.shape); grey: \(scaling) (one scale for all channels)"]
        if shown < c { notes.append("first \(shown) of \(c) channels") }
        return ImageGrid(title: title ?? "\(name): \(c) feature maps", notes: notes,
                         columns: min(shown, max(ImageGrid.columns(for: shown), 8)), scale: scale).render(tiles)
    }
}

/// A convolution's learned filters as small pictures: RGB for a first layer on colour images,
/// otherwise one grey tile per (output, input) channel pair.
public enum LayerFilters {
    /// The first convolution of the graph (what "the first layer's filters" means).
    public static func firstConvolution(of graph: Graph) throws -> String {
        guard let node = graph.nodes.first(where: { $0.layer is Conv2D }) else {
            throw CNNError.invalidArgument("the model has no convolution layer")
        }
        return node.name
    }

    /// - Throws: naming the layer when it is unknown or not a convolution (listing those that are).
    public static func grid(graph: Graph, parameters: ParameterStore, layer name: String,
                            maxFilters: Int = 64, maxInputs: Int = 16) throws -> Canvas {
        let index = try graph.node(named: name)
        let node = graph.nodes[index]
        guard node.layer is Conv2D, let spec = node.parameters.first, spec.shape.count == 4 else {
            let convs = graph.nodes.filter { $0.layer is Conv2D }.map(\.name)
            throw CNNError.invalidArgument("layer '\(name)' (\(node.layer?.kind ?? "Input")) has no convolution filters; "
                + "convolution layers: " + convs.joined(separator: ", "))
        }
        guard let entry = parameters.entries.first(where: { $0.name == "\(name).\(spec.name)" }) else {
            throw CNNError.invalidArgument("the parameters have no '\(name).\(spec.name)'")
        }
        let weights = try parameters.backend.download(try parameters.backend.view(of: parameters.weights, offset: entry.offset, count: spec.count))
        let (out, inputs, kh, kw) = (spec.shape[0], spec.shape[1], spec.shape[2], spec.shape[3])
        let filters = min(out, maxFilters)
        let scale = max(2, 40 / max(kh, kw))
        var tiles: [ImageGrid.Tile] = []
        var notes: [String]
        if inputs == 3 {
            // Each filter on its own scale: its colour pattern matters, not its size.
            for o in 0..<filters {
                let f = Array(weights[(o * 3 * kh * kw)..<((o + 1) * 3 * kh * kw)])
                tiles.append(ImageGrid.Tile(Canvas(chw: f, channels: 3, width: kw, height: kh, scaling: DisplayScaling(symmetric: f)),
                                            caption: "\(o)"))
            }
            notes = ["RGB filters \(out)x3x\(kh)x\(kw); each scaled -max|w|..+max|w| -> 0..255 per colour"]
        } else {
            let shownInputs = min(inputs, maxInputs)
            let scaling = DisplayScaling(symmetric: weights)
            for o in 0..<filters {
                for i in 0..<shownInputs {
                    let start = (o * inputs + i) * kh * kw
                    tiles.append(ImageGrid.Tile(Canvas(plane: weights[start..<(start + kh * kw)], width: kw, height: kh,
                                                       colormap: .diverging, scaling: scaling)))
                }
            }
            notes = ["\(out)x\(inputs)x\(kh)x\(kw): a row per filter, a column per input channel",
                     "blue negative, white 0, red positive; \(scaling)"]
            if shownInputs < inputs { notes.append("first \(shownInputs) of \(inputs) input channels") }
            return ImageGrid(title: "\(name): filters", notes: notes + (filters < out ? ["first \(filters) of \(out) filters"] : []),
                             columns: shownInputs, scale: scale).render(tiles)
        }
        if filters < out { notes.append("first \(filters) of \(out) filters") }
        return ImageGrid(title: "\(name): filters", notes: notes, columns: min(filters, 8), scale: scale).render(tiles)
    }
}
