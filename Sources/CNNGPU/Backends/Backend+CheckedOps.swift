/// The public op API: each op runs the shared argument checks (`checks`, OpValidation*.swift),
/// then the backend's `encode*` requirement. A compiled plan runs the checks once and calls
/// `encode*` directly on every step.

extension BackendMemory {
    public func upload(_ values: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, elementOffset: Int) throws {
        try checks.upload(values, to: buffer, elementOffset: elementOffset)
        try encodeUpload(values, to: buffer, elementOffset: elementOffset)
    }

    public func download(_ buffer: any DeviceBuffer, elementOffset: Int, into values: UnsafeMutableRawBufferPointer) throws {
        try checks.download(buffer, elementOffset: elementOffset, into: values)
        try encodeDownload(buffer, elementOffset: elementOffset, into: values)
    }

    /// Copies `rows` runs of `rowLength` elements; run `r` starts at `srcOffset + r·srcStride`
    /// in `src` and `dstOffset + r·dstStride` in `dst`. A plain copy is one row; channel
    /// concatenation and split are strided copies.
    public func copyStrided(rows: Int, rowLength: Int, src: any DeviceBuffer, srcOffset: Int, srcStride: Int,
                            dst: any DeviceBuffer, dstOffset: Int, dstStride: Int) throws {
        try checks.copyStrided(rows: rows, rowLength: rowLength, src: src, srcOffset: srcOffset, srcStride: srcStride,
                               dst: dst, dstOffset: dstOffset, dstStride: dstStride)
        try encodeCopyStrided(rows: rows, rowLength: rowLength, src: src, srcOffset: srcOffset, srcStride: srcStride,
                              dst: dst, dstOffset: dstOffset, dstStride: dstStride)
    }

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        try checks.fill(buffer, value: value, offset: offset, count: count)
        try encodeFill(buffer, value: value, offset: offset, count: count)
    }

    /// A buffer that aliases `count` elements of `buffer` from `offset`, usable wherever a buffer
    /// is: one flat allocation can hold every parameter (one optimizer launch, one allreduce)
    /// while each layer sees its own. `offset` must be a multiple of `viewAlignment`.
    public func view(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer {
        try checks.view(of: buffer, offset: offset, count: count)
        return try encodeView(of: buffer, offset: offset, count: count)
    }
}

extension GEMMOps {
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws {
        try checks.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c)
        try encodeGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c)
    }

    /// `batchCount` independent GEMMs; matrix `i` of each operand starts `i·stride` after its offset.
    public func gemmStridedBatched(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                   a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef, batchCount: Int) throws {
        try checks.gemmStridedBatched(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b,
                                      beta: beta, c: c, batchCount: batchCount)
        try encodeGEMMStridedBatched(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b,
                                     beta: beta, c: c, batchCount: batchCount)
    }
}

extension BiasOps {
    /// y[o, a, i] += bias[a], in place.
    public func addBias(_ shape: AxisShape, bias: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.addBias(shape, bias: bias, y: y)
        try encodeAddBias(shape, bias: bias, y: y)
    }

    /// out[a] = Σ over outer and inner of x[o, a, i] (bias gradients).
    public func reduceSum(_ shape: AxisShape, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try checks.reduceSum(shape, x: x, out: out)
        try encodeReduceSum(shape, x: x, out: out)
    }
}

