/// What a user needs to know to choose a device.
public struct DeviceInfo: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case cpu, gpu, accelerator, other }

    /// "OpenCL" or "CPU".
    public var backend: String
    public var name: String
    public var vendor: String
    public var kind: Kind
    public var computeUnits: Int
    /// Maximum clock in MHz (0 when unknown).
    public var clockMHz: Int
    public var globalMemoryBytes: Int
    /// The largest single buffer the device accepts.
    public var maxBufferBytes: Int
    /// The largest element index (offset + count) a kernel can address in one buffer:
    /// Int32.max on OpenCL (kernels index with 32-bit `int`), Int.max on the CPU backend.
    public var maxIndexableElements: Int
    public var platform: String
    public var driverVersion: String
    /// Theoretical FP32 peak when it can be derived; nil otherwise.
    public var peakGFLOPS: Double?
    /// Floats in the device's native vector (OpenCL's CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: 16 on
    /// PoCL with AVX-512, 8 with AVX2, often 1 on GPUs); 0 when unknown. CPU devices size their
    /// kernels' register tiles by it (KernelTunables.swift).
    public var nativeFloatVectorWidth: Int = 0

    public var description: String {
        "\(name) (\(backend), \(vendor), \(kind.rawValue), \(computeUnits) compute units)"
    }
}

/// The op-level interface every device implements, in the spirit of cuDNN: memory, then the
/// ops of a CNN, forward and backward. Everything above it (graph, planner, training) is
/// device-agnostic.
///
/// Conventions:
/// - Tensors are NCHW Float32; labels and pooling indices are Int32 buffers.
/// - Ops are asynchronous: they are queued on the device in call order, and only
///   `download` and `synchronize` wait. Outputs are overwritten unless a parameter says
///   otherwise (`axpy` and optimizer updates work in place).
/// - Buffers may be larger than an op needs (the planner reuses them); too small, of the wrong
///   element type, or from another backend is a `CNNError.invalidBuffer`.
///
/// ```swift
/// let backend = try CPUBackend()
/// let x = try backend.allocate(6, dtype: .float32)
/// try backend.upload([1, -2, 3, -4, 5, -6], to: x)
/// try backend.activationForward(.relu, count: 6, x: x, y: x)
/// print(try backend.download(x))   // [1, 0, 3, 0, 5, 0]
/// ```
///
/// Every op requirement is an `encodeXxx` method: its arguments were already checked by the
/// shared validation (`checks`, Backends/OpValidation*.swift) and it only queues the work, so a
/// backend holds no argument checks. The public ops (`poolingForward`, …, in
/// Backend+CheckedOps.swift) check, then encode; a compiled plan checks once and encodes per step.
public protocol Backend: BackendMemory, GEMMOps, ConvolutionOps, BiasOps, PoolingOps, ActivationOps,
    NormalizationOps, ElementwiseOps, LossOps, OptimizerOps {}

/// Memory and synchronization: the part of a backend every op family builds on. Each `encode*`
/// requirement: arguments already checked by the shared validation; queues the op (uploads and
/// downloads block).
public protocol BackendMemory: AnyObject {
    var info: DeviceInfo { get }

