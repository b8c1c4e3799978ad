/// The loss a training plan ends with.
public enum LossFunction: String, Sendable {
    /// Softmax cross-entropy on the model's output logits against Int32 class labels.
    case softmaxCrossEntropy
    /// Mean squared error against Float32 targets of the output's shape.
    case meanSquaredError
}

/// Compile-time choices a caller may switch off, to compare or to debug.
public struct PlanOptions: Sendable, Equatable {
    /// Fuse each activation into the op that produces its input (convolution + bias +
    /// activation, batch norm + ReLU, residual add + ReLU) when it can run in place, fold
    /// ReLU backwards into max-pool backwards, and let a residual join's inputs inherit its
    /// gradient buffer instead of copies (`GradientPassThrough`).
    public var fusion: Bool
    /// Training plans: also compute d(loss)/d(input) (`Plan.inputGradient`), for saliency maps
    /// and adversarial examples.
    public var inputGradient: Bool
    /// Nodes (by name) whose output and gradient stay readable after a step (`Plan.activation(of:)`,
    /// `Plan.gradient(of:)`), for feature maps and Grad-CAM. Their buffers are not shared, and
    /// an activation fused into one of them is not fused.
    public var retained: Set<String>
    /// Softmax cross-entropy plans: PyTorch's `label_smoothing` ε in [0, 1) (0: plain labels).
    public var labelSmoothing: Float = 0
    /// Whether compiling times convolution solvers first (`--tune`; remembered choices are
    /// used in every mode).
    public var tuning: TuningMode
    /// Training plans: batch norm with the statistics of the global batch of a data-parallel
    /// run, summed over the ranks with this (`--sync-batchnorm`); nil for per-rank statistics.
    public var batchNormSync: CrossRankSum?

    public init(fusion: Bool = true, inputGradient: Bool = false, retained: Set<String> = [], tuning: TuningMode = .off,
                batchNormSync: CrossRankSum? = nil) {
        self.fusion = fusion; self.inputGradient = inputGradient; self.retained = retained; self.tuning = tuning
        self.batchNormSync = batchNormSync
    }
}

/// A graph compiled for one backend, one batch size and one mode: every activation, gradient,
/// saved state and workspace has a place in a small set of shared device buffers (chosen by
/// liveness, in place where legal), and every step is a fixed list of compiled ops — forward,
/// loss, backward — whose descriptors were built and checked, and whose algorithms were
/// chosen, once, here. Compile once, run many steps (see `Executor` and `TrainingStep`).
public final class Plan {
    /// Inference: forward only. Evaluation: forward, loss and metrics, no gradients.
    /// Training: forward in training mode, loss, metrics and backward.
    public enum Mode: String, Sendable { case inference, evaluation, training }

    public let graph: Graph
    public let parameters: ParameterStore
    public let batch: Int
    public let mode: Mode
    public let loss: LossFunction
    public let options: PlanOptions
    public var training: Bool { mode == .training }

    /// Where each node's output lives.
    let activations: [any DeviceBuffer]
    /// Each node's output gradient (training only; nil for the input).
    let gradients: [(any DeviceBuffer)?]
    /// Per node, the saved state of its layer.
    let states: [[any DeviceBuffer]]
    /// Per node, the planned workspace of its forward and backward passes.
    let forwardWorkspaces: [(any DeviceBuffer)?]
    let backwardWorkspaces: [(any DeviceBuffer)?]
    /// Per (consumer node, input slot) whose gradient is added into an already-written one.
    let scratchGradients: [Edge: any DeviceBuffer]
    /// The consumer that writes each node's gradient first in the backward pass.
    let firstGradientWriter: [Int: Edge]
    /// Which activations were fused into their producers.
    let fusion: FusionDecisions
    /// Inference: per folded batch-norm node, the convolution weights and bias with it folded in
    /// (recomputed on the device at the start of every forward pass, so they follow training).
    let folded: [Int: (weight: any DeviceBuffer, bias: any DeviceBuffer)]
    /// Zeros for the folding ops (a convolution without bias, a zero mean).
    let foldZeros: (any DeviceBuffer)?

    /// Labels (Int32) or targets (Float32) for the loss; nil for inference plans.
    public let targets: (any DeviceBuffer)?
    let lossValue: (any DeviceBuffer)?
    let correctCount: (any DeviceBuffer)?
    /// Where the loss writes d(loss)/d(output): the output's gradient when training, a
    /// planned scratch buffer when evaluating.
    let lossGradient: (any DeviceBuffer)?

