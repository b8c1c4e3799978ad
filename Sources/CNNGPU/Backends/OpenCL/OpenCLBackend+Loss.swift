import COpenCL

/// Losses and metrics from `Kernels/loss.cl`. A loss is a per-row (or per-element) kernel that
/// writes into a scratch buffer, then one single-work-group tree reduction into `loss[0]`: all
/// enqueued, no host wait, and the same bits on every run.
///
/// Scratch buffers are created per call and released right after enqueueing: OpenCL keeps a
/// released buffer alive until the commands that use it have finished, and one small
/// allocation per training step costs nothing next to the step itself.
extension OpenCLBackend: LossOps {
    /// Numerically stable (log-sum-exp with the row maximum subtracted: logits of ±1000 work).
    /// A label outside `0..<cols` makes `loss[0]` NaN and that row's gradient NaN. `gradient`
    /// may be `logits` itself (computed in place).
    public func softmaxCrossEntropy(rows: Int, cols: Int, logits: any DeviceBuffer, labels: any DeviceBuffer,
                                    loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        try validate.softmaxCrossEntropy(rows: rows, cols: cols, logits: logits, labels: labels,
                                         loss: loss, gradient: gradient)
        try validate.int32Indexable("softmax_cross_entropy", ["rows·cols": rows * cols])
        // [row losses | row log-sum-exps]
        let stats = try allocate(2 * rows, dtype: .float32)
        try launch("loss", "cross_entropy_rows", global: [rows],
                   [.int(rows), .int(cols), .buffer(logits), .buffer(labels), .buffer(stats)])
        try launch("loss", "cross_entropy_gradient", global: [cols, rows],
                   [.int(rows), .int(cols), .float(1 / Float(rows)), .buffer(logits), .buffer(labels),
                    .buffer(stats), .buffer(gradient)])
        try sumTreeReduce(count: rows, scale: 1 / Float(rows), values: stats, out: loss)
    }

    public func meanSquaredError(count: Int, prediction: any DeviceBuffer, target: any DeviceBuffer,
                                 loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        try validate.meanSquaredError(count: count, prediction: prediction, target: target,
                                      loss: loss, gradient: gradient)
        try validate.int32Indexable("mean_squared_error", ["count": count])
        let squared = try allocate(count, dtype: .float32)
        try launch("loss", "squared_error_gradient", global: [count],
                   [.int(count), .float(2 / Float(count)), .buffer(prediction), .buffer(target),
                    .buffer(squared), .buffer(gradient)])
        try sumTreeReduce(count: count, scale: 1 / Float(count), values: squared, out: loss)
    }

    /// Ties with the label's score count as correct (fewer than `k` scores strictly greater);
    /// a label outside `0..<cols`, or whose score is NaN, is not correct. `k` must be in `1...cols`.
    public func topKCorrect(rows: Int, cols: Int, k: Int, scores: any DeviceBuffer, labels: any DeviceBuffer,
                            out: any DeviceBuffer) throws {
        try validate.topKCorrect(rows: rows, cols: cols, k: k, scores: scores, labels: labels, out: out)
        try validate.int32Indexable("top_k_correct", ["rows·cols": rows * cols])
        let correct = try allocate(rows, dtype: .float32)
        try launch("loss", "topk_correct_rows", global: [rows],
                   [.int(rows), .int(cols), .int(k), .buffer(scores), .buffer(labels), .buffer(correct)])
        try sumTreeReduce(count: rows, scale: 1, values: correct, out: out)
    }

    /// A NaN counts as larger than any number (as in PyTorch); the first maximum or NaN wins.
    public func argmax(rows: Int, cols: Int, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.argmax(rows: rows, cols: cols, x: x, out: out)
        try validate.int32Indexable("argmax", ["rows·cols": rows * cols])
        try launch("loss", "argmax_rows", global: [rows], [.int(rows), .int(cols), .buffer(x), .buffer(out)])
    }

    /// out[0] = scale · Σ values[0..<count], by `sum_tree_reduce` in one work-group.
    func sumTreeReduce(count: Int, scale: Float, values: any DeviceBuffer, out: any DeviceBuffer) throws {
        let local = try reductionWorkGroupSize(for: count)
        try launch("loss", "sum_tree_reduce", global: [local], local: [local],
                   [.int(count), .float(scale), .buffer(values), .buffer(out), .local(local * 4)])
    }

    /// A power of two: no more than the count needs, 256 at most (enough lanes to hide memory
    /// latency on a GPU), and no more than the device allows for the kernel.
    private func reductionWorkGroupSize(for count: Int) throws -> Int {
        let kernelLimit: Int = try programs.withKernel("loss", "sum_tree_reduce") { k in
            var size = 0
            try clCheck(clGetKernelWorkGroupInfo(k, device.deviceID, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE),
                                                 MemoryLayout<Int>.size, &size, nil),
                        "clGetKernelWorkGroupInfo(sum_tree_reduce)")
            return size
        }
        var local = 1
        while local * 2 <= min(256, kernelLimit, count.nextPowerOfTwoCeiling) { local *= 2 }
        return local
    }
}

private extension Int {
    /// The smallest power of two ≥ self (1 for self ≤ 1).
    var nextPowerOfTwoCeiling: Int {
        var p = 1
        while p < self { p *= 2 }
        return p
    }
}