    func allocate(_ count: Int, dtype: DType) throws -> any DeviceBuffer
    func encodeUpload(_ values: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, elementOffset: Int) throws
    func encodeDownload(_ buffer: any DeviceBuffer, elementOffset: Int, into values: UnsafeMutableRawBufferPointer) throws
    /// Copies `rows` runs of `rowLength` elements; run `r` starts at `srcOffset + r·srcStride`
    /// in `src` and `dstOffset + r·dstStride` in `dst`. A plain copy is one row; channel
    /// concatenation and split are strided copies.
    func encodeCopyStrided(rows: Int, rowLength: Int, src: any DeviceBuffer, srcOffset: Int, srcStride: Int,
                           dst: any DeviceBuffer, dstOffset: Int, dstStride: Int) throws
    func encodeFill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws
    /// A buffer that aliases `count` elements of `buffer` from `offset`, usable wherever a buffer
    /// is: one flat allocation can hold every parameter (one optimizer launch, one allreduce)
    /// while each layer sees its own. `offset` must be a multiple of `viewAlignment`.
    func encodeView(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer
    /// Element alignment required of view offsets on this device.
    var viewAlignment: Int { get }
    /// Waits until every queued op has finished.
    func synchronize() throws

}

/// GEMM (row-major): C = alpha · op(A) · op(B) + beta · C, op(A) is m×k, op(B) is k×n.
/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol GEMMOps: BackendMemory {

    func encodeGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                    a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws
    /// `batchCount` independent GEMMs; matrix `i` of each operand starts `i·stride` after its offset.
    func encodeGEMMStridedBatched(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                  a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef, batchCount: Int) throws

}

/// 2-D convolution, weights OIHW. Transposed convolution is built on these (see Backend+Conveniences).
///
/// Each direction may have several algorithms ("solutions"); the choice is made once, by the
/// caller (a compiled plan, or the eager API taking the first), not per call. A solution that
/// needs scratch memory gets it as a caller-provided Float32 `workspace` of at least
/// `convolutionWorkspaceCount` elements.
public protocol ConvolutionOps: BackendMemory {
    /// The solutions that apply to `d` in `direction` on this device, the heuristic's best first.
    func convolutionSolutions(for d: Conv2DDescriptor, direction: ConvolutionDirection) -> [ConvolutionSolution]
    /// Float32 elements of workspace `solution` needs (0 for none).
    func convolutionWorkspaceCount(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                   solution: ConvolutionSolution) -> Int
    /// Whether fully connected layers run here as 1×1 convolutions on 1×1 images (tuned among
    /// the convolution solvers) instead of as GEMMs. Default: no.
    var runsDenseLayersAsConvolutions: Bool { get }

    /// y = activation(conv(x, w) + bias), the bias and activation applied where the
    /// convolution writes its output. Arguments already checked by the shared validation
    /// (`checks.convolutionForward`, `checkConvolutionSolution`); queues the op.
    func encodeConvolutionForward(_ d: Conv2DDescriptor, x: any DeviceBuffer, weight: any DeviceBuffer,
                                  bias: (any DeviceBuffer)?, activation: Activation?, y: any DeviceBuffer,
                                  solution: ConvolutionSolution, workspace: (any DeviceBuffer)?) throws
    /// dx = conv_backward_data(dy, w). Arguments already checked by the shared validation; queues the op.
    func encodeConvolutionBackwardData(_ d: Conv2DDescriptor, dy: any DeviceBuffer, weight: any DeviceBuffer,
                                       dx: any DeviceBuffer, solution: ConvolutionSolution,
                                       workspace: (any DeviceBuffer)?) throws
    /// dw = conv_backward_filter(x, dy). Arguments already checked by the shared validation; queues the op.
    func encodeConvolutionBackwardFilter(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                         dw: any DeviceBuffer, solution: ConvolutionSolution,
                                         workspace: (any DeviceBuffer)?) throws
}

/// Per-channel bias and its gradient, for convolution and dense layers.
/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol BiasOps: BackendMemory {
    /// y[o, a, i] += bias[a], in place.
    func encodeAddBias(_ shape: AxisShape, bias: any DeviceBuffer, y: any DeviceBuffer) throws
    /// out[a] = Σ over outer and inner of x[o, a, i] (bias gradients).
    func encodeReduceSum(_ shape: AxisShape, x: any DeviceBuffer, out: any DeviceBuffer) throws
}

/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol PoolingOps: BackendMemory {

    /// Max pooling writes the flat input index (within its N·C plane) of each maximum into
    /// `indices` (Int32, one per output) when given; the backward pass needs it.
    func encodePoolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                              indices: (any DeviceBuffer)?) throws
    func encodePoolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                               dx: any DeviceBuffer) throws
    /// y[n, c] = mean over the `spatial` pixels of x[n, c].
    func encodeGlobalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws
    func encodeGlobalAveragePoolBackward(planes: Int, spatial: Int, dy: any DeviceBuffer, dx: any DeviceBuffer) throws
    /// PyTorch's adaptive average pooling of `planes` inH×inW planes to outH×outW: output
    /// (i, j) is the mean of input rows ⌊i·inH/outH⌋ ..< ⌈(i+1)·inH/outH⌉ and columns
    /// ⌊j·inW/outW⌋ ..< ⌈(j+1)·inW/outW⌉. Windows may overlap and differ in size, and an output
    /// larger than the input is allowed (each window then holds one or more input pixels).
    func encodeAdaptiveAveragePoolForward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                          x: any DeviceBuffer, y: any DeviceBuffer) throws
    /// dx[i] = Σ dy[o] / (size of o's window) over the outputs o whose window covers input i.
    func encodeAdaptiveAveragePoolBackward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                           dy: any DeviceBuffer, dx: any DeviceBuffer) throws

}

