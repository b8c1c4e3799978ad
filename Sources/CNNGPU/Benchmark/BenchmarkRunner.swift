import Foundation

/// Runs a `BenchmarkSuite` on each device in turn: opens it and builds its programs (timed
/// apart as setup), calibrates its GEMM rate and copy bandwidth, then times the ops and the
/// models. A benchmark that fails on one device (a buffer too large, say) becomes a note in
/// that device's results rather than ending the run.
///
/// ```swift
/// let runner = BenchmarkRunner(suite: try .standard(quick: true))
/// let results = try runner.run(on: try BenchmarkDevice.parse("cpu,opencl:0"))
/// print(BenchmarkTable.text(results))
/// ```
public struct BenchmarkRunner {
    public let suite: BenchmarkSuite
    /// Called with a one-line description of each benchmark as it starts.
    public var progress: (String) -> Void

    public init(suite: BenchmarkSuite, progress: @escaping (String) -> Void = { _ in }) {
        self.suite = suite
        self.progress = progress
    }

    public func run(on devices: [BenchmarkDevice]) throws -> BenchmarkResults {
        let start = DispatchTime.now().uptimeNanoseconds
        let results = try devices.map(run)
        return BenchmarkResults(
            format: BenchmarkResults.currentFormat, date: ISO8601DateFormatter().string(from: Date()),
            suite: suite.name, quick: suite.quick, machine: .current(), devices: results,
            totalSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    private func run(_ device: BenchmarkDevice) throws -> DeviceResults {
        progress("[\(device.id)] opening the device and building its programs")
        let setupStart = DispatchTime.now().uptimeNanoseconds
        let backend = try device.open()
        if let openCL = backend as? OpenCLBackend { try openCL.buildAllPrograms() }
        let setup = Double(DispatchTime.now().uptimeNanoseconds - setupStart) / 1e9
        let clock = BenchmarkClock(backend: backend, repeats: suite.repeats, budgetSeconds: suite.budgetSeconds,
                                   minimumSampleSeconds: suite.minimumSampleSeconds)
        let info = backend.info
        var results = DeviceResults(
            id: device.id, backend: info.backend, name: info.name, vendor: info.vendor, platform: info.platform,
            driver: info.driverVersion, computeUnits: info.computeUnits, deviceTimestamps: clock.hasDeviceTimestamps,
            setupSeconds: setup, calibration: try calibrate(backend, clock, device.id), ops: [], models: [], notes: [])

        for (i, op) in suite.ops.enumerated() {
            progress("[\(device.id)] op \(i + 1)/\(suite.ops.count): \(op.name) \(op.direction)")
            do {
                results.ops.append(try measure(op, backend, clock, results.calibration))
            } catch {
                results.notes.append("\(op.name) \(op.direction) (\(op.shape)) did not run: \(error)")
            }
        }
        for (i, model) in suite.models.enumerated() {
            guard ModelZoo.names.contains(model.model) else {
                let note = "\(model.model): not in the model zoo yet (it has \(ModelZoo.names.joined(separator: ", "))); skipped"
                if !results.notes.contains(note) { results.notes.append(note) }
                continue
            }
            for batch in model.batches {
                progress("[\(device.id)] model \(i + 1)/\(suite.models.count): \(model.model) \(model.input) batch \(batch)")
                do {
                    results.models += try ModelBenchmarkRun(model: model, batch: batch, backend: backend, clock: clock).run()
                } catch {
                    results.notes.append("\(model.model) \(model.input) batch \(batch) did not run: \(error)")
                }
            }
        }
        return results
    }

    /// The GEMM reference is the faster of the device's two ways to multiply matrices: its BLAS
    /// SGEMM and its own convolution kernels on the same product posed as a 1×1 convolution
    /// (n input channels, n output channels, n pixels). A device's BLAS is not always its best
    /// GEMM: on PoCL, CLBlast's SGEMM runs 3–6× below our convolution kernels, and ops rated
    /// against it read 500–1000% "of calibrated".
    private func calibrate(_ backend: any Backend, _ clock: BenchmarkClock, _ id: String) throws -> Calibration {
        let n = suite.calibrationGEMMSize
        progress("[\(id)] calibrating: SGEMM \(n)³")
        let blas = try bestRate(OpBenchmark.gemm(m: n, n: n, k: n), backend, clock)
        progress("[\(id)] calibrating: the same product as a 1×1 convolution")
        let side = n % 32 == 0 ? 32 : 1
        let asConvolution = try Conv2DDescriptor(batch: 1, inChannels: n, inH: side, inW: n / side, outChannels: n,
                                                 kernelH: 1, kernelW: 1)
        let convolution = try bestRate(OpBenchmark.convolution("1×1 as GEMM", asConvolution)[0], backend, clock)
        let count = suite.calibrationCopyElements
        progress("[\(id)] calibrating: copy of \(count * 4 / 1_048_576) MiB")
        let src = try backend.allocate(count, dtype: .float32), dst = try backend.allocate(count, dtype: .float32)
        try backend.fill(src, value: 1)
        let copyTime = Timing(seconds: try clock.measure { try backend.copy(from: src, to: dst, count: count) }.device)
        let convolutionWins = convolution.gflops > blas.gflops
        return Calibration(gemmSize: n, gemmGFLOPS: max(blas.gflops, convolution.gflops),
                           gemmPath: convolutionWins ? "1×1 convolution (\(convolution.algorithm))"
                                                     : "BLAS SGEMM (\(blas.algorithm))",
                           blasGEMMGFLOPS: blas.gflops, convolutionGEMMGFLOPS: convolution.gflops,
                           copyBytes: 2 * count * 4, bandwidthGBps: Double(2 * count * 4) / (copyTime.minMs * 1e6),
                           theoreticalPeakGFLOPS: backend.info.peakGFLOPS)
    }

    /// An op's rate at its best sample, not the median: a calibration is what the device can do,
    /// and on a shared machine the other samples measure the neighbours too.
    private func bestRate(_ op: OpBenchmark, _ backend: any Backend,
                          _ clock: BenchmarkClock) throws -> (gflops: Double, algorithm: String) {
        let (algorithm, run) = try op.prepare(backend)
        let time = Timing(seconds: try clock.measure(run).device)
        return (op.work / (time.minMs * 1e6), algorithm)
    }

    private func measure(_ op: OpBenchmark, _ backend: any Backend, _ clock: BenchmarkClock,
                         _ calibration: Calibration) throws -> OpResult {
        let (algorithm, run) = try op.prepare(backend)
        let sample = try clock.measure(run)
        let device = Timing(seconds: sample.device)
        // work / ms / 1e6 = GFLOP/s (or GB/s).
        let rate = op.work / (device.medianMs * 1e6)
        let reference = op.bound == .compute ? calibration.gemmGFLOPS : calibration.bandwidthGBps
        return OpResult(group: op.group, name: op.name, direction: op.direction, shape: op.shape, algorithm: algorithm,
                        bound: op.bound, work: op.work, wall: Timing(seconds: sample.wall), device: device,
                        rate: rate, shareOfCalibrated: rate / reference)
    }
}

/// Inference and one training step (forward, loss, backward, SGD update) of a zoo model.
struct ModelBenchmarkRun {
    let model: ModelBenchmark
    let batch: Int
    let backend: any Backend
    let clock: BenchmarkClock

    func run() throws -> [ModelResult] {
        let graph = try ModelZoo.build(model.model, input: model.input, classes: model.classes)
        let store = try ParameterStore(graph: graph, backend: backend, seed: 1)
        // Each plan is released before the next is made, so the two never share the device's memory.
        let inference = try measureInference(graph, store)
        return model.training ? [inference, try measureTraining(graph, store)] : [inference]
    }

    private func measureInference(_ graph: Graph, _ store: ParameterStore) throws -> ModelResult {
        let plan = try Plan(graph: graph, parameters: store, batch: batch, training: false)
        try backend.fill(plan.input, value: 0.5)
        let executor = Executor(plan: plan)
        let sample = try clock.measure { try executor.forward(training: false) }
        return result("inference", sample, plannedBytes: plan.plannedBytes)
    }

    private func measureTraining(_ graph: Graph, _ store: ParameterStore) throws -> ModelResult {
        let plan = try Plan(graph: graph, parameters: store, batch: batch, training: true)
        try backend.fill(plan.input, value: 0.5)
        if let targets = plan.targets { try backend.uploadInt32([Int32](repeating: 0, count: batch), to: targets) }
        let optimizer = try Optimizer(.sgd(momentum: 0.9), parameters: store)
        let step = try TrainingStep(plan: plan, optimizer: optimizer)
        // A zero rate keeps the weights (and so every step's work) the same; the update runs in full.
        let sample = try clock.measure { try step.runOnUploaded(learningRate: 0, seed: 1) }
        let optimizerBytes = optimizer.state.reduce(0) { $0 + $1.byteCount }
        return result("training", sample, plannedBytes: plan.plannedBytes + optimizerBytes)
    }

    private func result(_ mode: String, _ sample: BenchmarkClock.Sample, plannedBytes: Int) -> ModelResult {
        let wall = Timing(seconds: sample.wall)
        return ModelResult(model: model.model, input: model.input.dims, batch: batch, mode: mode, wall: wall,
                           device: Timing(seconds: sample.device),
                           imagesPerSecond: Double(batch) / (wall.medianMs / 1000), plannedBytes: plannedBytes)
    }
}