    /// The compiled steps, in queue order.
    public private(set) var forwardOps: [CompiledOp] = []
    public private(set) var lossOps: [CompiledOp] = []
    public private(set) var backwardOps: [CompiledOp] = []
    /// A training plan's forward pass in inference mode (batch-norm running statistics, no
    /// dropout), compiled on first use.
    private var inferenceForwardOps: [CompiledOp]?

    /// Device memory of the activations, gradients, saved state and workspaces: what the
    /// planner allocated.
    public let plannedActivationBytes: Int
    /// What the same tensors would take without sharing buffers (to show what planning saves).
    public let unsharedActivationBytes: Int
    /// The planned workspace bytes (part of `plannedActivationBytes` when shared).
    public let workspaceBytes: Int

    struct Edge: Hashable { let consumer: Int, slot: Int }

    /// Compiles `graph` for `batch` samples. `parameters` are shared between plans of one model
    /// (a training plan and an evaluation plan of another batch size, say).
    public convenience init(graph: Graph, parameters: ParameterStore, batch: Int, training: Bool,
                            loss: LossFunction = .softmaxCrossEntropy, options: PlanOptions = PlanOptions()) throws {
        try self.init(graph: graph, parameters: parameters, batch: batch, mode: training ? .training : .inference,
                      loss: loss, options: options)
    }

    public init(graph: Graph, parameters: ParameterStore, batch: Int, mode: Mode,
                loss: LossFunction = .softmaxCrossEntropy, options: PlanOptions = PlanOptions()) throws {
        guard batch > 0 else { throw CNNError.invalidArgument("the batch size must be positive, got \(batch)") }
        self.graph = graph; self.parameters = parameters; self.batch = batch
        self.mode = mode; self.loss = loss; self.options = options
        let backend = parameters.backend
        if options.tuning != .off { _ = try Plan.tune(graph: graph, batch: batch, training: mode == .training, backend: backend, mode: options.tuning) }
        let layout = try PlanLayout(graph: graph, batch: batch, mode: mode, options: options, backend: backend)

        let assignment = MemoryPlanner.assign(layout.requests)
        let budget = backend.info.globalMemoryBytes - parameters.bytes
        if assignment.bytes > budget
            || assignment.buffers.contains(where: { $0.count * $0.dtype.byteSize > backend.info.maxBufferBytes }) {
            throw Plan.doesNotFit(graph: graph, batch: batch, mode: mode, bytes: assignment.bytes,
                                  info: backend.info, parameterBytes: parameters.bytes)
        }
        let buffers = try assignment.buffers.map { try backend.allocate($0.count, dtype: $0.dtype) }
        func buffer(_ tensor: Int) -> any DeviceBuffer { buffers[assignment.buffer[tensor]] }

        activations = layout.activation.map(buffer)
        gradients = layout.gradient.map { $0.map(buffer) }
        states = layout.state.map { $0.map(buffer) }
        forwardWorkspaces = layout.forwardWorkspace.map { $0.map(buffer) }
        backwardWorkspaces = layout.backwardWorkspace.map { $0.map(buffer) }
        scratchGradients = layout.scratch.mapValues(buffer)
        firstGradientWriter = layout.firstWriter
        fusion = layout.fusion
        var folded: [Int: (weight: any DeviceBuffer, bias: any DeviceBuffer)] = [:]
        var foldedBytes = 0
        for (j, i) in layout.fusion.foldedInto {
            let weights = graph.nodes[i].parameters[0].count, channels = graph.nodes[j].shape.dims[0]
            folded[j] = (try backend.allocate(weights, dtype: .float32), try backend.allocate(channels, dtype: .float32))
            foldedBytes += (weights + channels) * DType.float32.byteSize
        }
        let widest = layout.fusion.foldedInto.keys.map { graph.nodes[$0].shape.dims[0] }.max()
        foldZeros = try widest.map { n in
            let b = try backend.allocate(n, dtype: .float32)
            try backend.fill(b, value: 0)
            return b
        }
        self.folded = folded
        plannedActivationBytes = assignment.bytes + foldedBytes
        unsharedActivationBytes = layout.unsharedBytes
        workspaceBytes = layout.workspaceBytes

        if mode != .inference {
            let classes = graph.outputShape.count
            targets = loss == .softmaxCrossEntropy
                ? try backend.allocate(batch, dtype: .int32)
                : try backend.allocate(batch * classes, dtype: .float32)
            lossValue = try backend.allocate(1, dtype: .float32)
            correctCount = try backend.allocate(1, dtype: .float32)
            lossGradient = mode == .training ? gradients.last! : layout.lossGradient.map(buffer)
        } else {
            targets = nil; lossValue = nil; correctCount = nil; lossGradient = nil
        }
        forwardOps = try compileForward(training: mode == .training)
        lossOps = try compileLoss()
        backwardOps = try compileBackward()
    }