/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol ActivationOps: BackendMemory {

    func encodeActivationForward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws
    /// Needs the forward input `x` and output `y` (each function reads the one it needs).
    func encodeActivationBackward(_ f: Activation, count: Int, x: any DeviceBuffer, y: any DeviceBuffer,
                                  dy: any DeviceBuffer, dx: any DeviceBuffer) throws
    /// Softmax (or log-softmax) along `shape.axis`.
    func encodeSoftmaxForward(_ shape: AxisShape, log: Bool, x: any DeviceBuffer, y: any DeviceBuffer) throws
    func encodeSoftmaxBackward(_ shape: AxisShape, log: Bool, y: any DeviceBuffer, dy: any DeviceBuffer,
                               dx: any DeviceBuffer) throws
    /// Maxout over groups of `groupSize` consecutive channels: `[N, C, S] → [N, C/groupSize, S]`.
    func encodeMaxoutForward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                             x: any DeviceBuffer, y: any DeviceBuffer) throws
    func encodeMaxoutBackward(batch: Int, channels: Int, groupSize: Int, spatial: Int,
                              x: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer) throws

}

/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol NormalizationOps: BackendMemory {

    /// Batch statistics over N and the spatial axes of `shape` (outer = N, axis = C,
    /// inner = H·W). Updates the running statistics with `momentum` (PyTorch's convention:
    /// running = (1 - momentum)·running + momentum·batch, unbiased variance) and saves the
    /// batch mean and 1/sqrt(var + epsilon) for the backward pass.
    /// With `relu`, y = max(0, batch-normalized x), applied at the store.
    func encodeBatchNormForwardTraining(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                        beta: any DeviceBuffer, y: any DeviceBuffer,
                                        runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                        momentum: Float, epsilon: Float,
                                        savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                        relu: Bool) throws
    func encodeBatchNormForwardInference(_ shape: AxisShape, x: any DeviceBuffer, gamma: any DeviceBuffer,
                                         beta: any DeviceBuffer, runningMean: any DeviceBuffer,
                                         runningVar: any DeviceBuffer, epsilon: Float, y: any DeviceBuffer,
                                         relu: Bool) throws
    func encodeBatchNormBackward(_ shape: AxisShape, x: any DeviceBuffer, dy: any DeviceBuffer,
                                 gamma: any DeviceBuffer, savedMean: any DeviceBuffer,
                                 savedInvStd: any DeviceBuffer, dx: any DeviceBuffer,
                                 dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws
    /// The backward pass of batch norm + ReLU: batch-norm backward of `dy` masked by `y > 0`,
    /// `y` being the fused forward's output with these arguments. `dy` is read, never modified.
    /// Given the forward's `beta`, a backend may recompute the mask from x instead of reading
    /// `y`: it must then get y > 0 exactly where its own training forward did, from `savedMean`,
    /// `savedInvStd`, `gamma` and `beta` (the OpenCL backend does, and moves 5 floats per element
    /// instead of 7; the CPU backend reads `y` either way).
    func encodeBatchNormReLUBackward(_ shape: AxisShape, x: any DeviceBuffer, y: any DeviceBuffer,
                                     dy: any DeviceBuffer, gamma: any DeviceBuffer, beta: (any DeviceBuffer)?,
                                     savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer,
                                     dx: any DeviceBuffer, dGamma: any DeviceBuffer, dBeta: any DeviceBuffer) throws
    /// Cross-channel LRN on `[N, C, S]`; `scale` (same size as x) keeps
    /// `k + alpha/size · Σ x²` for the backward pass.
    func encodeLRNForward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                          x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer) throws
    func encodeLRNBackward(_ p: LRNParameters, batch: Int, channels: Int, spatial: Int,
                           x: any DeviceBuffer, y: any DeviceBuffer, scale: any DeviceBuffer,
                           dy: any DeviceBuffer, dx: any DeviceBuffer) throws

}

