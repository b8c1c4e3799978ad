/// Winograd F(2×2, 3×3) convolution (Kernels/conv_winograd_f2x3.cl + CLBlast): 2.25× fewer
/// multiplies than direct for 3×3, stride-1, dilation-1, single-group layers. Forward is
/// weight transform → input transform → 16 GEMMs (one strided-batched CLBlast call) →
/// output transform with fused bias and activation; backward data is the same pipeline on dy
/// with the weights flipped and transposed and padding 2 − pad (so each side's padding must be
/// at most 2). The workspace holds U [16, K, C], V [16, C, P] and M [16, K, P], P = 2×2 tiles.
/// No tunable parameters.
extension OpenCLBackend {
    static func winogradF2x3Applies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        guard d.kernelH == 3, d.kernelW == 3, d.strideH == 1, d.strideW == 1, d.dilationH == 1, d.dilationW == 1,
              d.groups == 1, direction != .backwardFilter else { return false }
        let p = d.padding
        return direction == .forward || [p.top, p.bottom, p.left, p.right].allSatisfy { $0 <= 2 }
    }

    /// The convolution the pipeline runs: (input channels, input H, W, output channels,
    /// output H, W, top padding, left padding).
    private func winogradPlan(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection)
        -> (cIn: Int, h: Int, w: Int, kOut: Int, oh: Int, ow: Int, padTop: Int, padLeft: Int) {
        direction == .forward
            ? (d.inChannels, d.inH, d.inW, d.outChannels, d.outH, d.outW, d.padding.top, d.padding.left)
            : (d.outChannels, d.outH, d.outW, d.inChannels, d.inH, d.inW, 2 - d.padding.top, 2 - d.padding.left)
    }

    func winogradF2x3WorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Int {
        let q = winogradPlan(d, direction)
        let tiles = d.batch * ceilDiv(q.oh, 2) * ceilDiv(q.ow, 2)
        return 16 * (q.kOut * q.cIn + q.cIn * tiles + q.kOut * tiles)
    }

    func winogradF2x3Forward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                             bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                             workspace: (any DeviceBuffer)?) throws {
        try winograd(d, .forward, input: x, weight: weight, bias: bias, activation: activation, output: y,
                     workspace: workspace)
    }

    func winogradF2x3BackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                  dx: any DeviceBuffer, workspace: (any DeviceBuffer)?) throws {
        try winograd(d, .backwardData, input: dy, weight: weight, bias: nil, activation: nil, output: dx,
                     workspace: workspace)
    }

    private func winograd(_ d: Conv2DDescriptor, _ direction: ConvolutionDirection, input: any DeviceBuffer,
                          weight: any DeviceBuffer, bias: (any DeviceBuffer)?, activation: Activation?,
                          output: any DeviceBuffer, workspace: (any DeviceBuffer)?) throws {
        guard Self.winogradF2x3Applies(d, direction: direction) else {
            throw CNNError.invalidArgument("Winograd F(2×2,3×3) \(direction.rawValue) needs a 3×3 kernel, stride 1, "
                + "dilation 1, one group (and padding at most 2 for backward data); got \(d); use implicit GEMM")
        }
        let q = winogradPlan(d, direction)
        let (th, tw) = (ceilDiv(q.oh, 2), ceilDiv(q.ow, 2))
        let tiles = d.batch * th * tw
        let (uCount, vCount) = (16 * q.kOut * q.cIn, 16 * q.cIn * tiles)
        let needed = winogradF2x3WorkspaceCount(d, direction: direction)
        guard let ws = workspace, ws.count >= needed else {
            throw CNNError.invalidArgument("Winograd F(2×2,3×3) needs a workspace of \(needed) floats, got "
                + "\(workspace?.count ?? 0); size it with winogradF2x3WorkspaceCount")
        }
        try launch("conv_winograd_f2x3", "winograd_weight_transform", global: [q.kOut * q.cIn], local: nil,
                   [.int(q.kOut), .int(q.cIn), .int(direction == .forward ? 0 : 1), .buffer(weight), .buffer(ws)])
        // U, V and M are consecutive ranges of the one workspace, passed as offsets.
        let (vOffset, mOffset) = (uCount, uCount + vCount)
        try launch("conv_winograd_f2x3", "winograd_input_transform", global: [tiles, q.cIn], local: nil,
                   [.int(d.batch), .int(q.cIn), .int(q.h), .int(q.w), .int(q.padTop), .int(q.padLeft),
                    .int(th), .int(tw), .buffer(input), .buffer(ws), .int(vOffset)])
        try gemmStridedBatched(transA: false, transB: false, m: q.kOut, n: tiles, k: q.cIn, alpha: 1,
                               a: MatrixRef(ws, ld: q.cIn, stride: q.kOut * q.cIn),
                               b: MatrixRef(ws, offset: vOffset, ld: tiles, stride: q.cIn * tiles), beta: 0,
                               c: MatrixRef(ws, offset: mOffset, ld: tiles, stride: q.kOut * tiles), batchCount: 16)
        try launch("conv_winograd_f2x3", "winograd_output_transform", global: [tiles, q.kOut], local: nil,
                   [.int(d.batch), .int(q.kOut), .int(q.oh), .int(q.ow), .int(th), .int(tw), .buffer(ws), .int(mOffset),
                    .buffer(bias ?? weight), .int(bias == nil ? 0 : 1), .int(activation?.kernelCode ?? -1),
                    .float(activation?.alpha ?? 0), .buffer(output)])
    }
}