    /// d(loss)/d(input) after `backward()`, when compiled with `inputGradient`.
    public var inputGradient: (any DeviceBuffer)? { gradients.first ?? nil }
    /// d(loss)/d(output): written by the loss op; a caller may write its own (a one-hot class
    /// score for saliency) and run `Executor.backward()` without the loss.
    public var outputGradient: (any DeviceBuffer)? { training ? gradients.last ?? nil : nil }

    /// The output buffer of the node named `name` (valid after the forward pass when retained).
    public func activation(of name: String) throws -> any DeviceBuffer {
        activations[try retainedNode(name)]
    }

    /// The output gradient of the node named `name` (valid after the backward pass when retained).
    public func gradient(of name: String) throws -> any DeviceBuffer {
        guard let g = gradients[try retainedNode(name)] else {
            throw CNNError.invalidArgument("\(name) has no gradient in a \(mode.rawValue) plan")
        }
        return g
    }

    private func retainedNode(_ name: String) throws -> Int {
        guard let i = graph.nodes.firstIndex(where: { $0.name == name }) else {
            throw CNNError.invalidArgument("the model has no layer '\(name)'; its layers: "
                + graph.nodes.dropFirst().map(\.name).joined(separator: ", "))
        }
        guard options.retained.contains(name) else {
            throw CNNError.invalidArgument("layer '\(name)' was not retained: compile the plan with PlanOptions(retained: [\"\(name)\"])")
        }
        return i
    }

    /// The model's input buffer (`batch × input shape`).
    public var input: any DeviceBuffer { activations[0] }
    /// The model's output buffer (`batch × output shape`): logits for classifiers.
    public var output: any DeviceBuffer { activations[activations.count - 1] }

    /// Planned device bytes of one step: parameters (with gradients) plus activations.
    public var plannedBytes: Int { plannedActivationBytes + parameters.bytes }

    /// Every op of one step in queue order (a training plan's: forward, loss, backward).
    public var ops: [CompiledOp] { forwardOps + lossOps + backwardOps }

    /// The forward ops for `training` (a training plan may run in inference mode to evaluate).
    func forwardOps(training: Bool) throws -> [CompiledOp] {
        if training == (mode == .training) { return forwardOps }
        guard !training else {
            throw CNNError.invalidArgument("this plan was compiled for \(mode.rawValue); compile one with mode: .training")
        }
        if let ops = inferenceForwardOps { return ops }
        let ops = try compileForward(training: false)
        inferenceForwardOps = ops
        return ops
    }

    /// What tuning chose for each convolution of `graph` at `batch` (each problem once).
    public struct TunedConvolution {
        public let layer: String
        public let direction: ConvolutionDirection
        public let problem: String
        public let choice: TunedChoice
    }