/// Dropout, element-wise arithmetic and reductions.
/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol ElementwiseOps: BackendMemory {

    /// Writes `mask` (0 or 1/(1-p)) from a counter-based generator: the same `seed` gives the
    /// same mask on every backend. y = x · mask. The backward pass is `multiply(dy, mask)`.
    func encodeDropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                              y: any DeviceBuffer, mask: any DeviceBuffer) throws

    /// out = activation(a + b) (residual add + ReLU); `out` may alias `a` or `b`.
    func encodeAdd(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer,
                   activation: Activation?) throws
    /// out = a ⊙ b.
    func encodeMultiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws
    /// out = alpha · x.
    func encodeScale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws
    /// y += alpha · x.
    func encodeAxpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws

}

/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol LossOps: BackendMemory {

    /// Mean softmax cross-entropy of `logits` `[rows, cols]` against Int32 `labels`; writes the
    /// mean into `loss[0]` and d(loss)/d(logits) into `gradient`. A label outside `0..<cols`
    /// makes the loss NaN (the trainer's NaN check names it), since the device cannot throw.
    /// `labelSmoothing` ε in [0, 1) is PyTorch's `CrossEntropyLoss(label_smoothing=ε)`: the
    /// target is (1 - ε)·onehot + ε/cols, so row loss = lse - (1 - ε)·x[label] - ε·mean(x) and
    /// gradient = softmax - (1 - ε)·onehot - ε/cols, over rows.
    func encodeSoftmaxCrossEntropy(rows: Int, cols: Int, labelSmoothing: Float, logits: any DeviceBuffer,
                                   labels: any DeviceBuffer, loss: any DeviceBuffer, gradient: any DeviceBuffer) throws
    /// loss[0] = mean((prediction - target)²); gradient = 2·(prediction - target)/count.
    func encodeMeanSquaredError(count: Int, prediction: any DeviceBuffer, target: any DeviceBuffer,
                                loss: any DeviceBuffer, gradient: any DeviceBuffer) throws
    /// out[0] = number of rows whose label is among the `k` largest scores (a label tied with
    /// the k-th score counts as correct), as a Float.
    func encodeTopKCorrect(rows: Int, cols: Int, k: Int, scores: any DeviceBuffer, labels: any DeviceBuffer,
                           out: any DeviceBuffer) throws
    /// Int32 index of each row's largest score (the first one on ties).
    func encodeArgmax(rows: Int, cols: Int, x: any DeviceBuffer, out: any DeviceBuffer) throws

}

/// Optimizer updates, in place.
/// Each `encode*` requirement: arguments already checked by the shared validation; queues the op.
public protocol OptimizerOps: BackendMemory {

    func encodeSGDUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                         velocity: (any DeviceBuffer)?) throws
    func encodeAdamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                          m: any DeviceBuffer, v: any DeviceBuffer) throws
    /// `square` holds the running mean of squared gradients; `momentum` the momentum buffer,
    /// nil exactly when `p.momentum` is 0. Both start zero-filled.
    func encodeRMSpropUpdate(_ p: RMSpropParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                             square: any DeviceBuffer, momentum: (any DeviceBuffer)?) throws
}
