import COpenCL

/// Losses and metrics from `Kernels/loss.cl`. A loss is a per-row (or per-element) kernel that
/// writes into a scratch buffer, then tree reductions in work-groups down to `loss[0]`: all
/// enqueued, no host wait, no atomics, and the same bits on every run.
///
/// Temporaries live in the backend's `OpenCLScratch` slots ("values" for the per-row or
/// per-group results, "partials.0"/"partials.1" for the reduction levels).
extension OpenCLBackend: LossOps {
    /// Numerically stable (log-sum-exp with the row maximum subtracted: logits of ±1000 work).
    /// A label outside `0..<cols` makes `loss[0]` NaN and that row's gradient NaN. `gradient`
    /// may be `logits` itself (computed in place). `labelSmoothing` as in `LossOps`.
    public func encodeSoftmaxCrossEntropy(rows: Int, cols: Int, labelSmoothing: Float, logits: any DeviceBuffer,
                                          labels: any DeviceBuffer, loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        try OpenCLScratch.using(self) { scratch in
            // [row losses | row log-sum-exps]
            let stats = try scratch.buffer("values", count: 2 * rows)
            let local = try rowGroupSize("cross_entropy_rows", cols: cols)
            try launch("loss", "cross_entropy_rows", global: [local, rows], local: [local, 1],
                       [.int(rows), .int(cols), .float(labelSmoothing), .buffer(logits), .buffer(labels), .buffer(stats),
                        .local(2 * local * MemoryLayout<Float>.stride)])
            try launch("loss", "cross_entropy_gradient", global: [cols, rows],
                       [.int(rows), .int(cols), .float(1 / Float(rows)), .float(labelSmoothing), .buffer(logits),
                        .buffer(labels), .buffer(stats), .buffer(gradient)])
            try sumTreeReduce(count: rows, scale: 1 / Float(rows), values: stats, out: loss, scratch)
        }
    }

    public func encodeMeanSquaredError(count: Int, prediction: any DeviceBuffer, target: any DeviceBuffer,
                                       loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        // The first level of the sum is fused with the gradient; one group finishes it alone.
        let local = try treeSumGroupSize("squared_error_partial_sums", count: count)
        let groups = (count + local - 1) / local
        try OpenCLScratch.using(self) { scratch in
            let partials = groups == 1 ? loss : try scratch.buffer("values", count: groups)
            try launch("loss", "squared_error_partial_sums", global: [count], local: [local],
                       [.int(count), .float(2 / Float(count)), .float(groups == 1 ? 1 / Float(count) : 1),
                        .buffer(prediction), .buffer(target), .buffer(gradient), .buffer(partials),
                        .local(local * MemoryLayout<Float>.stride)])
            if groups > 1 { try sumTreeReduce(count: groups, scale: 1 / Float(count), values: partials, out: loss, scratch) }
        }
    }

    /// Ties with the label's score count as correct (fewer than `k` scores strictly greater);
    /// a label outside `0..<cols`, or whose score is NaN, is not correct. `k` must be in `1...cols`.
    public func encodeTopKCorrect(rows: Int, cols: Int, k: Int, scores: any DeviceBuffer, labels: any DeviceBuffer,
                                  out: any DeviceBuffer) throws {
        try OpenCLScratch.using(self) { scratch in
            let correct = try scratch.buffer("values", count: rows)
            let local = try rowGroupSize("topk_correct_rows", cols: cols)
            try launch("loss", "topk_correct_rows", global: [local, rows], local: [local, 1],
                       [.int(rows), .int(cols), .int(k), .buffer(scores), .buffer(labels), .buffer(correct),
                        .local(local * MemoryLayout<Float>.stride)])
            try sumTreeReduce(count: rows, scale: 1, values: correct, out: out, scratch)
        }
    }

    /// A NaN counts as larger than any number (as in PyTorch); the first maximum or NaN wins.
    public func encodeArgmax(rows: Int, cols: Int, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        let local = try rowGroupSize("argmax_rows", cols: cols)
        try launch("loss", "argmax_rows", global: [local, rows], local: [local, 1],
                   [.int(rows), .int(cols), .buffer(x), .buffer(out), .local(local * MemoryLayout<Float>.stride),
                    .local(local * MemoryLayout<Int32>.stride)])
    }

    /// out[0] = scale · Σ values[0..<count]: `sum_tree_reduce` turns each work-group's values
    /// into one partial sum, again on the partials until one group covers them all.
    /// Levels alternate between two scratch slots: with an in-order queue, a level has finished
    /// reading a slot before the next level but one overwrites it.
    private func sumTreeReduce(count: Int, scale: Float, values: any DeviceBuffer, out: any DeviceBuffer,
                               _ scratch: OpenCLScratch) throws {
        var n = count, source = values, level = 0
        while true {
            let local = try treeSumGroupSize("sum_tree_reduce", count: n)
            let groups = (n + local - 1) / local
            let target = groups == 1 ? out : try scratch.buffer("partials.\(level % 2)", count: groups)
            try launch("loss", "sum_tree_reduce", global: [n], local: [local],
                       [.int(n), .float(groups == 1 ? scale : 1), .buffer(source), .buffer(target),
                        .local(local * MemoryLayout<Float>.stride)])
            if groups == 1 { return }
            n = groups
            source = target
            level += 1
        }
    }

    /// The work-group of a per-row kernel over rows of `cols` values: the largest power of two
    /// within `cols`, the device's limit for the kernel and 256 on a GPU (a 1000-class row: 4
    /// columns a work-item), 16 on a CPU device, where PoCL runs a group's work-items as loops
    /// between its barriers and a row of 1000 gives each work-item 63 columns to vectorize.
    private func rowGroupSize(_ kernel: String, cols: Int) throws -> Int {
        let cap = min(info.kind == .gpu ? 256 : 16, try kernelGroupLimit(kernel))
        var local = 1
        while local * 2 <= min(cap, cols) { local *= 2 }
        return local
    }

    /// The work-group size of a tree-sum kernel over `count` values: a power of two, 256 at most
    /// (a deeper tree buys little), no more than `count` needs, and within the device's limit
    /// for the kernel.
    private func treeSumGroupSize(_ kernel: String, count: Int) throws -> Int {
        let kernelLimit = try kernelGroupLimit(kernel)
        var local = 1
        while local * 2 <= min(256, kernelLimit, count.nextPowerOfTwoCeiling) { local *= 2 }
        return local
    }

    /// CL_KERNEL_WORK_GROUP_SIZE of a loss.cl kernel on this device.
    private func kernelGroupLimit(_ kernel: String) throws -> Int {
        try programs.withKernel("loss", kernel) { k in
            var size = 0
            try clCheck(clGetKernelWorkGroupInfo(k, device.deviceID, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE),
                                                 MemoryLayout<Int>.size, &size, nil),
                        "clGetKernelWorkGroupInfo(\(kernel))")
            return size
        }
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
