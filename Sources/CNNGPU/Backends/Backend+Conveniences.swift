/// Typed conveniences and ops that are compositions of the protocol's primitives, so every
/// backend gets them for free and they behave the same everywhere.
extension BackendMemory {
    public func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int = 0) throws {
        try checkDType(buffer, .float32, "upload")
        try values.withUnsafeBytes { try upload($0, to: buffer, elementOffset: offset) }
    }

    public func uploadInt32(_ values: [Int32], to buffer: any DeviceBuffer, offset: Int = 0) throws {
        try checkDType(buffer, .int32, "upload")
        try values.withUnsafeBytes { try upload($0, to: buffer, elementOffset: offset) }
    }

    /// Allocates a Float32 buffer and fills it with `values`.
    public func makeBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        let b = try allocate(max(values.count, 1), dtype: .float32)
        try upload(values, to: b)
        return b
    }

    /// Allocates an Int32 buffer and fills it with `values`.
    public func makeInt32Buffer(_ values: [Int32]) throws -> any DeviceBuffer {
        let b = try allocate(max(values.count, 1), dtype: .int32)
        try uploadInt32(values, to: b)
        return b
    }

    /// Reads `count` Float32 elements (all of them by default); waits for queued ops.
    public func download(_ buffer: any DeviceBuffer, offset: Int = 0, count: Int? = nil) throws -> [Float] {
        try checkDType(buffer, .float32, "download")
        let n = count ?? (buffer.count - offset)
        return try [Float](unsafeUninitializedCapacity: n) { out, initialized in
            try download(buffer, elementOffset: offset, into: UnsafeMutableRawBufferPointer(out))
            initialized = n
        }
    }

    public func downloadInt32(_ buffer: any DeviceBuffer, offset: Int = 0, count: Int? = nil) throws -> [Int32] {
        try checkDType(buffer, .int32, "download")
        let n = count ?? (buffer.count - offset)
        return try [Int32](unsafeUninitializedCapacity: n) { out, initialized in
            try download(buffer, elementOffset: offset, into: UnsafeMutableRawBufferPointer(out))
            initialized = n
        }
    }

    public func copy(from src: any DeviceBuffer, to dst: any DeviceBuffer, count: Int,
                     srcOffset: Int = 0, dstOffset: Int = 0) throws {
        try copyStrided(rows: 1, rowLength: count, src: src, srcOffset: srcOffset, srcStride: count,
                        dst: dst, dstOffset: dstOffset, dstStride: count)
    }

    public func fill(_ buffer: any DeviceBuffer, value: Float) throws {
        try fill(buffer, value: value, offset: 0, count: buffer.count)
    }

    // MARK: Channel concat and split (Inception, DenseNet)

    /// Concatenates `[N, C_i, spatial]` tensors along channels into `output` `[N, ΣC_i, spatial]`.
    public func concatChannels(batch: Int, spatial: Int, inputs: [(buffer: any DeviceBuffer, channels: Int)],
                               output: any DeviceBuffer) throws {
        let total = inputs.reduce(0) { $0 + $1.channels }
        var offset = 0
        for (buffer, channels) in inputs {
            try copyStrided(rows: batch, rowLength: channels * spatial, src: buffer, srcOffset: 0,
                            srcStride: channels * spatial, dst: output, dstOffset: offset * spatial,
                            dstStride: total * spatial)
            offset += channels
        }
    }

    /// The backward of `concatChannels`: splits `[N, ΣC_i, spatial]` into its parts; a part
    /// without a buffer (an input that needs no gradient) is skipped.
    public func splitChannels(batch: Int, spatial: Int, input: any DeviceBuffer,
                              outputs: [(buffer: (any DeviceBuffer)?, channels: Int)]) throws {
        let total = outputs.reduce(0) { $0 + $1.channels }
        var offset = 0
        for (buffer, channels) in outputs {
            if let buffer {
                try copyStrided(rows: batch, rowLength: channels * spatial, src: input,
                                srcOffset: offset * spatial, srcStride: total * spatial, dst: buffer,
                                dstOffset: 0, dstStride: channels * spatial)
            }
            offset += channels
        }
    }
}