extension PoolingOps {
    /// Max pooling writes the flat input index (within its N·C plane) of each maximum into
    /// `indices` (Int32, one per output) when given; the backward pass needs it.
    public func poolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                               indices: (any DeviceBuffer)?) throws {
        try checks.poolingForward(d, x: x, y: y, indices: indices)
        try encodePoolingForward(d, x: x, y: y, indices: indices)
    }

    public func poolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                                dx: any DeviceBuffer) throws {
        try checks.poolingBackward(d, dy: dy, indices: indices, dx: dx)
        try encodePoolingBackward(d, dy: dy, indices: indices, dx: dx)
    }

    /// y[n, c] = mean over the `spatial` pixels of x[n, c].
    public func globalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.globalAveragePoolForward(planes: planes, spatial: spatial, x: x, y: y)
        try encodeGlobalAveragePoolForward(planes: planes, spatial: spatial, x: x, y: y)
    }

    public func globalAveragePoolBackward(planes: Int, spatial: Int, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try checks.globalAveragePoolBackward(planes: planes, spatial: spatial, dy: dy, dx: dx)
        try encodeGlobalAveragePoolBackward(planes: planes, spatial: spatial, dy: dy, dx: dx)
    }

    /// PyTorch's adaptive average pooling (see `encodeAdaptiveAveragePoolForward`).
    public func adaptiveAveragePoolForward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                           x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.adaptiveAveragePoolForward(planes: planes, inH: inH, inW: inW, outH: outH, outW: outW, x: x, y: y)
        try encodeAdaptiveAveragePoolForward(planes: planes, inH: inH, inW: inW, outH: outH, outW: outW, x: x, y: y)
    }

    public func adaptiveAveragePoolBackward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                            dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try checks.adaptiveAveragePoolBackward(planes: planes, inH: inH, inW: inW, outH: outH, outW: outW, dy: dy, dx: dx)
        try encodeAdaptiveAveragePoolBackward(planes: planes, inH: inH, inW: inW, outH: outH, outW: outW, dy: dy, dx: dx)
    }
}

extension ActivationOps {
    public func activationForward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.activationForward(f, count: count, x: x, y: y)
        try encodeActivationForward(f, count: count, x: x, y: y)
    }

    /// Needs the forward input `x` and output `y` (each function reads the one it needs).
    public func activationBackward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                                   dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try checks.activationBackward(f, count: count, x: x, y: y, dy: dy, dx: dx)
        try encodeActivationBackward(f, count: count, x: x, y: y, dy: dy, dx: dx)
    }

    /// Softmax (or log-softmax) along `shape.axis`.
    public func softmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.softmaxForward(shape, log: log, x: x, y: y)
        try encodeSoftmaxForward(shape, log: log, x: x, y: y)
    }

    public func softmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                                dx: any DeviceBuffer) throws {
        try checks.softmaxBackward(shape, log: log, y: y, dy: dy, dx: dx)
        try encodeSoftmaxBackward(shape, log: log, y: y, dy: dy, dx: dx)
    }

    /// Maxout over groups of `groupSize` consecutive channels: `[N, C, S] → [N, C/groupSize, S]`.
    public func maxoutForward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                              x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.maxoutForward(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial, x: x, y: y)
        try encodeMaxoutForward(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial, x: x, y: y)
    }

    public func maxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                               x: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try checks.maxoutBackward(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial,
                                  x: x, dy: dy, dx: dx)
        try encodeMaxoutBackward(batch: batch, channels: channels, groupSize: groupSize, spatial: spatial,
                                 x: x, dy: dy, dx: dx)
    }
}

