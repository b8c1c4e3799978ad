/// The residual block of a ResNet.
public enum ResNetBlock: Sendable {
    /// Two 3×3 convolutions (ResNet-18, -34); expansion 1.
    case basic
    /// 1×1 → 3×3 → 1×1 with the stride on the 3×3 (torchvision's "v1.5"); expansion 4.
    case bottleneck

    var expansion: Int { self == .basic ? 1 : 4 }
}

/// ResNet (He et al. 2015) as torchvision builds it: 7×7/2 convolution, batch norm, ReLU,
/// 3×3/2 max pool, four stages of residual blocks (64, 128, 256, 512 planes; stride 2 from the
/// second), global average pool, fully connected. Convolutions have no bias (batch norm follows);
/// a block whose shape changes adds `downsample` = 1×1 convolution + batch norm on its shortcut.
///
/// Nodes carry torchvision's module names, so parameters are named as in its `state_dict`:
/// `conv1.weight`, `bn1.running_mean`, `layer2.0.downsample.0.weight`, `fc.bias`, ….
///
/// Initialization is torchvision's: convolutions N(0, 2 / fan-out) (`kaiming_normal_` with
/// `mode="fan_out"`), batch norms γ 1 and β 0 (no zero-initialized residual), and `fc` PyTorch's
/// default, weight and bias U(±1/√fan-in).
///
/// Input sizes: any (padded convolutions and pools never shrink a side below 1, and global
/// average pooling takes whatever the last stage leaves: 7×7 at 224, 1×1 at 32). Published
/// parameter counts are at 1000 classes.
///
/// ```swift
/// let resnet50 = try ResNet(block: .bottleneck, layers: [3, 4, 6, 3], input: [3, 224, 224], classes: 1000)
/// ```
public func ResNet(block: ResNetBlock, layers: [Int], input: TensorShape = [3, 224, 224],
                   classes: Int = 1000) throws -> Graph {
    guard layers.count == 4, layers.allSatisfy({ $0 > 0 }) else {
        throw CNNError.invalidArgument("a ResNet has four stages of at least one block each, got \(layers)")
    }
    let b = GraphBuilder(input: input)
    let he: Initializer = .heNormalFanOut
    var x = b.add(ReLU(), b.convBatchNorm(b.input, 64, kernel: 7, stride: 2, padding: 3, weights: he,
                                          conv: "conv1", bn: "bn1"))
    x = b.add(MaxPool2D(3, stride: 2, padding: .explicit(Padding2D(1))), x, name: "maxpool")
    var channels = 64
    for (stage, (planes, blocks)) in zip([64, 128, 256, 512], layers).enumerated() {
        for i in 0..<blocks {
            let stride = stage > 0 && i == 0 ? 2 : 1
            let name = "layer\(stage + 1).\(i)"
            let out = planes * block.expansion
            var y: NodeID
            switch block {
            case .basic:
                y = b.add(ReLU(), b.convBatchNorm(x, planes, kernel: 3, stride: stride, padding: 1, weights: he,
                                                  conv: "\(name).conv1", bn: "\(name).bn1"))
                y = b.convBatchNorm(y, planes, kernel: 3, padding: 1, weights: he,
                                    conv: "\(name).conv2", bn: "\(name).bn2")
            case .bottleneck:
                y = b.add(ReLU(), b.convBatchNorm(x, planes, kernel: 1, weights: he,
                                                  conv: "\(name).conv1", bn: "\(name).bn1"))
                y = b.add(ReLU(), b.convBatchNorm(y, planes, kernel: 3, stride: stride, padding: 1, weights: he,
                                                  conv: "\(name).conv2", bn: "\(name).bn2"))
                y = b.convBatchNorm(y, out, kernel: 1, weights: he, conv: "\(name).conv3", bn: "\(name).bn3")
            }
            let shortcut = stride != 1 || channels != out
                ? b.convBatchNorm(x, out, kernel: 1, stride: stride, weights: he,
                                  conv: "\(name).downsample.0", bn: "\(name).downsample.1")
                : x
            x = b.add(ReLU(), b.add(Add(), y, shortcut))
            channels = out
        }
    }
    let pooled = b.add(GlobalAvgPool(), x, name: "avgpool")
    let fc = Dense(classes, weightInitializer: .pytorchDefault, biasInitializer: .pytorchDefault)
    return try b.build(output: b.add(fc, pooled, name: "fc"))
}

/// torchvision's `resnet18`, `resnet34`, `resnet50`, `resnet101` or `resnet152` by depth.
public func ResNet(depth: Int, input: TensorShape = [3, 224, 224], classes: Int = 1000) throws -> Graph {
    let configurations: [Int: (ResNetBlock, [Int])] = [
        18: (.basic, [2, 2, 2, 2]), 34: (.basic, [3, 4, 6, 3]), 50: (.bottleneck, [3, 4, 6, 3]),
        101: (.bottleneck, [3, 4, 23, 3]), 152: (.bottleneck, [3, 8, 36, 3]),
    ]
    guard let (block, layers) = configurations[depth] else {
        throw CNNError.invalidArgument("there is no ResNet-\(depth); depths are 18, 34, 50, 101 and 152")
    }
    return try ResNet(block: block, layers: layers, input: input, classes: classes)
}