extension ConvolutionOps where Self: BiasOps {
    /// db[c] = Σ_{n, h, w} dy[n, c, h, w].
    public func convolutionBackwardBias(_ d: Conv2DDescriptor, dy: any DeviceBuffer, db: any DeviceBuffer) throws {
        try reduceSum(AxisShape(outer: d.batch, axis: d.outChannels, inner: d.outH * d.outW), x: dy, out: db)
    }

    /// Transposed convolution forward: the backward-data pass of its adjoint convolution, plus bias.
    public func convolutionTransposeForward(_ d: ConvTranspose2DDescriptor, x: any DeviceBuffer,
                                            weight: any DeviceBuffer, bias: (any DeviceBuffer)?,
                                            y: any DeviceBuffer) throws {
        try convolutionBackwardData(d.conv, dy: x, weight: weight, dx: y)
        if let bias {
            try addBias(AxisShape(outer: d.conv.batch, axis: d.conv.inChannels, inner: d.outH * d.outW),
                        bias: bias, y: y)
        }
    }

    /// Transposed convolution backward-data: the forward pass of its adjoint convolution.
    public func convolutionTransposeBackwardData(_ d: ConvTranspose2DDescriptor, dy: any DeviceBuffer,
                                                 weight: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try convolutionForward(d.conv, x: dy, weight: weight, bias: nil, y: dx)
    }

    /// Transposed convolution backward-filter: the adjoint convolution's, with the roles of
    /// input and output gradient exchanged.
    public func convolutionTransposeBackwardFilter(_ d: ConvTranspose2DDescriptor, x: any DeviceBuffer,
                                                   dy: any DeviceBuffer, dw: any DeviceBuffer) throws {
        try convolutionBackwardFilter(d.conv, x: dy, dy: x, dw: dw)
    }

    public func convolutionTransposeBackwardBias(_ d: ConvTranspose2DDescriptor, dy: any DeviceBuffer,
                                                 db: any DeviceBuffer) throws {
        try reduceSum(AxisShape(outer: d.conv.batch, axis: d.conv.inChannels, inner: d.outH * d.outW),
                      x: dy, out: db)
    }

}

extension ElementwiseOps {
    /// dx = dy ⊙ mask.
    public func dropoutBackward(count: Int, dy: any DeviceBuffer, mask: any DeviceBuffer,
                                dx: any DeviceBuffer) throws {
        try multiply(count: count, a: dy, b: mask, out: dx)
    }
}

/// Checks a buffer argument of an op: right backend, element type and size. Both backends
/// call this before touching memory, so a bad argument is a typed error, never a crash.
func checkBuffer(_ buffer: any DeviceBuffer, owner: ObjectIdentifier, op: String, name: String,
                 count: Int, offset: Int = 0, dtype: DType = .float32) throws {
    guard buffer.backendID == owner else {
        throw CNNError.invalidBuffer(op: op, detail: "'\(name)' belongs to another backend")
    }
    guard buffer.dtype == dtype else {
        throw CNNError.invalidBuffer(op: op, detail: "'\(name)' holds \(buffer.dtype), expected \(dtype)")
    }
    guard count >= 0, offset >= 0 else {
        throw CNNError.invalidShape(op: op, detail: "'\(name)' has a negative size or offset")
    }
    guard offset + count <= buffer.count else {
        throw CNNError.invalidBuffer(op: op, detail: "'\(name)' holds \(buffer.count) elements, needs \(offset + count)")
    }
}

func checkDType(_ buffer: any DeviceBuffer, _ dtype: DType, _ op: String) throws {
    guard buffer.dtype == dtype else {
        throw CNNError.invalidBuffer(op: op, detail: "buffer holds \(buffer.dtype), expected \(dtype)")
    }
}

/// Checks that every listed size is positive.
func checkPositive(_ op: String, _ sizes: KeyValuePairs<String, Int>) throws {
    for (name, v) in sizes where v <= 0 {
        throw CNNError.invalidShape(op: op, detail: "\(name) must be positive, got \(v)")
    }
}
