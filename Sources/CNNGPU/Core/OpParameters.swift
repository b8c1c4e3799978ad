/// Element-wise activation functions with their parameters.
public enum Activation: Hashable, Sendable {
    case relu
    case leakyReLU(alpha: Float)
    case elu(alpha: Float)
    case sigmoid
    case tanh
}

/// A tensor seen as `[outer, axis, inner]` around one axis: softmax runs along `axis`; a
/// reduction sums over `outer` and `inner` and keeps `axis` (NCHW bias gradient: outer = N,
/// axis = C, inner = H·W; dense bias gradient: outer = N, axis = features, inner = 1).
public struct AxisShape: Hashable, Sendable {
    public var outer: Int, axis: Int, inner: Int
    public init(outer: Int, axis: Int, inner: Int) {
        self.outer = outer; self.axis = axis; self.inner = inner
    }
    public var count: Int { outer * axis * inner }

    func validate(_ op: String) throws {
        guard outer > 0, axis > 0, inner > 0 else {
            throw CNNError.invalidShape(op: op, detail: "sizes must be positive, got [\(outer), \(axis), \(inner)]")
        }
    }
}

/// Local response normalization across channels, as in AlexNet and PyTorch's
/// `LocalResponseNorm`: `y_c = x_c / (k + alpha/size · Σ x_j²)^beta` over the channels
/// `j ∈ [c - size/2, c + (size-1)/2]`.
public struct LRNParameters: Hashable, Sendable {
    public var size: Int, alpha: Float, beta: Float, k: Float
    public init(size: Int = 5, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 2) {
        self.size = size; self.alpha = alpha; self.beta = beta; self.k = k
    }
}

/// Stochastic gradient descent with PyTorch's semantics: `g' = g + wd·w`;
/// `v = momentum·v + (1 - dampening)·g'`; `w -= lr · (nesterov ? g' + momentum·v : v)`.
public struct SGDParameters: Hashable, Sendable {
    public var learningRate: Float, momentum: Float, dampening: Float, weightDecay: Float
    public var nesterov: Bool
    public init(learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
    }
}

/// Adam (and AdamW when `decoupledWeightDecay`), with bias correction for step `step` (1-based).
public struct AdamParameters: Hashable, Sendable {
    public var learningRate: Float, beta1: Float, beta2: Float, epsilon: Float
    public var weightDecay: Float, decoupledWeightDecay: Bool
    public var step: Int
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false,
                step: Int) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2
        self.epsilon = epsilon; self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay; self.step = step
    }
}

/// RMSprop with PyTorch's semantics (not centered): `g' = g + wd·w`; `s = alpha·s + (1 - alpha)·g'²`;
/// with momentum `b = momentum·b + g'/(sqrt(s) + eps)` and `w -= lr·b`, else `w -= lr·g'/(sqrt(s) + eps)`.
/// PyTorch's defaults: alpha 0.99, eps 1e-8, momentum 0.
public struct RMSpropParameters: Hashable, Sendable {
    public var learningRate: Float, alpha: Float, epsilon: Float, momentum: Float, weightDecay: Float
    public init(learningRate: Float = 1e-2, alpha: Float = 0.99, epsilon: Float = 1e-8, momentum: Float = 0,
                weightDecay: Float = 0) {
        self.learningRate = learningRate; self.alpha = alpha; self.epsilon = epsilon; self.momentum = momentum
        self.weightDecay = weightDecay
    }
}

/// A row-major matrix inside a buffer: element (i, j) is at `offset + i·ld + j`; `stride` is
/// the distance between consecutive matrices of a batched GEMM.
public struct MatrixRef {
    public var buffer: any DeviceBuffer
    public var offset: Int, ld: Int, stride: Int
    public init(_ buffer: any DeviceBuffer, offset: Int = 0, ld: Int, stride: Int = 0) {
        self.buffer = buffer; self.offset = offset; self.ld = ld; self.stride = stride
    }
}
