/// Convolution on OpenCL (`Kernels/convolution.cl`), by one of two algorithms:
/// - im2col + CLBlast GEMM (see `Im2ColConvolution`) for most layers;
/// - direct kernels when a group has few output channels (depthwise convolution, a first
///   layer with 6 filters): CLBlast pads such GEMMs to its tile size and wastes most of its
///   work there, while a direct kernel does exactly the multiply-adds of the convolution.
extension OpenCLBackend: ConvolutionOps, Im2ColConvolution {
    enum ConvolutionAlgorithm { case im2colGEMM, direct }

    /// Tests set this to run every problem through one algorithm.
    nonisolated(unsafe) static var forcedAlgorithm: ConvolutionAlgorithm?

    /// Up to this many output channels per group the direct kernels win on PoCL. Measured
    /// (2 cores, CLBlast untuned): depthwise 3×3, 64 channels, 56², batch 8: direct 56 ms
    /// forward vs 182 ms; LeNet's 1→6 5×5: 13 vs 16 ms; its 6→16 layer: 25 vs 7.5 ms.
    static let directMaxGroupOutChannels = 8

    func algorithm(for d: Conv2DDescriptor) -> ConvolutionAlgorithm {
        if let forced = Self.forcedAlgorithm { return forced }
        return d.groupOutChannels <= Self.directMaxGroupOutChannels ? .direct : .im2colGEMM
    }

    public func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                   bias: (any DeviceBuffer)?, y: any DeviceBuffer) throws {
        try validate.convolution(d, x: x, w: weight, y: y, bias: bias, "conv2d")
        try validate.int32Indexable("conv2d", ["x": d.inputCount, "y": d.outputCount])
        switch algorithm(for: d) {
        case .im2colGEMM:
            try im2colForward(d, x: x, weight: weight, bias: bias, y: y)
        case .direct:
            try launch("convolution", "conv_direct_forward", global: [d.outW, d.outH, d.batch * d.outChannels],
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
            try launch("convolution", "conv_direct_backward_data", global: [d.inW, d.inH, d.batch * d.inChannels],
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
