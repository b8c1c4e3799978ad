/// VGG (Simonyan & Zisserman 2014) as torchvision builds it: 3×3 convolutions (padding 1, with
/// bias) and 2×2 max pools per `configuration`, optionally batch norm after each convolution,
/// adaptive average pool to 7×7, then 25088 → 4096 → 4096 → classes with ReLU and dropout 0.5.
/// `hiddenUnits` narrows the two hidden layers (torchvision's 4096 by default), for small
/// variants whose classifier would otherwise dwarf the features.
///
/// Nodes are named as torchvision's modules (`features.0`, `features.1`, …, `avgpool`,
/// `classifier.0` … `classifier.6`), so parameters carry its `state_dict` keys.
///
/// Input sizes: any image of 32 pixels a side or more, as in torchvision. The five 2×2 pools
/// leave side / 32 (rounded down), which the adaptive pool takes to 7×7 (the identity for
/// 224–255, windows that may overlap above, each feature spread over several cells below).
///
/// ```swift
/// let vgg16 = try VGG(.vgg16, batchNorm: false, input: [3, 224, 224], classes: 1000)
/// ```
public func VGG(_ configuration: VGGConfiguration, batchNorm: Bool, input: TensorShape = [3, 224, 224],
                classes: Int = 1000, hiddenUnits: Int = 4096) throws -> Graph {
    let b = GraphBuilder(input: input)
    var x = b.input, index = 0
    func features(_ layer: any Layer) {
        x = b.add(layer, x, name: "features.\(index)")
        index += 1
    }
    for item in configuration.layers {
        if let filters = item {
            // torchvision: N(0, 2 / fan-out) weights, zero bias; batch norms γ 1, β 0.
            features(Conv2D(filters, kernel: 3, padding: .explicit(Padding2D(1)), weightInitializer: .heNormalFanOut))
            if batchNorm { features(BatchNorm()) }
            features(ReLU())
        } else {
            features(MaxPool2D(2))
        }
    }
    x = b.add(Flatten(), b.add(AdaptiveAvgPool2D(7, 7), x, name: "avgpool"))
    // torchvision: N(0, 0.01²) weights, zero biases.
    let classifier: [any Layer] = [
        Dense(hiddenUnits, weightInitializer: .normal(std: 0.01)), ReLU(), Dropout(0.5),
        Dense(hiddenUnits, weightInitializer: .normal(std: 0.01)), ReLU(), Dropout(0.5),
        Dense(classes, weightInitializer: .normal(std: 0.01)),
    ]
    for (i, layer) in classifier.enumerated() { x = b.add(layer, x, name: "classifier.\(i)") }
    return try withInputSizeHint("VGG takes images of 32 pixels a side or more (e.g. --image-size 224)") {
        try b.build(output: x)
    }
}

/// The layer lists of torchvision's VGG variants: a number is a 3×3 convolution with that many
/// filters, nil a 2×2 max pool.
public struct VGGConfiguration: Sendable {
    public var layers: [Int?]
    public init(_ layers: [Int?]) { self.layers = layers }

    /// Configuration "A".
    public static let vgg11 = VGGConfiguration([64, nil, 128, nil, 256, 256, nil, 512, 512, nil, 512, 512, nil])
    /// Configuration "B".
    public static let vgg13 = VGGConfiguration([64, 64, nil, 128, 128, nil, 256, 256, nil, 512, 512, nil,
                                                512, 512, nil])
    /// Configuration "D".
    public static let vgg16 = VGGConfiguration([64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil,
                                                512, 512, 512, nil])
    /// Configuration "E".
    public static let vgg19 = VGGConfiguration([64, 64, nil, 128, 128, nil, 256, 256, 256, 256, nil,
                                                512, 512, 512, 512, nil, 512, 512, 512, 512, nil])
}
