/// Convolution as im2col + GEMM, shared by the backends: each backend supplies the
/// data-rearranging steps and its GEMM, and this driver sequences them.
///
/// A chunk of `nb` images is laid out side by side, so each group is ONE wide GEMM per chunk
/// rather than one small GEMM per image (2–3× faster in CLBlast, and better for OpenBLAS on
/// small images): the column matrix is `[C·kH·kW, nb·P]` (row `(c·kH + kh)·kW + kw`, column
/// `n·P + p`), and outputs are packed the same way, `[outC, nb·P]`. Per group `g`:
/// - forward:         `Y_g = W_g · col_g`, then unpack Y to NCHW
/// - backward-data:   pack dY, `col_g = W_gᵀ · dY_g`, then `dx = col2im(col)`
/// - backward-filter: pack dY, `dW_g (+)= dY_g · col_gᵀ` (beta = 1 after the first chunk)
///
/// The caller's workspace sets the chunk size (`ConvolutionWorkspace`): as many images as it
/// holds, at least one (the shared validation checks that). The forward pass's bias and
/// activation run as each chunk's output is unpacked (or right after its GEMM where nothing is
/// unpacked), while it is still in cache. A pointwise (1×1, stride 1, unpadded) convolution
/// skips im2col: its input already is its column matrix, so it runs as one GEMM per image and
/// group directly on x, y and their gradients; unless `packed` is asked, when it takes the
/// chunked path above like any other layer (its im2col is a copy). Packing pays where images
/// are small: at 2×2 pixels a GEMM per image has N = 4 columns (backward-filter K = 4, with dW
/// read and written once per image), where the packed chunk has N (K) = images·4.
protocol Im2ColConvolution: GEMMOps {
    /// `col[r][n·P + p]` for images `firstImage ..< firstImage + images` of x.
    func im2col(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                col: any DeviceBuffer) throws
    /// The adjoint of `im2col`: overwrites images `firstImage ..< firstImage + images` of dx.
    func col2im(_ d: Conv2DDescriptor, col: any DeviceBuffer, images: Int, dx: any DeviceBuffer,
                firstImage: Int) throws
    /// `dst[dstOffset + (r·images + n)·length + i] = src[((firstImage + n)·rows + r)·length + i]`:
    /// image-major `[images][rows][length]` to row-major `[rows][images·length]`.
    func packImages(rows: Int, length: Int, src: any DeviceBuffer, firstImage: Int, images: Int,
                    dst: any DeviceBuffer, dstOffset: Int) throws
    /// The inverse of `packImages`, applying the forward epilogue on the way when given:
    /// row `r` gets `activation(value + bias[r])`.
    func unpackImages(rows: Int, length: Int, src: any DeviceBuffer, srcOffset: Int, images: Int,
                      dst: any DeviceBuffer, firstImage: Int, bias: (any DeviceBuffer)?,
                      activation: Activation?) throws
    /// y = activation(y + bias) in place on images `firstImage ..< firstImage + images` of y,
    /// for the outputs that are not unpacked.
    func convolutionEpilogue(_ d: Conv2DDescriptor, bias: (any DeviceBuffer)?, activation: Activation?,
                             y: any DeviceBuffer, firstImage: Int, images: Int) throws
}

/// One GEMM operand of a grouped pointwise convolution: matrix (n, g) starts at
/// `offset + n·imageStride + g·groupStride`.
struct ConvOperand {
    var buffer: any DeviceBuffer
    var offset: Int, ld: Int, imageStride: Int, groupStride: Int

    func matrix(image: Int, group: Int, batchStride: Int) -> MatrixRef {
        MatrixRef(buffer, offset: offset + image * imageStride + group * groupStride, ld: ld, stride: batchStride)
    }
}

extension Im2ColConvolution {
    /// `unpackImages` without an epilogue.
    func unpackImages(rows: Int, length: Int, src: any DeviceBuffer, srcOffset: Int, images: Int,
                      dst: any DeviceBuffer, firstImage: Int) throws {
        try unpackImages(rows: rows, length: length, src: src, srcOffset: srcOffset, images: images, dst: dst,
                         firstImage: firstImage, bias: nil, activation: nil)
    }

