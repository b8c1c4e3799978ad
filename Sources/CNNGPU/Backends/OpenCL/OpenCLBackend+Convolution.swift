/// Convolution on OpenCL (`Kernels/convolution.cl`), by one of two algorithms:
/// - im2col + CLBlast GEMM (see `Im2ColConvolution`);
/// - direct kernels, one work-item per output row (per input row, per weight for the backward
///   passes), whose inner loops run along contiguous rows so a CPU device vectorizes them.
///
/// Measured on PoCL (2 cores, CLBlast without tuning parameters for the device), forward /
/// backward-data / backward-filter in ms, direct vs im2col + GEMM:
/// | layer                                  | direct          | im2col + GEMM     |
/// |----------------------------------------|-----------------|-------------------|
/// | 3×3, 64→64, 56², batch 8               | 109 / 141 / 211 | 368 / 445 / 309   |
/// | 1×1, 64→256, 56², batch 8              | 132 / 73 / 81   | 259 / 228 / 264   |
/// | depthwise 3×3, 64 ch, 56², batch 8     | 2.8 / 2.8 / 3.2 | 226 / 172 / 327   |
/// | LeNet 5×5, 1→6, 28², batch 64          | 2.1 / 1.6 / 1.5 | 17 / 11 / 26      |
/// | LeNet 5×5, 6→16, 14², batch 64         | 3.7 / 8.0 / 6.2 | 7.8 / 9.2 / 8.9   |
/// So a CPU device runs everything direct. On a GPU the direct kernels' row-per-work-item
/// access does not coalesce, and GEMM wins except where a group has so few output channels
/// that GEMM tiles (32–64 rows) are mostly padding, e.g. depthwise convolution.
extension OpenCLBackend: ConvolutionOps, Im2ColConvolution {
    /// On a GPU, the most output channels per group that still run direct: below CLBlast's
    /// 32–64-row tiles, most of a GEMM tile is padding.
    static let directMaxGroupOutChannels = 8

    func algorithm(for d: Conv2DDescriptor) -> ConvolutionAlgorithm {
        if let forced = ConvolutionAlgorithm.forced { return forced }
        if policy == .cpu || d.groupOutChannels <= Self.directMaxGroupOutChannels { return .direct }
        return .im2colGEMM
    }

    public func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                   bias: (any DeviceBuffer)?, y: any DeviceBuffer) throws {
        try validate.convolution(d, x: x, w: weight, y: y, bias: bias, "conv2d")
        try validate.int32Indexable("conv2d", ["x": d.inputCount, "y": d.outputCount])
        switch algorithm(for: d) {
        case .im2colGEMM:
            try im2colForward(d, x: x, weight: weight, bias: bias, y: y)
        case .direct:
            try launch("convolution", "conv_direct_forward", global: [d.outH, d.outChannels, d.batch],
                       directArguments(d) + [.buffer(x), .buffer(weight), .buffer(y)])
            if let bias {
                try addBias(AxisShape(outer: d.batch, axis: d.outChannels, inner: d.outPixels), bias: bias, y: y)
            }
        }
    }

    public func convolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                        dx: any DeviceBuffer) throws {
        try validate.convolutionBackward(d, "conv2d_backward_data", input: ("dx", dx), weight: ("weight", weight),
                                         output: ("dy", dy))
        try validate.int32Indexable("conv2d_backward_data", ["dx": d.inputCount, "dy": d.outputCount])
        switch algorithm(for: d) {
        case .im2colGEMM:
            try im2colBackwardData(d, dy: dy, weight: weight, dx: dx)
        case .direct:
            try launch("convolution", "conv_direct_backward_data", global: [d.inH, d.inChannels, d.batch],
                       directArguments(d) + [.buffer(dy), .buffer(weight), .buffer(dx)])
        }
    }

    public func convolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                          dw: any DeviceBuffer) throws {
        try validate.convolutionBackward(d, "conv2d_backward_filter", input: ("x", x), weight: ("dw", dw),
                                         output: ("dy", dy))
        try validate.int32Indexable("conv2d_backward_filter", ["x": d.inputCount, "dy": d.outputCount])
        switch algorithm(for: d) {
        case .im2colGEMM:
            try im2colBackwardFilter(d, x: x, dy: dy, dw: dw)
        case .direct:
            try launch("convolution", "conv_direct_backward_filter",
                       global: [d.kernelW, d.kernelH, d.outChannels * d.groupInChannels],
                       directArguments(d) + [.buffer(x), .buffer(dy), .buffer(dw)])
        }
    }

    // MARK: im2col kernels (also called directly by the kernel checks)

    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws {
        try validate.int32Indexable("im2col", ["column buffer": images * d.columnsPerImage])
        try launch("convolution", "im2col", global: [d.outW, d.outH, d.inChannels * images],
                   geometryArguments(d, images: images) + [.int(firstImage), .buffer(x), .buffer(col)])
    }

    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws {
        try launch("convolution", "col2im_gather", global: [d.inW, d.inH, images * d.inChannels],
                   geometryArguments(d, images: images) + [.int(firstImage), .buffer(col), .buffer(dx)])
    }

    func packImages(rows: Int, length: Int, src: any DeviceBuffer, firstImage: Int, images: Int,
                    dst: any DeviceBuffer, dstOffset: Int) throws {
        try launch("convolution", "pack_images", global: [length, rows, images],
                   [.int(rows), .int(length), .int(images), .int(firstImage), .buffer(src), .buffer(dst), .int(dstOffset)])
    }

    func unpackImages(rows: Int, length: Int, src: any DeviceBuffer, srcOffset: Int, images: Int,
                      dst: any DeviceBuffer, firstImage: Int) throws {
        try launch("convolution", "unpack_images", global: [length, rows, images],
                   [.int(rows), .int(length), .int(images), .int(firstImage), .buffer(src), .int(srcOffset), .buffer(dst)])
    }

    /// The leading geometry arguments every kernel of convolution.cl but the packing ones takes.
    private func geometryArguments(_ d: Conv2DDescriptor, images: Int) -> [KernelArgument] {
        [images, d.inChannels, d.inH, d.inW, d.kernelH, d.kernelW, d.strideH, d.strideW,
         d.padding.top, d.padding.left, d.dilationH, d.dilationW, d.outH, d.outW].map { .int($0) }
    }

    private func directArguments(_ d: Conv2DDescriptor) -> [KernelArgument] {
        geometryArguments(d, images: d.batch) + [.int(d.outChannels), .int(d.groups)]
    }
}
