/// Convolution as im2col + GEMM, shared by the backends: each backend supplies the two
/// data-rearranging steps and its GEMM, and this driver sequences them.
///
/// Per image `n` and group `g` (see `Conv2DDescriptor+GEMM`):
/// - forward:         `y_ng = W_g · col_ng`
/// - backward-data:   `col_ng = W_gᵀ · dy_ng`, then `dx_n = col2im(col_n)`
/// - backward-filter: `dW_g = Σ_n dy_ng · col_ngᵀ` (beta = 1 after the first image)
///
/// Images run in chunks so the column buffer stays within `ConvolutionWorkspace.limitBytes`;
/// a pointwise (1×1, stride 1, unpadded) convolution uses its input as the column matrix.
protocol Im2ColConvolution: GEMMOps, BiasOps {
    /// col[n][(c·kH + kh)·kW + kw][oh·outW + ow] for images `firstImage ..< firstImage + images` of x.
    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws
    /// The adjoint of `im2col`: overwrites images `firstImage ..< firstImage + images` of dx.
    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws
}

/// One GEMM operand of a grouped convolution: matrix (n, g) starts at
/// `offset + n·imageStride + g·groupStride`.
struct ConvOperand {
    var buffer: any DeviceBuffer
    var offset: Int, ld: Int, imageStride: Int, groupStride: Int

    func matrix(image: Int, group: Int, batchStride: Int) -> MatrixRef {
        MatrixRef(buffer, offset: offset + image * imageStride + group * groupStride, ld: ld, stride: batchStride)
    }
}

