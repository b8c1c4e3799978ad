/// Convolution as im2col (`Kernels/convolution.cl`) + CLBlast GEMM; see `Im2ColConvolution`.
extension OpenCLBackend: ConvolutionOps, Im2ColConvolution {
    public func convolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                   bias: (any DeviceBuffer)?, y: any DeviceBuffer) throws {
        try validate.convolution(d, x: x, w: weight, y: y, bias: bias, "conv2d")
        try validate.int32Indexable("conv2d", ["x": d.inputCount, "y": d.outputCount])
        try im2colForward(d, x: x, weight: weight, bias: bias, y: y)
    }

    public func convolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                        dx: any DeviceBuffer) throws {
        try validate.convolution(d, x: dx, w: weight, y: dy, "conv2d_backward_data")
        try validate.int32Indexable("conv2d_backward_data", ["dx": d.inputCount, "dy": d.outputCount])
        try im2colBackwardData(d, dy: dy, weight: weight, dx: dx)
    }

    public func convolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                          dw: any DeviceBuffer) throws {
        try validate.convolution(d, x: x, w: dw, y: dy, "conv2d_backward_filter")
        try validate.int32Indexable("conv2d_backward_filter", ["x": d.inputCount, "dy": d.outputCount])
        try im2colBackwardFilter(d, x: x, dy: dy, dw: dw)
    }

    // MARK: Kernels (also called directly by the kernel checks)

    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws {
        try validate.int32Indexable("im2col", ["column buffer": images * d.columnsPerImage])
        try launch("convolution", "im2col", global: [d.outW, d.outH, d.inChannels * images],
                   geometryArguments(d, images: images, firstImage: firstImage) + [.buffer(x), .buffer(col)])
    }

    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws {
        try launch("convolution", "col2im_gather", global: [d.inW, d.inH, images * d.inChannels],
                   geometryArguments(d, images: images, firstImage: firstImage) + [.buffer(col), .buffer(dx)])
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

    /// The leading arguments shared by `im2col` and `col2im_gather`.
    private func geometryArguments(_ d: Conv2DDescriptor, images: Int, firstImage: Int) -> [KernelArgument] {
        [images, d.inChannels, d.inH, d.inW, d.kernelH, d.kernelW, d.strideH, d.strideW,
         d.padding.top, d.padding.left, d.dilationH, d.dilationW, d.outH, d.outW, firstImage].map { .int($0) }
    }
}