    /// Times the convolution solvers of every convolution of `graph` on `backend` as `mode`
    /// says, and of every fully connected layer where the backend runs those as convolutions
    /// (`runsDenseLayersAsConvolutions`), remembering the winners in the tuning database
    /// (`cnn-gpu tune`). On an OpenCL device CLBlast has no tuned SGEMM for, its SGEMM
    /// parameters are searched too (`tuneCLBlastGEMM`): always in full mode, and first, so that
    /// the solvers built on it are timed with its tuned parameters. In fast mode only where the
    /// model runs on CLBlast: first
    /// when its fully connected layers run as GEMMs and hold at least 1/200 of its multiply-adds
    /// (`denseShareForCLBlastSearch`), else after the convolutions, only if one of them chose a
    /// solver built on CLBlast. The search builds CLBlast's GEMM program for each parameter set:
    /// 70 of the 152 s of a cold fast tuning of ResNet-50 on PoCL (Zen 5), none of whose
    /// convolutions chose CLBlast (its one GEMM, the classifier's, is 0.05% of its arithmetic).
    /// Fast mode searches half the sets on CPU devices (`clblastXgemmFastCPU`). `progress` hears
    /// of each problem as its timing starts, `trace` of each candidate solver's time or why it
    /// was not timed (`cnn-gpu tune --verbose`).
    @discardableResult
    public static func tune(graph: Graph, batch: Int, training: Bool, backend: any Backend, mode: TuningMode,
                            progress: ((String) -> Void)? = nil, trace: ((String) -> Void)? = nil) throws -> [TunedConvolution] {
        let clblast = (backend as? OpenCLBackend).flatMap { $0.clblastNeedsTuning ? $0 : nil }
        func searchCLBlast(_ cl: OpenCLBackend) throws {
            progress?("CLBlast SGEMM")
            try cl.tuneCLBlastGEMM(database: ConvolutionChoice.database, retune: mode == .full, exhaustive: mode == .full)
        }
        // Fully connected layers that run as convolutions are tuned with them and need no GEMM.
        let denseAsConvolutions = backend.runsDenseLayersAsConvolutions
        let when = clblastSearch(mode: mode, denseShare: denseAsConvolutions ? 0 : graph.denseShare)
        if let cl = clblast, when == .first { try searchCLBlast(cl) }
        var seen = Set<String>(), results: [TunedConvolution] = []
        for node in graph.nodes {
            let input = graph.nodes[node.inputs.first ?? 0].shape
            let d: Conv2DDescriptor
            if let conv = node.layer as? Conv2D {
                d = try conv.descriptor(input, batch: batch)
            } else if denseAsConvolutions, let dense = node.layer as? Dense {
                d = try dense.asConvolution.descriptor(Dense.convolutionInput(input), batch: batch)
            } else {
                continue
            }
            for direction in training ? ConvolutionDirection.allCases : [.forward] {
                let key = ConvolutionProblemKey(d, direction: direction).description
                guard seen.insert(key).inserted else { continue }
                progress?("\(node.name) \(direction.rawValue)")
                if let choice = try ConvolutionChoice.tune(d, direction: direction, backend: backend, mode: mode, trace: trace) {
                    results.append(TunedConvolution(layer: node.name, direction: direction, problem: d.problemText, choice: choice))
                }
            }
        }
        // The winners are not timed again: the search times the large GEMMs such a solver runs
        // (it can slow skinny ones, the classifier's: NOTES-opencl-solvers.md, twentieth session).
        if let cl = clblast, when == .ifAConvolutionChoseIt,
           results.contains(where: { ConvolutionAlgorithm(rawValue: $0.choice.solver).map(OpenCLBackend.runsOnCLBlast) ?? false }) {
            try searchCLBlast(cl)
        }
        return results
    }

    /// When `tune` searches CLBlast's SGEMM parameters (on a device CLBlast has none for).
    enum CLBlastSearch: Equatable { case never, first, ifAConvolutionChoseIt }

    static func clblastSearch(mode: TuningMode, denseShare: Double) -> CLBlastSearch {
        switch mode {
        case .off: return .never
        case .full: return .first
        case .fast: return denseShare >= denseShareForCLBlastSearch ? .first : .ifAConvolutionChoseIt
        }
    }

    /// The share of a model's multiply-adds in fully connected layers from which fast tuning
    /// searches CLBlast's SGEMM parameters before the convolutions: LeNet-5 15%, AlexNet 8%,
    /// VGG-16 0.8% (its classifier's GEMMs, 8 × 25088 × 4096 at batch 8 among them, are large
    /// enough for CLBlast's Xgemm, the kernel the search tunes), ResNet-50, GoogLeNet and
    /// DenseNet-121 under 0.1%.
    static let denseShareForCLBlastSearch = 0.005

    /// Estimates the activation bytes of `graph` at `batch` without allocating anything;
    /// with a backend, workspaces are included.
    public static func estimateActivationBytes(graph: Graph, batch: Int, training: Bool,
                                               backend: (any Backend)? = nil) throws -> Int {
        MemoryPlanner.assign(try PlanLayout(graph: graph, batch: batch, mode: training ? .training : .inference,
                                            options: PlanOptions(), backend: backend).requests).bytes
    }

