/// DenseNet-BC (Huang et al. 2016) as torchvision builds it: 7×7/2 convolution, batch norm,
/// ReLU, 3×3/2 max pool; dense blocks whose layers are BN → ReLU → 1×1 conv (bn_size × growth
/// filters) → BN → ReLU → 3×3 conv (growth filters), each concatenated onto its block's
/// features; between blocks a transition BN → ReLU → 1×1 conv (compression 0.5) → 2×2 average
/// pool; a final batch norm, ReLU, global average pool and fully connected layer. No
/// convolution has a bias.
///
/// Nodes are named as torchvision's modules (`features.conv0`, `features.norm0`,
/// `features.denseblock1.denselayer1.norm1`, `features.transition1.conv`, `features.norm5`,
/// `classifier`), so parameters carry its `state_dict` keys.
///
/// Initialization is torchvision's: convolutions N(0, 2 / fan-in) (`kaiming_normal_`), batch
/// norms γ 1 and β 0, the classifier's weight PyTorch's default U(±1/√fan-in) and its bias 0.
///
/// Input sizes: any image of 29×29 or more with four blocks (the last transition needs at least
/// 2×2 to pool).
///
/// ```swift
/// let densenet121 = try DenseNet(blocks: [6, 12, 24, 16], input: [3, 224, 224], classes: 1000)
/// ```
public func DenseNet(growthRate: Int = 32, blocks: [Int] = [6, 12, 24, 16], initialFeatures: Int = 64,
                     bottleneckSize: Int = 4, input: TensorShape = [3, 224, 224], classes: Int = 1000) throws -> Graph {
    guard !blocks.isEmpty, blocks.allSatisfy({ $0 > 0 }), growthRate > 0, initialFeatures > 0, bottleneckSize > 0 else {
        throw CNNError.invalidArgument("a DenseNet needs positive block sizes, growth rate, initial features and "
            + "bottleneck size, got blocks \(blocks), growth \(growthRate), \(initialFeatures), \(bottleneckSize)")
    }
    let b = GraphBuilder(input: input)
    func normReLUConv(_ x: NodeID, _ filters: Int, kernel: Int, padding: Int = 0, _ prefix: String,
                      _ index: String) -> NodeID {
        let n = b.add(BatchNorm(), x, name: "\(prefix).norm\(index)")
        let r = b.add(ReLU(), n, name: "\(prefix).relu\(index)")
        return b.add(Conv2D(filters, kernel: kernel, padding: .explicit(Padding2D(padding)), bias: false,
                            weightInitializer: .heNormal), r, name: "\(prefix).conv\(index)")
    }
    var x = b.add(Conv2D(initialFeatures, kernel: 7, stride: 2, padding: .explicit(Padding2D(3)), bias: false,
                         weightInitializer: .heNormal), b.input, name: "features.conv0")
    x = b.add(ReLU(), b.add(BatchNorm(), x, name: "features.norm0"), name: "features.relu0")
    x = b.add(MaxPool2D(3, stride: 2, padding: .explicit(Padding2D(1))), x, name: "features.pool0")
    var channels = initialFeatures
    for (i, layers) in blocks.enumerated() {
        for j in 1...layers {
            let name = "features.denseblock\(i + 1).denselayer\(j)"
            let bottleneck = normReLUConv(x, bottleneckSize * growthRate, kernel: 1, name, "1")
            let new = normReLUConv(bottleneck, growthRate, kernel: 3, padding: 1, name, "2")
            // torchvision concatenates every earlier output before each layer; growing one
            // running concatenation gives the same tensor with one copy per layer.
            x = b.add(Concat(), x, new)
            channels += growthRate
        }
        if i < blocks.count - 1 {
            let name = "features.transition\(i + 1)"
            channels /= 2
            x = normReLUConv(x, channels, kernel: 1, name, "")
            x = b.add(AvgPool2D(2), x, name: "\(name).pool")
        }
    }
    x = b.add(ReLU(), b.add(BatchNorm(), x, name: "features.norm5"))
    x = b.add(GlobalAvgPool(), x)
    let output = b.add(Dense(classes, weightInitializer: .pytorchDefault), x, name: "classifier")
    // The stem halves twice and each transition once more; every pool needs at least 2×2.
    let smallest = (4 << (blocks.count - 1)) - 3
    return try withInputSizeHint("This DenseNet takes images of \(smallest) pixels a side or more") {
        try b.build(output: output)
    }
}
