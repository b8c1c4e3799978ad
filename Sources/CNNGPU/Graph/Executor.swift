/// Runs the compiled ops of a `Plan` on its backend: everything is queued in order on the
/// device and nothing waits for the host until a value is read back. Nothing is checked or
/// chosen here; the plan did that when it was compiled.
public struct Executor {
    public let plan: Plan
    var backend: any Backend { plan.parameters.backend }

    public init(plan: Plan) { self.plan = plan }

    /// The seed a node's ops get in a step (dropout masks): distinct per node and per step.
    static func nodeSeed(_ stepSeed: UInt64, node: Int) -> UInt64 {
        stepSeed &+ UInt64(max(node, 0)) &* 0x9E37_79B9_7F4A_7C15
    }

    /// Queues `ops` in order, or times each one when `profiler` is given.
    func run(_ ops: [CompiledOp], seed: UInt64 = 0, profiler: OpProfiler? = nil) throws {
        for op in ops {
            let s = Executor.nodeSeed(seed, node: op.node)
            if let profiler { try profiler.time(op) { try op.run(s) } } else { try op.run(s) }
        }
    }

    /// Queues the forward pass over `plan.input`; the output is in `plan.output`. A training
    /// plan may run it in inference mode (`training: false`) to evaluate.
    public func forward(training: Bool, seed: UInt64 = 0) throws {
        try run(plan.forwardOps(training: training), seed: seed)
    }

    /// Queues the loss (and its gradient into the output's gradient) and the correct-prediction
    /// count against `plan.targets`.
    public func lossAndMetrics() throws {
        guard plan.mode != .inference else {
            throw CNNError.invalidArgument("this plan was compiled for inference: it has no loss")
        }
        try run(plan.lossOps)
    }

    /// Queues the backward pass: every node's input and parameter gradients, accumulating
    /// where a tensor feeds several layers. Parameter gradients land in `plan.parameters.gradients`.
    public func backward() throws {
        guard plan.training else {
            throw CNNError.invalidArgument("this plan was compiled for \(plan.mode.rawValue): it has no backward pass")
        }
        try run(plan.backwardOps)
    }

    /// Reads the last step's mean loss and correct count (waits for the device).
    public func readLossAndCorrect() throws -> (loss: Float, correct: Int) {
        guard let lossValue = plan.lossValue, let correct = plan.correctCount else {
            throw CNNError.invalidArgument("this plan was compiled for inference: it has no loss")
        }
        let l = try backend.download(lossValue, count: 1)[0]
        let c = try backend.download(correct, count: 1)[0]
        return (l, Int(c))
    }
}
