import CNNGPU

/// A small residual network for 28×28 grey images, defined in user code. It is a graph rather
/// than a `Sequential` because the skip connection's `Add` takes two inputs.
///
///     conv 3×3 ─ BN ─ ReLU ─ maxpool ─┬─ conv 3×3 ─ BN ─ ReLU ─ conv 3×3 ─ BN ─┬─ Add ─ ReLU ─ maxpool
///                                     └────────────────────────────────────────┘
///     ─ conv 3×3 ─ BN ─ ReLU ─ global average ─ dense
func residualNet(classes: Int) throws -> Graph {
    let b = GraphBuilder(input: [1, 28, 28])
    var x = b.add(MaxPool2D(2), convBatchNormReLU(b, b.input, filters: 16))           // 16×14×14
    let branch = b.add(BatchNorm(), b.add(Conv2D(16, kernel: 3, padding: .same, bias: false),
                                           convBatchNormReLU(b, x, filters: 16)))
    x = b.add(ReLU(), b.add(Add(), x, branch), name: "block_out")
    x = b.add(MaxPool2D(2), x)                                                          // 16×7×7
    x = b.add(GlobalAvgPool(), convBatchNormReLU(b, x, filters: 32))                  // 32
    return try b.build(output: b.add(Dense(classes), x, name: "fc"))
}

/// A 3×3 convolution without bias (the batch norm's shift replaces it), its batch norm and a ReLU.
private func convBatchNormReLU(_ b: GraphBuilder, _ x: NodeID, filters: Int) -> NodeID {
    b.add(ReLU(), b.add(BatchNorm(), b.add(Conv2D(filters, kernel: 3, padding: .same, bias: false), x)))
}
