/// Argument checks for every op, shared by all backends so that a bad call fails the same way
/// on each, with a typed error, before any memory is touched.
struct OpValidation {
    let owner: ObjectIdentifier

    func buffer(_ b: any DeviceBuffer, _ op: String, _ name: String, count: Int, offset: Int = 0,
                dtype: DType = .float32) throws {
        try checkBuffer(b, owner: owner, op: op, name: name, count: count, offset: offset, dtype: dtype)
    }

    func matrix(_ r: MatrixRef, rows: Int, cols: Int, batch: Int, _ op: String, _ name: String) throws {
        guard r.ld >= cols, r.ld >= 1 else {
            throw CNNError.invalidShape(op: op, detail: "'\(name)' leading dimension \(r.ld) is smaller than its \(cols) columns")
        }
        let span = (rows - 1) * r.ld + cols + (batch - 1) * r.stride
        try buffer(r.buffer, op, name, count: span, offset: r.offset)
    }

    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: MatrixRef, b: MatrixRef,
              c: MatrixRef, batch: Int = 1) throws {
        let op = batch == 1 ? "gemm" : "gemm_strided_batched"
        try checkPositive(op, ["m": m, "n": n, "k": k, "batch": batch])
        try matrix(a, rows: transA ? k : m, cols: transA ? m : k, batch: batch, op, "A")
        try matrix(b, rows: transB ? n : k, cols: transB ? k : n, batch: batch, op, "B")
        try matrix(c, rows: m, cols: n, batch: batch, op, "C")
    }

    func convolution(_ d: Conv2DDescriptor, x: any DeviceBuffer, w: any DeviceBuffer, y: any DeviceBuffer,
                     bias: (any DeviceBuffer)? = nil, _ op: String) throws {
        try d.validate()
        try buffer(x, op, "x", count: d.inputCount)
        try buffer(w, op, "weight", count: d.weightCount)
        try buffer(y, op, "y", count: d.outputCount)
        if let bias { try buffer(bias, op, "bias", count: d.outChannels) }
    }

    func pooling(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                 indices: (any DeviceBuffer)?, backward: Bool) throws {
        let op = backward ? "pool2d_backward" : "pool2d"
        try buffer(x, op, backward ? "dx" : "x", count: d.inputCount)
        try buffer(y, op, backward ? "dy" : "y", count: d.outputCount)
        if let indices { try buffer(indices, op, "indices", count: d.outputCount, dtype: .int32) }
        if backward, d.mode == .max, indices == nil {
            throw CNNError.invalidArgument("pool2d_backward: max pooling needs the indices saved by the forward pass")
        }
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

    func maxout(batch: Int, channels: Int, groupSize: Int, spatial: Int, x: any DeviceBuffer,
                y: any DeviceBuffer, _ op: String) throws {
        try checkPositive(op, ["batch": batch, "channels": channels, "groupSize": groupSize, "spatial": spatial])
        guard channels % groupSize == 0 else {
            throw CNNError.invalidShape(op: op, detail: "group size \(groupSize) does not divide \(channels) channels")
        }
        try buffer(x, op, "x", count: batch * channels * spatial)
        try buffer(y, op, "y", count: batch * channels / groupSize * spatial)
    }

    func lrn(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
             _ buffers: KeyValuePairs<String, any DeviceBuffer>, _ op: String) throws {
        try checkPositive(op, ["batch": batch, "channels": channels, "spatial": spatial, "size": p.size])
        for (name, b) in buffers { try buffer(b, op, name, count: batch * channels * spatial) }
    }

    func classification(_ op: String, rows: Int, cols: Int, scores: any DeviceBuffer,
                        labels: (any DeviceBuffer)?) throws {
        try checkPositive(op, ["rows": rows, "cols": cols])
        try buffer(scores, op, "scores", count: rows * cols)
        if let labels { try buffer(labels, op, "labels", count: rows, dtype: .int32) }
    }

    func dropout(count: Int, probability: Float, _ buffers: KeyValuePairs<String, any DeviceBuffer>) throws {
        guard probability >= 0, probability < 1 else {
            throw CNNError.invalidArgument("dropout: probability must be in [0, 1), got \(probability)")
        }
        try elementwise("dropout", count: count, buffers)
    }
}
