/// `cnn-gpu bench --profile MODEL`: a few training steps of a zoo model on synthetic data, every
/// compiled op timed after warm-up.
public struct ModelProfile {
    public var model: String
    public var batch: Int
    public var input: TensorShape?
    public var classes: Int
    public var warmupSteps = 2
    public var steps = 3
    public var options = PlanOptions()

    public init(model: String, batch: Int = 8, input: TensorShape? = nil, classes: Int = 1000) {
        self.model = model; self.batch = batch; self.input = input; self.classes = classes
    }

    /// Runs the steps on `device` and returns the profiler holding the timed ones.
    public func run(on device: BenchmarkDevice) throws -> (profiler: OpProfiler, backend: any Backend) {
        let backend = try device.open()
        let graph = try ModelZoo.build(model, input: input, classes: classes)
        let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
        let plan = try Plan(graph: graph, parameters: store, batch: batch, mode: .training, options: options)
        var random = SplitMix64(seed: 7)
        let images = (0..<batch * graph.inputShape.count).map { _ in Float(random.uniform(-1, 1)) }
        let labels = (0..<batch).map { _ in Int32(random.next() % UInt64(graph.outputShape.count)) }
        let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0.9), parameters: store))
        let profiler = try OpProfiler(backend: backend)
        for i in 0..<(warmupSteps + steps) {
            step.profiler = i >= warmupSteps ? profiler : nil
            // A zero rate keeps the weights, and so every step's work, the same.
            try step.run(images: images, labels: labels, learningRate: 0, seed: UInt64(i))
        }
        return (profiler, backend)
    }
}
