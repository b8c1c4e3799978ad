/// 1×1 convolution (stride 1, no padding, one group) as CLBlast GEMMs straight on NCHW: image
/// n's input is a C × H·W matrix and its output a K × H·W one, so
///   forward          Y[n]  = W · X[n]          (one strided-batched GEMM over the images)
///   backward data    dX[n] = Wᵀ · dY[n]        (likewise)
///   backward filter  dW    = Σ_n dY[n] · X[n]ᵀ (one GEMM per image accumulating into dW, in
///                                               image order: deterministic)
/// Bias and activation follow as separate element-wise passes. The alternative for the same
/// problems is the implicit-GEMM solver's KERNEL_1X1 specialization; the tuner times both.
/// No tunable parameters (CLBlast tunes its own kernels per device).
extension OpenCLBackend {
    static func conv1x1CLBlastApplies(_ d: Conv2DDescriptor, direction: ConvolutionDirection) -> Bool {
        isPlainOneByOne(d) && d.groups == 1
    }

    func conv1x1CLBlastForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                               bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer) throws {
        let hw = d.inH * d.inW
        try gemmStridedBatched(transA: false, transB: false, m: d.outChannels, n: hw, k: d.inChannels, alpha: 1,
                               a: MatrixRef(weight, ld: d.inChannels, stride: 0),
                               b: MatrixRef(x, ld: hw, stride: d.inChannels * hw), beta: 0,
                               c: MatrixRef(y, ld: hw, stride: d.outChannels * hw), batchCount: d.batch)
        if let bias { try addBias(AxisShape(outer: d.batch, axis: d.outChannels, inner: hw), bias: bias, y: y) }
        if let activation { try activationForward(activation, count: d.outputCount, x: y, y: y) }
    }

    func conv1x1CLBlastBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                    dx: any DeviceBuffer) throws {
        let hw = d.inH * d.inW
        try gemmStridedBatched(transA: true, transB: false, m: d.inChannels, n: hw, k: d.outChannels, alpha: 1,
                               a: MatrixRef(weight, ld: d.inChannels, stride: 0),
                               b: MatrixRef(dy, ld: hw, stride: d.outChannels * hw), beta: 0,
                               c: MatrixRef(dx, ld: hw, stride: d.inChannels * hw), batchCount: d.batch)
    }

    func conv1x1CLBlastBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                      dw: any DeviceBuffer) throws {
        let hw = d.inH * d.inW
        for n in 0..<d.batch {
            try gemm(transA: false, transB: true, m: d.outChannels, n: d.inChannels, k: hw, alpha: 1,
                     a: MatrixRef(dy, offset: n * d.outChannels * hw, ld: hw),
                     b: MatrixRef(x, offset: n * d.inChannels * hw, ld: hw), beta: n == 0 ? 0 : 1,
                     c: MatrixRef(dw, ld: d.inChannels))
        }
    }
}