    private static func doesNotFit(graph: Graph, batch: Int, mode: Mode, bytes: Int, info: DeviceInfo,
                                   parameterBytes: Int) -> CNNError {
        var fits = 0
        var b = batch / 2
        while b >= 1 && fits == 0 {
            if let est = try? estimateActivationBytes(graph: graph, batch: b, training: mode == .training),
               est + parameterBytes <= info.globalMemoryBytes, est <= info.maxBufferBytes * 8 { fits = b }
            b /= 2
        }
        let suggestion = fits > 0 ? " A batch size of \(fits) fits (--batch-size \(fits))." : " Even a batch of 1 does not fit: try a smaller input size."
        return .outOfMemory(requestedBytes: bytes + parameterBytes,
                            detail: "a\(mode == .inference ? "n" : "") \(mode.rawValue) step at batch \(batch) needs "
                                + "\(bytes >> 20) MiB of activations plus \(parameterBytes >> 20) MiB of parameters, "
                                + "but \(info.name) has \(info.globalMemoryBytes >> 20) MiB (at most "
                                + "\(info.maxBufferBytes >> 20) MiB per buffer).\(suggestion)")
    }
}

/// The tensors of a plan and their lifetimes, before any buffer exists.
struct PlanLayout {
    var requests: [MemoryPlanner.Request] = []
    var activation: [Int] = []
    var gradient: [Int?] = []
    var state: [[Int]] = []
    var forwardWorkspace: [Int?] = []
    var backwardWorkspace: [Int?] = []
    var lossGradient: Int?
    var scratch: [Plan.Edge: Int] = [:]
    var firstWriter: [Int: Plan.Edge] = [:]
    var fusion = FusionDecisions()
    var unsharedBytes = 0
    var workspaceBytes = 0

