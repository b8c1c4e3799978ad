/// A parameter a layer owns: its PyTorch-style name ("weight", "bias", "running_mean"), shape,
/// how it starts, and whether the optimizer updates it.
public struct ParameterSpec: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var initializer: Initializer
    public var trainable: Bool
    /// The shape whose fan-in and fan-out the initializer uses: the parameter's own, or for a
    /// bias its layer's weight, as PyTorch's default bias initialization takes the weight's fan-in.
    public var fanShape: [Int]

    public init(_ name: String, _ shape: [Int], _ initializer: Initializer, trainable: Bool = true,
                fanShape: [Int]? = nil) {
        self.name = name; self.shape = shape; self.initializer = initializer; self.trainable = trainable
        self.fanShape = fanShape ?? shape
    }

    public var count: Int { shape.reduce(1, *) }
}

/// A buffer a layer saves in its forward pass for its backward pass (pooling indices, batch
/// statistics, dropout masks), sized for the whole batch.
public struct StateSpec: Equatable, Sendable {
    public var name: String
    public var count: Int
    public var dtype: DType

    public init(_ name: String, count: Int, dtype: DType = .float32) {
        self.name = name; self.count = count; self.dtype = dtype
    }
}

/// What a layer's backward pass reads from its forward pass, so the planner knows how long to
/// keep each activation alive.
public struct BackwardReads: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let input = BackwardReads(rawValue: 1)
    public static let output = BackwardReads(rawValue: 2)
}

/// The buffers of one layer invocation, laid out by the planner.
public struct LayerContext {
    public let backend: any Backend
    public let batch: Int
    public let inputShapes: [TensorShape]
    public let outputShape: TensorShape
    public let inputs: [any DeviceBuffer]
    public let output: any DeviceBuffer
    /// In the order of `parameters(for:)`.
    public let parameters: [any DeviceBuffer]
    /// In the order of `state(for:batch:)`.
    public let state: [any DeviceBuffer]
    public let training: Bool
    /// A fresh seed for each step (dropout masks), derived from the run's seed.
    public internal(set) var seed: UInt64
    /// The node's name and index in the graph (compiled ops carry them).
    public let name: String
    public let node: Int
    /// The activation the plan fused into this layer's output write (see `epilogueFusion`).
    public let epilogue: Activation?
    /// Planned scratch memory for this pass of the layer (`workspaceCount`), or nil.
    public let workspace: (any DeviceBuffer)?
    /// Max pooling only: the plan dropped the backward op of the ReLU before this pool, whose
    /// mask the pool applies (`Pool2DDescriptor.masksNonPositiveWinners`).
    public internal(set) var foldsReLUBackward = false

    init(backend: any Backend, batch: Int, inputShapes: [TensorShape], outputShape: TensorShape,
         inputs: [any DeviceBuffer], output: any DeviceBuffer, parameters: [any DeviceBuffer], state: [any DeviceBuffer],
         training: Bool, seed: UInt64, name: String = "layer", node: Int = -1, epilogue: Activation? = nil,
         workspace: (any DeviceBuffer)? = nil) {
        self.backend = backend; self.batch = batch; self.inputShapes = inputShapes; self.outputShape = outputShape
        self.inputs = inputs; self.output = output; self.parameters = parameters; self.state = state
        self.training = training; self.seed = seed; self.name = name; self.node = node; self.epilogue = epilogue
        self.workspace = workspace
    }

    func with(seed: UInt64) -> LayerContext {
        var c = self
        c.seed = seed
        return c
    }

    public var inputCount: Int { batch * inputShapes[0].count }
    public var outputCount: Int { batch * outputShape.count }
}

/// The gradient buffers of one backward invocation. A nil input gradient means nothing upstream
/// needs it (the model's input); a nil parameter gradient means the parameter is frozen or not
/// trainable.
public struct GradientContext {
    public let outputGradient: any DeviceBuffer
    public let inputGradients: [(any DeviceBuffer)?]
    public let parameterGradients: [(any DeviceBuffer)?]
}

/// A shape a layer cannot accept; the graph adds the layer's name and the producer's.
public struct ShapeError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// One node type of a network: shape inference, parameters, and explicit forward and backward
/// passes issued to a backend (no compiler autodiff).
public protocol Layer {
    /// The layer type as shown in summaries ("Conv2D").
    var kind: String { get }
    /// Prefix of automatic names ("conv" → conv1, conv2, …).
    var namePrefix: String { get }
    /// Number of inputs the layer takes (1 for most; Add and Concat take several).
    var arity: ClosedRange<Int> { get }