extension Im2ColConvolution {
    func im2colForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                       bias: (any DeviceBuffer)?, y: any DeviceBuffer) throws {
        let (og, k, p) = (d.groupOutChannels, d.groupColumnRows, d.outPixels)
        let w = ConvOperand(buffer: weight, offset: 0, ld: k, imageStride: 0, groupStride: og * k)
        if d.isPointwise {
            try groupedGEMM(images: d.batch, groups: d.groups, transA: false, transB: false, m: og, n: p, k: k, a: w,
                            b: inputOperand(d, x), c: outputOperand(d, y, firstImage: 0), beta: 0)
        } else {
            try forEachChunk(d, "conv2d") { n0, nb, col in
                try im2col(d, x: x, firstImage: n0, images: nb, col: col)
                try groupedGEMM(images: nb, groups: d.groups, transA: false, transB: false, m: og, n: p, k: k, a: w,
                                b: columnOperand(d, col), c: outputOperand(d, y, firstImage: n0), beta: 0)
            }
        }
        if let bias {
            try addBias(AxisShape(outer: d.batch, axis: d.outChannels, inner: p), bias: bias, y: y)
        }
    }

    func im2colBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                            dx: any DeviceBuffer) throws {
        let (og, k, p) = (d.groupOutChannels, d.groupColumnRows, d.outPixels)
        let w = ConvOperand(buffer: weight, offset: 0, ld: k, imageStride: 0, groupStride: og * k)
        if d.isPointwise {
            try groupedGEMM(images: d.batch, groups: d.groups, transA: true, transB: false, m: k, n: p, k: og, a: w,
                            b: outputOperand(d, dy, firstImage: 0), c: inputOperand(d, dx), beta: 0)
            return
        }
        try forEachChunk(d, "conv2d_backward_data") { n0, nb, col in
            try groupedGEMM(images: nb, groups: d.groups, transA: true, transB: false, m: k, n: p, k: og, a: w,
                            b: outputOperand(d, dy, firstImage: n0), c: columnOperand(d, col), beta: 0)
            try col2im(d, col: col, images: nb, dx: dx, firstImage: n0)
        }
    }

    func im2colBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                              dw: any DeviceBuffer) throws {
        let (og, k, p) = (d.groupOutChannels, d.groupColumnRows, d.outPixels)
        let w = ConvOperand(buffer: dw, offset: 0, ld: k, imageStride: 0, groupStride: og * k)
        // dW accumulates over images, so images are sequential GEMMs (groups batched).
        func accumulate(image n: Int, columns: ConvOperand, columnImage: Int) throws {
            let g = outputOperand(d, dy, firstImage: n)
            try groupedGEMM(images: 1, groups: d.groups, transA: false, transB: true, m: og, n: k, k: p,
                            a: g, b: ConvOperand(buffer: columns.buffer, offset: columns.offset + columnImage * columns.imageStride,
                                                 ld: columns.ld, imageStride: 0, groupStride: columns.groupStride),
                            c: w, beta: n == 0 ? 0 : 1)
        }
        if d.isPointwise {
            let input = inputOperand(d, x)
            for n in 0..<d.batch { try accumulate(image: n, columns: input, columnImage: n) }
            return
        }
        try forEachChunk(d, "conv2d_backward_filter") { n0, nb, col in
            try im2col(d, x: x, firstImage: n0, images: nb, col: col)
            let columns = columnOperand(d, col)
            for i in 0..<nb { try accumulate(image: n0 + i, columns: columns, columnImage: i) }
        }
    }

    // MARK: Operands

    /// x (or dx) as the column matrix of a pointwise convolution: `[Cg, P]` per image and group.
    private func inputOperand(_ d: Conv2DDescriptor, _ b: any DeviceBuffer) -> ConvOperand {
        let p = d.inH * d.inW
        return ConvOperand(buffer: b, offset: 0, ld: p, imageStride: d.inChannels * p, groupStride: d.groupInChannels * p)
    }

    /// y (or dy) from image `firstImage` on: `[Og, P]` per image and group.
    private func outputOperand(_ d: Conv2DDescriptor, _ b: any DeviceBuffer, firstImage: Int) -> ConvOperand {
        let p = d.outPixels
        return ConvOperand(buffer: b, offset: firstImage * d.outChannels * p, ld: p,
                           imageStride: d.outChannels * p, groupStride: d.groupOutChannels * p)
    }

    /// The column buffer: `[K, P]` per image and group.
    private func columnOperand(_ d: Conv2DDescriptor, _ col: any DeviceBuffer) -> ConvOperand {
        ConvOperand(buffer: col, offset: 0, ld: d.outPixels, imageStride: d.columnsPerImage,
                    groupStride: d.groupColumnRows * d.outPixels)
    }

    // MARK: Drivers

    /// `images × groups` independent GEMMs, as few calls as possible: one strided batch over
    /// images per group, or over groups per image, whichever loop is shorter.
    private func groupedGEMM(images: Int, groups: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             a: ConvOperand, b: ConvOperand, c: ConvOperand, beta: Float) throws {
        if groups <= images {
            for g in 0..<groups {
                try gemmStridedBatched(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1,
                                       a: a.matrix(image: 0, group: g, batchStride: a.imageStride),
                                       b: b.matrix(image: 0, group: g, batchStride: b.imageStride), beta: beta,
                                       c: c.matrix(image: 0, group: g, batchStride: c.imageStride), batchCount: images)
            }
        } else {
            for i in 0..<images {
                try gemmStridedBatched(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1,
                                       a: a.matrix(image: i, group: 0, batchStride: a.groupStride),
                                       b: b.matrix(image: i, group: 0, batchStride: b.groupStride), beta: beta,
                                       c: c.matrix(image: i, group: 0, batchStride: c.groupStride), batchCount: groups)
            }
        }
    }

    /// Runs `body(firstImage, images, columnBuffer)` over the batch in chunks that fit the workspace.
    private func forEachChunk(_ d: Conv2DDescriptor, _ op: String,
                              _ body: (Int, Int, any DeviceBuffer) throws -> Void) throws {
        let perImage = d.columnsPerImage
        let chunk = try ConvolutionWorkspace.imagesPerChunk(batch: d.batch, perImage: perImage,
                                                            maxBufferBytes: info.maxBufferBytes, op: op)
        let col = try ConvolutionWorkspace.buffer(for: self, count: chunk * perImage)
        var n0 = 0
        while n0 < d.batch {
            let nb = min(chunk, d.batch - n0)
            try body(n0, nb, col)
            n0 += nb
        }
    }
}