    func im2colForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                       bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                       workspace: (any DeviceBuffer)?, packed: Bool = false) throws {
        let (og, k, p) = (d.groupOutChannels, d.groupColumnRows, d.outPixels)
        let epilogue = bias != nil || activation != nil
        if d.isPointwise && !packed {
            try pointwiseGEMM(images: d.batch, groups: d.groups, transA: false, transB: false, m: og, n: p, k: k,
                              a: weightOperand(d, weight), b: inputOperand(d, x), c: outputOperand(d, y), beta: 0)
            if epilogue {
                try convolutionEpilogue(d, bias: bias, activation: activation, y: y, firstImage: 0, images: d.batch)
            }
        } else {
            try forEachChunk(d, workspace) { n0, nb, ws, packed in
                try columns(d, x: x, firstImage: n0, images: nb, col: ws)
                // One image needs no packing: its output already is [outC, P].
                let (out, outOffset) = nb == 1 ? (y, n0 * d.outChannels * p) : (ws, packed)
                try groupGEMM(d, transA: false, transB: false, m: og, n: nb * p, k: k,
                              a: MatrixRef(weight, ld: k, stride: og * k),
                              b: MatrixRef(ws, ld: nb * p, stride: k * nb * p), beta: 0,
                              c: MatrixRef(out, offset: outOffset, ld: nb * p, stride: og * nb * p))
                if nb > 1 {
                    try unpackImages(rows: d.outChannels, length: p, src: ws, srcOffset: packed, images: nb,
                                     dst: y, firstImage: n0, bias: bias, activation: activation)
                } else if epilogue {
                    try convolutionEpilogue(d, bias: bias, activation: activation, y: y, firstImage: n0, images: nb)
                }
            }
        }
    }

    func im2colBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                            dx: any DeviceBuffer, workspace: (any DeviceBuffer)?, packed: Bool = false) throws {
        let (og, k, p) = (d.groupOutChannels, d.groupColumnRows, d.outPixels)
        if d.isPointwise && !packed {
            try pointwiseGEMM(images: d.batch, groups: d.groups, transA: true, transB: false, m: k, n: p, k: og,
                              a: weightOperand(d, weight), b: outputOperand(d, dy), c: inputOperand(d, dx), beta: 0)
            return
        }
        try forEachChunk(d, workspace) { n0, nb, ws, packed in
            let g = try packedGradient(d, dy: dy, firstImage: n0, images: nb, workspace: ws, at: packed)
            try groupGEMM(d, transA: true, transB: false, m: k, n: nb * p, k: og,
                          a: MatrixRef(weight, ld: k, stride: og * k), b: g, beta: 0,
                          c: MatrixRef(ws, ld: nb * p, stride: k * nb * p))
            if d.isPointwise {
                try unpackImages(rows: d.inChannels, length: p, src: ws, srcOffset: 0, images: nb, dst: dx, firstImage: n0)
            } else {
                try col2im(d, col: ws, images: nb, dx: dx, firstImage: n0)
            }
        }
    }

    func im2colBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                              dw: any DeviceBuffer, workspace: (any DeviceBuffer)?, packed: Bool = false) throws {
        let (og, k, p) = (d.groupOutChannels, d.groupColumnRows, d.outPixels)
        if d.isPointwise && !packed {
            // dW accumulates over images, so images are sequential GEMMs (groups batched).
            let (g, input, w) = (outputOperand(d, dy), inputOperand(d, x), weightOperand(d, dw))
            for n in 0..<d.batch {
                try gemmStridedBatched(transA: false, transB: true, m: og, n: k, k: p, alpha: 1,
                                       a: g.matrix(image: n, group: 0, batchStride: g.groupStride),
                                       b: input.matrix(image: n, group: 0, batchStride: input.groupStride),
                                       beta: n == 0 ? 0 : 1, c: w.matrix(image: 0, group: 0, batchStride: w.groupStride),
                                       batchCount: d.groups)
            }
            return
        }
        try forEachChunk(d, workspace) { n0, nb, ws, packed in
            try columns(d, x: x, firstImage: n0, images: nb, col: ws)
            let g = try packedGradient(d, dy: dy, firstImage: n0, images: nb, workspace: ws, at: packed)
            try groupGEMM(d, transA: false, transB: true, m: og, n: k, k: nb * p, a: g,
                          b: MatrixRef(ws, ld: nb * p, stride: k * nb * p), beta: n0 == 0 ? 0 : 1,
                          c: MatrixRef(dw, ld: k, stride: og * k))
        }
    }

    // MARK: Helpers

    /// The column matrix of a chunk: a packed 1×1 layer's is its input planes side by side, a
    /// plain copy of whole planes.
    private func columns(_ d: Conv2DDescriptor, x: any DeviceBuffer, firstImage: Int, images: Int,
                         col: any DeviceBuffer) throws {
        if d.isPointwise {
            try packImages(rows: d.inChannels, length: d.outPixels, src: x, firstImage: firstImage, images: images,
                           dst: col, dstOffset: 0)
        } else {
            try im2col(d, x: x, firstImage: firstImage, images: images, col: col)
        }
    }

    /// dy of a chunk as `[outC, nb·P]` (packed into the workspace unless the chunk is one image),
    /// with group stride.
    private func packedGradient(_ d: Conv2DDescriptor, dy: any DeviceBuffer, firstImage: Int, images: Int,
                                workspace: any DeviceBuffer, at offset: Int) throws -> MatrixRef {
        let p = d.outPixels
        if images == 1 {
            return MatrixRef(dy, offset: firstImage * d.outChannels * p, ld: p, stride: d.groupOutChannels * p)
        }
        try packImages(rows: d.outChannels, length: p, src: dy, firstImage: firstImage, images: images,
                       dst: workspace, dstOffset: offset)
        return MatrixRef(workspace, offset: offset, ld: images * p, stride: d.groupOutChannels * images * p)
    }

    /// One GEMM per group, as one strided-batched call.
    private func groupGEMM(_ d: Conv2DDescriptor, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                           a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws {
        try gemmStridedBatched(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, b: b,
                               beta: beta, c: c, batchCount: d.groups)
    }

    private func weightOperand(_ d: Conv2DDescriptor, _ b: any DeviceBuffer) -> ConvOperand {
        let k = d.groupColumnRows
        return ConvOperand(buffer: b, offset: 0, ld: k, imageStride: 0, groupStride: d.groupOutChannels * k)
    }

    /// x (or dx) as the column matrix of a pointwise convolution: `[Cg, P]` per image and group.
    private func inputOperand(_ d: Conv2DDescriptor, _ b: any DeviceBuffer) -> ConvOperand {
        let p = d.inH * d.inW
        return ConvOperand(buffer: b, offset: 0, ld: p, imageStride: d.inChannels * p, groupStride: d.groupInChannels * p)
    }

    /// y (or dy): `[Og, P]` per image and group.
    private func outputOperand(_ d: Conv2DDescriptor, _ b: any DeviceBuffer) -> ConvOperand {
        let p = d.outPixels
        return ConvOperand(buffer: b, offset: 0, ld: p, imageStride: d.outChannels * p, groupStride: d.groupOutChannels * p)
    }

    /// `images × groups` independent GEMMs of a pointwise convolution, as few calls as
    /// possible: one strided batch over images per group, or over groups per image.
    private func pointwiseGEMM(images: Int, groups: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
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

    /// Runs `body(firstImage, images, workspace, packedOffset)` over the batch in chunks that
    /// fit the workspace: the column matrix at 0, the packed output (gradient) at `packedOffset`.
    private func forEachChunk(_ d: Conv2DDescriptor, _ workspace: (any DeviceBuffer)?,
                              _ body: (Int, Int, any DeviceBuffer, Int) throws -> Void) throws {
        // The shared validation (`checkConvolutionSolution`, or the eager API's allocation)
        // guarantees a workspace of at least one image here.
        let workspace = workspace!
        let chunk = ConvolutionWorkspace.imagesPerChunk(d, workspaceCount: workspace.count)
        var n0 = 0
        while n0 < d.batch {
            let nb = min(chunk, d.batch - n0)
            try body(n0, nb, workspace, chunk * d.columnsPerImage)
            n0 += nb
        }
    }
}