extension NormalizationOps {
    /// Batch statistics over N and the spatial axes of `shape` (outer = N, axis = C,
    /// inner = H·W). Updates the running statistics with `momentum` (PyTorch's convention:
    /// running = (1 - momentum)·running + momentum·batch, unbiased variance) and saves the
    /// batch mean and 1/sqrt(var + epsilon) for the backward pass. With `relu`, y is
    /// max(0, normalized x) (batch norm + ReLU fused; its backward is `batchNormReLUBackward`).
    public func batchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                         beta: any DeviceBuffer, y: any DeviceBuffer,
                                         runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                         momentum: Float, epsilon: Float,
                                         savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                         relu: Bool = false) throws {
        try checks.batchNormForwardTraining(shape, x: x, gamma: gamma, beta: beta, y: y, runningMean: runningMean,
                                            runningVar: runningVar, momentum: momentum, epsilon: epsilon,
                                            savedMean: savedMean, savedInvStd: savedInvStd)
        try encodeBatchNormForwardTraining(shape, x: x, gamma: gamma, beta: beta, y: y, runningMean: runningMean,
                                           runningVar: runningVar, momentum: momentum, epsilon: epsilon,
                                           savedMean: savedMean, savedInvStd: savedInvStd, relu: relu)
    }

    /// With `relu`, y is max(0, normalized x).
    public func batchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                          beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                          runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer,
                                          relu: Bool = false) throws {
        try checks.batchNormForwardInference(shape, x: x, gamma: gamma, beta: beta, runningMean: runningMean,
                                             runningVar: runningVar, epsilon: epsilon, y: y)
        try encodeBatchNormForwardInference(shape, x: x, gamma: gamma, beta: beta, runningMean: runningMean,
                                            runningVar: runningVar, epsilon: epsilon, y: y, relu: relu)
    }

    public func batchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                  gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                  savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                  dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws {
        try checks.batchNormBackward(shape, x: x, dy: dy, gamma: gamma, savedMean: savedMean,
                                     savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
        try encodeBatchNormBackward(shape, x: x, dy: dy, gamma: gamma, savedMean: savedMean,
                                    savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
    }

    /// The backward pass of `batchNormForwardTraining(..., relu: true)`: `y` is its output,
    /// and `dy` (the gradient of y) is masked by y > 0 on the fly, never modified. Given the
    /// forward's `beta` as well, a backend may recompute the mask from x rather than read `y`
    /// (same result; `y` must then be that forward's output with these `gamma` and `beta`).
    ///
    ///     try backend.batchNormReLUBackward(shape, x: x, y: y, dy: dy, gamma: gamma, beta: beta,
    ///                                       savedMean: mean, savedInvStd: invStd, dx: dx,
    ///                                       dGamma: dGamma, dBeta: dBeta)
    public func batchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                                      dy: any DeviceBuffer, gamma: any DeviceBuffer, beta: (any DeviceBuffer)? = nil,
                                      savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                      dx: any DeviceBuffer, dGamma: any DeviceBuffer,
                                      dBeta: any DeviceBuffer) throws {
        try checks.batchNormReLUBackward(shape, x: x, y: y, dy: dy, gamma: gamma, beta: beta, savedMean: savedMean,
                                         savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
        try encodeBatchNormReLUBackward(shape, x: x, y: y, dy: dy, gamma: gamma, beta: beta, savedMean: savedMean,
                                        savedInvStd: savedInvStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
    }

    /// Cross-channel LRN on `[N, C, S]`; `scale` (same size as x) keeps
    /// `k + alpha/size · Σ x²` for the backward pass.
    public func lrnForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                           x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer) throws {
        try checks.lrnForward(p, batch: batch, channels: channels, spatial: spatial, x: x, y: y, scale: scale)
        try encodeLRNForward(p, batch: batch, channels: channels, spatial: spatial, x: x, y: y, scale: scale)
    }

    public func lrnBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                            x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer,
                            dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        try checks.lrnBackward(p, batch: batch, channels: channels, spatial: spatial, x: x, y: y, scale: scale,
                               dy: dy, dx: dx)
        try encodeLRNBackward(p, batch: batch, channels: channels, spatial: spatial, x: x, y: y, scale: scale,
                              dy: dy, dx: dx)
    }
}

extension ElementwiseOps {
    /// Writes `mask` (0 or 1/(1-p)) from a counter-based generator: the same `seed` gives the
    /// same mask on every backend. y = x · mask. The backward pass is `multiply(dy, mask)`.
    public func dropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                               y: any DeviceBuffer, mask: any DeviceBuffer) throws {
        try checks.dropoutForward(count: count, probability: probability, seed: seed, x: x, y: y, mask: mask)
        try encodeDropoutForward(count: count, probability: probability, seed: seed, x: x, y: y, mask: mask)
    }

    /// out = a + b.
    public func add(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try add(count: count, a: a, b: b, out: out, activation: nil)
    }

    /// out = activation(a + b): a residual connection and its ReLU in one pass. `out` may alias
    /// `a` or `b`. The backward pass is `activationBackward` from `out`, then the gradient goes
    /// to both inputs unchanged.
    public func add(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer,
                    activation: Activation?) throws {
        try checks.add(count: count, a: a, b: b, out: out, activation: activation)
        try encodeAdd(count: count, a: a, b: b, out: out, activation: activation)
    }

    /// out = a ⊙ b.
    public func multiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try checks.multiply(count: count, a: a, b: b, out: out)
        try encodeMultiply(count: count, a: a, b: b, out: out)
    }

    /// out = alpha · x.
    public func scale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try checks.scale(count: count, alpha: alpha, x: x, out: out)
        try encodeScale(count: count, alpha: alpha, x: x, out: out)
    }

    /// y += alpha · x.
    public func axpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try checks.axpy(count: count, alpha: alpha, x: x, y: y)
        try encodeAxpy(count: count, alpha: alpha, x: x, y: y)
    }
}