    init(graph: Graph, batch: Int, mode: Plan.Mode, options: PlanOptions, backend: (any Backend)?) throws {
        let training = mode == .training
        let nodes = graph.nodes
        let n = nodes.count - 1
        // Steps: 0 input upload, i forward of node i, n+1 loss, 2n+2-i backward of node i.
        let lossStep = n + 1
        func backwardStep(_ i: Int) -> Int { 2 * n + 2 - i }
        let edges = nodes.indices.flatMap { j in nodes[j].inputs.enumerated().map { (slot, i) in (i, Plan.Edge(consumer: j, slot: slot)) } }
        let consumers = Dictionary(grouping: edges, by: { $0.0 }).mapValues { $0.map(\.1) }

        // In place: a layer may overwrite its single input when nobody else reads that input,
        // and the input's producer does not need its own output in its backward pass.
        var alias = Array(nodes.indices)
        func root(_ i: Int) -> Int { alias[i] == i ? i : root(alias[i]) }
        for j in 1...max(1, n) where j <= n {
            guard let layer = nodes[j].layer, layer.canRunInPlace, nodes[j].inputs.count == 1 else { continue }
            let i = nodes[j].inputs[0]
            guard i != 0, consumers[i]?.count == 1 else { continue }
            if training, let producer = nodes[i].layer, producer.backwardReads.contains(.output) { continue }
            // A retained tensor keeps its own buffer.
            if options.retained.contains(nodes[i].name) || options.retained.contains(nodes[j].name) { continue }
            alias[j] = i
        }
        if options.fusion {
            fusion = FusionDecisions(nodes: nodes, alias: alias)
            let readers = consumers.mapValues { $0.map(\.consumer) }
            if training { fusion.foldReLUBackwardsIntoMaxPools(nodes: nodes, consumers: readers, alias: alias) }
            if !training { fusion.foldBatchNorms(nodes: nodes, consumers: readers, retained: options.retained) }
        }

        var spans: [Int: (first: Int, last: Int)] = [:]
        func touch(_ key: Int, _ step: Int) {
            let s = spans[key] ?? (step, step)
            spans[key] = (min(s.first, step), max(s.last, step))
        }
        // Activations (keyed by alias root).
        for i in nodes.indices {
            touch(root(i), i)
            for e in consumers[i] ?? [] {
                touch(root(i), e.consumer)
                if training, nodes[e.consumer].layer!.backwardReads.contains(.input) { touch(root(i), backwardStep(e.consumer)) }
            }
            if training, i > 0, nodes[i].layer!.backwardReads.contains(.output) { touch(root(i), backwardStep(i)) }
        }
        touch(root(n), lossStep)
        // A convolution with a batch norm folded into it writes the batch norm's output, at
        // its own step.
        for (j, i) in fusion.foldedInto { touch(root(j), i) }
        let end = backwardStep(0) + 1
        for i in nodes.indices where options.retained.contains(nodes[i].name) { touch(root(i), end) }
        var tensorOfKey: [String: Int] = [:]
        func request(_ key: String, count: Int, dtype: DType, _ span: (first: Int, last: Int)) -> Int {
            if let t = tensorOfKey[key] {
                requests[t].first = min(requests[t].first, span.first)
                requests[t].last = max(requests[t].last, span.last)
                return t
            }
            requests.append(MemoryPlanner.Request(count: count, dtype: dtype, first: span.first, last: span.last))
            tensorOfKey[key] = requests.count - 1
            return requests.count - 1
        }
        activation = nodes.indices.map { i in
            request("a\(root(i))", count: batch * nodes[root(i)].shape.count, dtype: nodes[root(i)].shape.dtype, spans[root(i)]!)
        }
        for i in nodes.indices where root(i) == i { unsharedBytes += batch * nodes[i].shape.byteCount }

        // Saved state: written in the forward pass, read in the backward pass.
        state = nodes.indices.map { i in
            guard let layer = nodes[i].layer else { return [] }
            let specs = layer.state(for: nodes[i].inputs.map { nodes[$0].shape }, batch: batch)
            return specs.enumerated().map { k, s in
                unsharedBytes += s.count * s.dtype.byteSize
                return request("s\(i).\(k)", count: s.count, dtype: s.dtype, (i, training ? backwardStep(i) : i))
            }
        }

        // Workspaces: alive only during the pass that uses them, so they share memory with
        // activations that are dead by then.
        let workspaceCounts = try nodes.indices.map { i -> Int in
            guard let layer = nodes[i].layer, let backend else { return 0 }
            return try layer.workspaceCount(for: nodes[i].inputs.map { nodes[$0].shape }, batch: batch,
                                            backend: backend, training: training)
        }
        workspaceBytes = workspaceCounts.reduce(0, +) * DType.float32.byteSize * (training ? 2 : 1)
        forwardWorkspace = nodes.indices.map { i in
            workspaceCounts[i] > 0 ? request("wf\(i)", count: workspaceCounts[i], dtype: .float32, (i, i)) : nil
        }
        backwardWorkspace = nodes.indices.map { i in
            guard training, workspaceCounts[i] > 0 else { return nil }
            return request("wb\(i)", count: workspaceCounts[i], dtype: .float32, (backwardStep(i), backwardStep(i)))
        }
        unsharedBytes += workspaceBytes

        if mode == .evaluation {
            // The loss op writes its gradient somewhere even when nobody reads it.
            lossGradient = request("lossgrad", count: batch * graph.outputShape.count, dtype: .float32, (lossStep, lossStep))
        }
        guard training else { gradient = nodes.map { _ in nil }; return }

        // Gradients: node i's is written first by its last consumer's backward (or the loss for
        // the output), accumulated from other consumers through scratch buffers, and read by
        // node i's own backward. In-place layers also pass gradients in place.
        var gradAlias = Array(nodes.indices)
        for j in nodes.indices where alias[j] != j { gradAlias[nodes[j].inputs[0]] = j }
        let wantsInputGradient = options.inputGradient
        if options.fusion {
            for (i, j) in GradientPassThrough.aliases(nodes: nodes, consumers: consumers, gradientAlias: gradAlias,
                                                      retained: options.retained, inputGradient: wantsInputGradient,
                                                      backwardStep: backwardStep) {
                gradAlias[i] = j
            }
        }
        func gradRoot(_ i: Int) -> Int { gradAlias[i] == i ? i : gradRoot(gradAlias[i]) }
        gradient = nodes.indices.map { i -> Int? in
            guard i > 0 || wantsInputGradient else { return nil }
            let writer = i == n ? nil : (consumers[i] ?? []).max { ($0.consumer, -$0.slot) < ($1.consumer, -$1.slot) }
            if let writer { firstWriter[i] = writer }
            let first = writer.map { backwardStep($0.consumer) } ?? lossStep
            let r = gradRoot(i)
            if r == i { unsharedBytes += batch * nodes[i].shape.byteCount }
            let last = options.retained.contains(nodes[i].name) || i == 0 ? end : backwardStep(i)
            return request("g\(r)", count: batch * nodes[r].shape.count, dtype: nodes[r].shape.dtype, (first, last))
        }
        for (i, list) in consumers where i > 0 || wantsInputGradient {
            for e in list where e != firstWriter[i] {
                let step = backwardStep(e.consumer)
                scratch[e] = request("x\(e.consumer).\(e.slot)", count: batch * nodes[i].shape.count, dtype: nodes[i].shape.dtype, (step, step))
            }
        }
    }
}
