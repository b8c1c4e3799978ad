/// AlexNet as torchvision builds it (the "one weird trick" variant, no LRN): 64c11/4 p2 → max
/// pool 3/2 → 192c5 p2 → pool → 384c3 → 256c3 → 256c3 → pool → adaptive average pool to 6×6 →
/// dropout → 4096 → dropout → 4096 → classes, ReLU after every convolution and hidden layer.
/// `hiddenUnits` narrows the two hidden layers (torchvision's 4096 by default).
///
/// Nodes are named as torchvision's modules (`features.0` … `features.12`, `avgpool`,
/// `classifier.0` … `classifier.6`), so parameters carry its `state_dict` keys.
///
/// Input sizes: any image of 63 pixels a side or more, as in torchvision. The last max pool needs
/// a 3×3 input, and the 11×11 stride-4 convolution and the two pools before it leave one from 63
/// pixels up (63 → 15 → 7 → 3 → 1); the adaptive pool then takes the features to 6×6 (the
/// identity for 223–254, overlapping windows above, each feature spread over several cells below).
///
/// ```swift
/// let alexnet = try AlexNet(input: [3, 224, 224], classes: 1000)
/// ```
public func AlexNet(input: TensorShape = [3, 224, 224], classes: Int = 1000, hiddenUnits: Int = 4096) throws -> Graph {
    // torchvision's AlexNet keeps PyTorch's default initialization: weights and biases U(±1/√fan-in).
    func conv(_ filters: Int, kernel: Int, stride: Int = 1, padding: Int) -> Conv2D {
        Conv2D(filters, kernel: kernel, stride: stride, padding: .explicit(Padding2D(padding)),
               weightInitializer: .pytorchDefault, biasInitializer: .pytorchDefault)
    }
    func linear(_ units: Int) -> Dense { Dense(units, weightInitializer: .pytorchDefault, biasInitializer: .pytorchDefault) }
    let features: [any Layer] = [
        conv(64, kernel: 11, stride: 4, padding: 2), ReLU(), MaxPool2D(3, stride: 2),
        conv(192, kernel: 5, padding: 2), ReLU(), MaxPool2D(3, stride: 2),
        conv(384, kernel: 3, padding: 1), ReLU(),
        conv(256, kernel: 3, padding: 1), ReLU(),
        conv(256, kernel: 3, padding: 1), ReLU(), MaxPool2D(3, stride: 2),
    ]
    let classifier: [any Layer] = [
        Dropout(0.5), linear(hiddenUnits), ReLU(), Dropout(0.5), linear(hiddenUnits), ReLU(), linear(classes),
    ]
    let b = GraphBuilder(input: input)
    var x = b.input
    for (i, layer) in features.enumerated() { x = b.add(layer, x, name: "features.\(i)") }
    x = b.add(Flatten(), b.add(AdaptiveAvgPool2D(6, 6), x, name: "avgpool"))
    for (i, layer) in classifier.enumerated() { x = b.add(layer, x, name: "classifier.\(i)") }
    return try withInputSizeHint("AlexNet takes images of 63 pixels a side or more (e.g. --image-size 224)") {
        try b.build(output: x)
    }
}