extension LossOps {
    /// Mean softmax cross-entropy of `logits` `[rows, cols]` against Int32 `labels`; writes the
    /// mean into `loss[0]` and d(loss)/d(logits) into `gradient`. A label outside `0..<cols`
    /// makes the loss NaN (the trainer's NaN check names it), since the device cannot throw.
    /// `labelSmoothing` ε in [0, 1) mixes ε/cols of every class into the target (PyTorch's
    /// `label_smoothing`).
    public func softmaxCrossEntropy(rows: Int, cols: Int, labelSmoothing: Float = 0, logits: any DeviceBuffer,
                                    labels: any DeviceBuffer, loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        try checks.softmaxCrossEntropy(rows: rows, cols: cols, labelSmoothing: labelSmoothing, logits: logits, labels: labels,
                                       loss: loss, gradient: gradient)
        try encodeSoftmaxCrossEntropy(rows: rows, cols: cols, labelSmoothing: labelSmoothing, logits: logits, labels: labels,
                                      loss: loss, gradient: gradient)
    }

    /// loss[0] = mean((prediction - target)²); gradient = 2·(prediction - target)/count.
    public func meanSquaredError(count: Int, prediction: any DeviceBuffer, target: any DeviceBuffer,
                                 loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        try checks.meanSquaredError(count: count, prediction: prediction, target: target, loss: loss, gradient: gradient)
        try encodeMeanSquaredError(count: count, prediction: prediction, target: target, loss: loss, gradient: gradient)
    }

    /// out[0] = number of rows whose label is among the `k` largest scores (a label tied with
    /// the k-th score counts as correct), as a Float.
    public func topKCorrect(rows: Int, cols: Int, k: Int, scores: any DeviceBuffer, labels: any DeviceBuffer,
                            out: any DeviceBuffer) throws {
        try checks.topKCorrect(rows: rows, cols: cols, k: k, scores: scores, labels: labels, out: out)
        try encodeTopKCorrect(rows: rows, cols: cols, k: k, scores: scores, labels: labels, out: out)
    }

    /// Int32 index of each row's largest score (the first one on ties).
    public func argmax(rows: Int, cols: Int, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try checks.argmax(rows: rows, cols: cols, x: x, out: out)
        try encodeArgmax(rows: rows, cols: cols, x: x, out: out)
    }
}

extension OptimizerOps {
    public func sgdUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                          velocity: (any DeviceBuffer)?) throws {
        try checks.sgdUpdate(p, count: count, weights: weights, gradients: gradients, velocity: velocity)
        try encodeSGDUpdate(p, count: count, weights: weights, gradients: gradients, velocity: velocity)
    }

    public func adamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                           m: any DeviceBuffer, v: any DeviceBuffer) throws {
        try checks.adamUpdate(p, count: count, weights: weights, gradients: gradients, m: m, v: v)
        try encodeAdamUpdate(p, count: count, weights: weights, gradients: gradients, m: m, v: v)
    }

    /// RMSprop as PyTorch's `torch.optim.RMSprop` (see `RMSpropParameters`); `square` and
    /// `momentum` (required when `p.momentum` > 0) start zero-filled.
    public func rmspropUpdate(_ p: RMSpropParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                              square: any DeviceBuffer, momentum: (any DeviceBuffer)?) throws {
        try checks.rmspropUpdate(p, count: count, weights: weights, gradients: gradients, square: square, momentum: momentum)
        try encodeRMSpropUpdate(p, count: count, weights: weights, gradients: gradients, square: square,
                                momentum: p.momentum > 0 ? momentum : nil)
    }
}
