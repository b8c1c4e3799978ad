/// GoogLeNet (Inception v1, Szegedy et al. 2014) as torchvision builds it, without the
/// auxiliary classifiers: every convolution is a `BasicConv2d` (bias-free convolution, batch
/// norm with ε = 0.001, ReLU); max pools round up (`ceil_mode`); the "5×5" branch of each
/// Inception block uses a 3×3 convolution, as torchvision's does; global average pool, dropout
/// 0.2, fully connected 1024 → classes.
///
/// Nodes are named as torchvision's modules (`conv1.conv`, `conv1.bn`,
/// `inception3a.branch2.1.conv`, `inception4e.branch4.1.bn`, `fc`), so parameters carry its
/// `state_dict` keys.
///
/// Initialization is torchvision's: every convolution and the `fc` weight N(0, 0.01²), truncated
/// at ±2 (absolute, so in effect never), batch norms γ 1 and β 0, and the `fc` bias PyTorch's
/// default U(±1/√1024).
///
/// Input sizes: any image of 15×15 or more; at 32×32 the last blocks see 1×1.
///
/// ```swift
/// let googlenet = try GoogLeNet(input: [3, 224, 224], classes: 1000)
/// ```
public func GoogLeNet(input: TensorShape = [3, 224, 224], classes: Int = 1000) throws -> Graph {
    let b = GraphBuilder(input: input)
    let weights: Initializer = .truncatedNormal(std: 0.01, limit: 2)
    func basicConv(_ x: NodeID, _ filters: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                   _ name: String) -> NodeID {
        b.add(ReLU(), b.convBatchNorm(x, filters, kernel: kernel, stride: stride, padding: padding, epsilon: 1e-3,
                                      weights: weights, conv: "\(name).conv", bn: "\(name).bn"))
    }
    // Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) in torchvision's order.
    func inception(_ x: NodeID, _ name: String, _ c1: Int, _ c3r: Int, _ c3: Int, _ c5r: Int, _ c5: Int,
                   _ pool: Int) -> NodeID {
        let b1 = basicConv(x, c1, kernel: 1, "\(name).branch1")
        let b2 = basicConv(basicConv(x, c3r, kernel: 1, "\(name).branch2.0"), c3, kernel: 3, padding: 1,
                           "\(name).branch2.1")
        let b3 = basicConv(basicConv(x, c5r, kernel: 1, "\(name).branch3.0"), c5, kernel: 3, padding: 1,
                           "\(name).branch3.1")
        let pooled = b.add(MaxPool2D(3, stride: 1, padding: .explicit(Padding2D(1))), x, name: "\(name).branch4.0")
        let b4 = basicConv(pooled, pool, kernel: 1, "\(name).branch4.1")
        return b.add(Concat(), b1, b2, b3, b4)
    }
    var x = basicConv(b.input, 64, kernel: 7, stride: 2, padding: 3, "conv1")
    x = b.add(CeilModeMaxPool2D(3, stride: 2), x, name: "maxpool1")
    x = basicConv(x, 64, kernel: 1, "conv2")
    x = basicConv(x, 192, kernel: 3, padding: 1, "conv3")
    x = b.add(CeilModeMaxPool2D(3, stride: 2), x, name: "maxpool2")
    x = inception(x, "inception3a", 64, 96, 128, 16, 32, 32)
    x = inception(x, "inception3b", 128, 128, 192, 32, 96, 64)
    x = b.add(CeilModeMaxPool2D(3, stride: 2), x, name: "maxpool3")
    x = inception(x, "inception4a", 192, 96, 208, 16, 48, 64)
    x = inception(x, "inception4b", 160, 112, 224, 24, 64, 64)
    x = inception(x, "inception4c", 128, 128, 256, 24, 64, 64)
    x = inception(x, "inception4d", 112, 144, 288, 32, 64, 64)
    x = inception(x, "inception4e", 256, 160, 320, 32, 128, 128)
    x = b.add(CeilModeMaxPool2D(2, stride: 2), x, name: "maxpool4")
    x = inception(x, "inception5a", 256, 160, 320, 32, 128, 128)
    x = inception(x, "inception5b", 384, 192, 384, 48, 128, 128)
    x = b.add(Dropout(0.2), b.add(GlobalAvgPool(), x, name: "avgpool"), name: "dropout")
    let output = b.add(Dense(classes, weightInitializer: weights, biasInitializer: .pytorchDefault), x, name: "fc")
    return try withInputSizeHint("GoogLeNet takes images of 15 pixels a side or more (e.g. --image-size 32)") {
        try b.build(output: output)
    }
}