    func outputShape(for inputs: [TensorShape]) throws -> TensorShape
    func parameters(for inputs: [TensorShape]) -> [ParameterSpec]
    func state(for inputs: [TensorShape], batch: Int) -> [StateSpec]

    /// Whether the output may share its input's buffer (element-wise ops whose backward needs
    /// only the output, reshapes).
    var canRunInPlace: Bool { get }
    var backwardReads: BackwardReads { get }
    /// Whether the backward pass hands every input the output gradient unchanged (a sum). The
    /// planner may then give an input's gradient the output gradient's own buffer, so the
    /// backward must write nothing to an input gradient that is the output gradient.
    var passesGradientThrough: Bool { get }

    func forward(_ c: LayerContext) throws
    func backward(_ c: LayerContext, _ g: GradientContext) throws

    /// The forward pass as compiled ops: built-in layers build their descriptors, check their
    /// arguments and choose their algorithms here, once per plan. The default runs `forward`
    /// each step (a custom layer works without compiling anything).
    func compileForward(_ c: LayerContext) throws -> [CompiledOp]
    /// The backward pass as compiled ops (default: `backward` each step).
    func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp]
    /// Float32 scratch elements one pass (forward or backward) of the layer needs on `backend`;
    /// the planner gives it a buffer alive only during that pass.
    func workspaceCount(for inputs: [TensorShape], batch: Int, backend: any Backend, training: Bool) throws -> Int
    /// Whether the layer can apply activation `f` where it writes its output, so that an
    /// activation layer right after it (running in place) costs no pass of its own.
    func epilogueFusion(_ f: Activation) -> EpilogueFusion
    /// Multiply-adds of the forward pass for one sample, as torchvision's model tables and
    /// fvcore count them: convolutions and fully connected layers only (the rest is a few
    /// percent). Default 0.
    func multiplyAdds(for inputs: [TensorShape], output: TensorShape) -> Int
}

/// How a producer absorbs the activation that follows it.
public enum EpilogueFusion: Sendable {
    case none
    /// The forward pass applies it; the activation's backward pass still runs (in place).
    case forward
    /// The forward and the backward pass both apply it (batch norm + ReLU).
    case forwardAndBackward
}

extension Layer {
    public var arity: ClosedRange<Int> { 1...1 }
    public func parameters(for inputs: [TensorShape]) -> [ParameterSpec] { [] }
    public func state(for inputs: [TensorShape], batch: Int) -> [StateSpec] { [] }
    public var canRunInPlace: Bool { false }
    public var backwardReads: BackwardReads { [.input] }
    public var passesGradientThrough: Bool { false }
    public func workspaceCount(for inputs: [TensorShape], batch: Int, backend: any Backend, training: Bool) throws -> Int { 0 }
    public func epilogueFusion(_ f: Activation) -> EpilogueFusion { .none }
    public func multiplyAdds(for inputs: [TensorShape], output: TensorShape) -> Int { 0 }

    public func compileForward(_ c: LayerContext) throws -> [CompiledOp] {
        [CompiledOp(name: c.name, kind: kind, phase: .forward, shape: c.shapeText, node: c.node) { seed in
            try self.forward(c.with(seed: seed))
        }]
    }

    public func compileBackward(_ c: LayerContext, _ g: GradientContext) throws -> [CompiledOp] {
        [CompiledOp(name: c.name, kind: kind + " backward", phase: .backward, shape: c.shapeText, node: c.node) { _ in
            try self.backward(c, g)
        }]
    }
}

extension LayerContext {
    /// "8×64×56×56 → 8×64×28×28".
    var shapeText: String {
        inputShapes.map { CNNGPU.shapeText([batch] + $0.dims) }.joined(separator: ", ") + " → "
            + CNNGPU.shapeText([batch] + outputShape.dims)
    }
}

extension TensorShape {
    /// The `[C, H, W]` of an image-shaped input, or a `ShapeError` naming what `layer` needs.
    func requireImage(_ layer: String) throws -> (c: Int, h: Int, w: Int) {
        guard let chw else { throw ShapeError("expects a C×H×W input, gets \(self)") }
        return chw
    }
}
