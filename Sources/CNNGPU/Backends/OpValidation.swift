/// Argument checks for every op, shared by all backends so that a bad call fails the same way
/// on each, with a typed error, before any memory is touched. Each op's check is named as the
/// op and takes its arguments with the same labels (`checks.poolingForward(d, x:y:indices:)`),
/// so a compiled plan can run the checks once and then call the backend's `encode*` each step.
struct OpValidation {
    /// The backend whose buffers the ops take.
    let owner: ObjectIdentifier
    /// The device's `DeviceInfo.maxIndexableElements`: no buffer extent an op touches may pass it.
    let maxIndexableElements: Int
    /// The device's `viewAlignment`.
    let viewAlignment: Int

    func buffer(_ b: any DeviceBuffer, _ op: String, _ name: String, count: Int, offset: Int = 0,
                dtype: DType = .float32) throws {
        try checkBuffer(b, owner: owner, op: op, name: name, count: count, offset: offset, dtype: dtype)
        try indexable(op, [name: offset + count])
    }

    /// Refuses extents past what the device's kernels index (32-bit `int` on OpenCL), rather than
    /// trapping in the `cl_int` conversion or wrapping around inside a kernel.
    func indexable(_ op: String, _ extents: KeyValuePairs<String, Int>) throws {
        for (name, v) in extents where v > maxIndexableElements {
            throw CNNError.invalidShape(op: op, detail: "\(name) spans \(v) elements, more than the "
                + "\(maxIndexableElements) this device's kernels index; split the work, e.g. use a smaller batch")
        }
    }

    func matrix(_ r: MatrixRef, rows: Int, cols: Int, batch: Int, _ op: String, _ name: String) throws {
        guard r.ld >= cols, r.ld >= 1 else {
            throw CNNError.invalidShape(op: op, detail: "'\(name)' leading dimension \(r.ld) is smaller than its \(cols) columns")
        }
        let span = (rows - 1) * r.ld + cols + (batch - 1) * r.stride
        try buffer(r.buffer, op, name, count: span, offset: r.offset)
    }

    func elementwise(_ op: String, count: Int, _ buffers: KeyValuePairs<String, any DeviceBuffer>) throws {
        try checkPositive(op, ["count": count])
        for (name, b) in buffers { try buffer(b, op, name, count: count) }
    }

    func axis(_ op: String, _ s: AxisShape, full: KeyValuePairs<String, any DeviceBuffer>,
              perAxis: KeyValuePairs<String, any DeviceBuffer> = [:]) throws {
        try s.validate(op)
        for (name, b) in full { try buffer(b, op, name, count: s.count) }
        for (name, b) in perAxis { try buffer(b, op, name, count: s.axis) }
    }

    // MARK: Memory

    func upload(_ values: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, elementOffset: Int) throws {
        try self.buffer(buffer, "upload", "buffer", count: values.count / buffer.dtype.byteSize,
                        offset: elementOffset, dtype: buffer.dtype)
    }

    func download(_ buffer: any DeviceBuffer, elementOffset: Int, into values: UnsafeMutableRawBufferPointer) throws {
        try self.buffer(buffer, "download", "buffer", count: values.count / buffer.dtype.byteSize,
                        offset: elementOffset, dtype: buffer.dtype)
    }

    func copyStrided(rows: Int, rowLength: Int, src: any DeviceBuffer, srcOffset: Int, srcStride: Int,
                     dst: any DeviceBuffer, dstOffset: Int, dstStride: Int) throws {
        try checkPositive("copy", ["rows": rows, "rowLength": rowLength])
        // Overlapping rows would make the result depend on the copy order.
        guard srcStride >= rowLength || rows == 1, dstStride >= rowLength || rows == 1 else {
            throw CNNError.invalidShape(op: "copy", detail: "strides must be at least the row length")
        }
        try buffer(src, "copy", "src", count: (rows - 1) * srcStride + rowLength, offset: srcOffset, dtype: src.dtype)
        try buffer(dst, "copy", "dst", count: (rows - 1) * dstStride + rowLength, offset: dstOffset, dtype: src.dtype)
    }

    func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        try self.buffer(buffer, "fill", "buffer", count: count, offset: offset)
    }

    func view(of buffer: any DeviceBuffer, offset: Int, count: Int) throws {
        try checkPositive("view", ["count": count])
        try self.buffer(buffer, "view", "buffer", count: count, offset: offset, dtype: buffer.dtype)
        guard offset % viewAlignment == 0 else {
            throw CNNError.invalidArgument("view: offset \(offset) is not a multiple of \(viewAlignment) elements")
        }
    }

    // MARK: GEMM

    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws {
        try gemm("gemm", transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b, c: c, batch: 1)
    }

    func gemmStridedBatched(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef, batchCount: Int) throws {
        try gemm("gemm_strided_batched", transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b, c: c,
                 batch: batchCount)
    }

    private func gemm(_ op: String, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: MatrixRef,
                      b: MatrixRef, c: MatrixRef, batch: Int) throws {
        try checkPositive(op, ["m": m, "n": n, "k": k, "batch": batch])
        try matrix(a, rows: transA ? k : m, cols: transA ? m : k, batch: batch, op, "A")
        try matrix(b, rows: transB ? n : k, cols: transB ? k : n, batch: batch, op, "B")
        try matrix(c, rows: m, cols: n, batch: batch, op, "C")
    }
}

extension BackendMemory {
    /// The shared argument checks for this backend's ops.
    var checks: OpValidation {
        OpValidation(owner: ObjectIdentifier(self), maxIndexableElements: info.maxIndexableElements,
                     viewAlignment: viewAlignment)
    }
}
