import Foundation

/// Averages a plan's flat gradient buffer over the ranks of an `MPIWorld`, in buckets that
/// start as soon as the backward pass has produced them, so the transfer of the last layers'
/// gradients overlaps the backward pass of the first layers (PyTorch DDP's scheme).
///
/// A bucket is a contiguous range of `plan.parameters.gradients` holding whole layers, about
/// `bucketBytes` long; parameters are laid out in layer order and backward runs in reverse, so
/// the highest range is ready first. After the last backward op of a bucket's layers, its range
/// is staged through host memory (OpenCL buffers included: no GPU-aware MPI yet) and an
/// `MPI_Iallreduce` starts on it; later backward ops let MPI progress it (`MPI_Test`), and
/// `finish` waits for the rest, scales by 1/ranks and writes the means back.
///
/// ```swift
/// let averager = try GradientAverager(plan: plan, world: world)
/// step.backwardObserver = averager.backwardOpFinished
/// step.gradientHook = averager.finish
/// ```
public final class GradientAverager {
    struct Bucket {
        var range: Range<Int>
        /// Index in `plan.backwardOps` after which every gradient in `range` is final.
        var readyAfter: Int
    }

    public let world: MPIWorld
    public let plan: Plan
    let buckets: [Bucket]
    /// Host copy of the whole flat gradient buffer; each bucket reduces its range in place.
    private let staging: UnsafeMutableBufferPointer<Float>
    private var inFlight: [(bucket: Int, request: MPIWorld.Request, started: DispatchTime, done: DispatchTime?)] = []
    private var nextBucket = 0
    public private(set) var statistics = AllreduceStatistics()

    /// `bucketBytes: .max` gives one bucket, reduced after the whole backward pass (no overlap).
    public init(plan: Plan, world: MPIWorld, bucketBytes: Int = 4 << 20) throws {
        guard plan.training else {
            throw CNNError.invalidArgument("gradients are averaged for a training plan, not \(plan.mode.rawValue)")
        }
        self.plan = plan; self.world = world
        buckets = Self.buckets(plan: plan, bucketBytes: bucketBytes)
        staging = .allocate(capacity: plan.parameters.trainableSpan)
        staging.initialize(repeating: 0)
    }

    deinit { staging.deallocate() }

    /// Ranges from the top of the flat buffer down, cut at layer starts once a bucket holds
    /// `bucketBytes`; together they cover the buffer (alignment padding included).
    static func buckets(plan: Plan, bucketBytes: Int) -> [Bucket] {
        let store = plan.parameters
        let starts = Dictionary(grouping: store.entries.filter(\.spec.trainable), by: \.node)
            .mapValues { $0.map(\.offset).min()! }
        let lastOp = Dictionary(plan.backwardOps.enumerated().map { ($0.element.node, $0.offset) }, uniquingKeysWith: max)
        var result: [Bucket] = []
        var end = store.trainableSpan, nodes: [Int] = []
        let byStart = starts.sorted { $0.value > $1.value }
        for (i, (node, start)) in byStart.enumerated() {
            nodes.append(node)
            let isLast = i == byStart.count - 1
            guard isLast || (end - start) * 4 >= bucketBytes else { continue }
            let lower = isLast ? 0 : start
            // A layer without a backward op of its own (never expected) waits for the whole pass.
            let ready = nodes.map { lastOp[$0] ?? plan.backwardOps.count - 1 }.max() ?? plan.backwardOps.count - 1
            result.append(Bucket(range: lower..<end, readyAfter: ready))
            end = lower; nodes = []
        }
        if result.isEmpty { result.append(Bucket(range: 0..<store.trainableSpan, readyAfter: plan.backwardOps.count - 1)) }
        // The collectives must start in the same order on every rank, and in readiness order here.
        return result.sorted { ($0.readyAfter, -$0.range.lowerBound) < ($1.readyAfter, -$1.range.lowerBound) }
    }

    public var bucketCount: Int { buckets.count }

    /// Called after backward op `index` ran (on an asynchronous backend, was queued: the
    /// download below then waits for it): starts the buckets it completed, progresses the others.
    public func backwardOpFinished(_ index: Int) throws {
        while nextBucket < buckets.count, buckets[nextBucket].readyAfter <= index {
            try start(nextBucket)
            nextBucket += 1
        }
        try progress()
    }

    private func start(_ b: Int) throws {
        let range = buckets[b].range
        let copying = DispatchTime.now()
        let slice = UnsafeMutableBufferPointer(rebasing: staging[range])
        try plan.parameters.backend.download(plan.parameters.gradients, elementOffset: range.lowerBound,
                                             into: UnsafeMutableRawBufferPointer(slice))
        let started = DispatchTime.now()
        statistics.stagingSeconds += seconds(from: copying, to: started)
        inFlight.append((b, try world.startAllreduceSum(slice), started, nil))
        statistics.blockedSeconds += seconds(from: started, to: .now())
    }

    /// Time in MPI_Test counts as blocked: the host is not queueing backward ops meanwhile.
    private func progress() throws {
        let entered = DispatchTime.now()
        for i in inFlight.indices where inFlight[i].done == nil {
            if try inFlight[i].request.test() { inFlight[i].done = .now() }
        }
        statistics.blockedSeconds += seconds(from: entered, to: .now())
    }

    /// The gradient hook: starts what is left, waits for every bucket, and writes the mean
    /// gradients back into `gradients` (the plan's flat buffer).
    public func finish(_ gradients: any DeviceBuffer) throws {
        while nextBucket < buckets.count { try start(nextBucket); nextBucket += 1 }
        let waitStart = DispatchTime.now()   // blocked from here until every bucket is done
        for i in inFlight.indices where inFlight[i].done == nil {
            try inFlight[i].request.wait()
            inFlight[i].done = .now()
        }
        let copying = DispatchTime.now()
        statistics.blockedSeconds += seconds(from: waitStart, to: copying)
        let scale = 1 / Float(world.size)
        for (b, _, _, _) in inFlight {
            let slice = UnsafeMutableBufferPointer(rebasing: staging[buckets[b].range])
            for i in slice.indices { slice[i] *= scale }
            try plan.parameters.backend.upload(UnsafeRawBufferPointer(slice), to: gradients, elementOffset: buckets[b].range.lowerBound)
        }
        // The span from the first start to the last completion: communication time of the step.
        let first = inFlight.map(\.started.uptimeNanoseconds).min()!, last = inFlight.map { $0.done!.uptimeNanoseconds }.max()!
        statistics.allreduceSeconds += Double(last - first) / 1e9
        statistics.stagingSeconds += seconds(from: copying, to: .now())
        statistics.steps += 1
        statistics.bytes += plan.parameters.trainableSpan * 4
        inFlight = []; nextBucket = 0
    }

    private func seconds(from a: DispatchTime, to b: DispatchTime) -> Double {
        Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e9
    }
}

/// Where a run's gradient averaging spent its time.
public struct AllreduceStatistics: Sendable {
    public var steps = 0
    /// From each step's first allreduce start to its last completion.
    public var allreduceSeconds = 0.0
    /// Time the host spent inside MPI calls (starting, progressing, waiting for the
    /// allreduces) instead of running the backward pass: the part not overlapped.
    public var blockedSeconds = 0.0
    /// Copies between the device and the host staging buffer, and the 1/ranks scaling.
    public var stagingSeconds = 0.0
    /// Bytes of gradients each rank contributed.
    public var bytes = 0

    /// The share of allreduce time hidden behind the backward pass.
    public var overlap: Double { allreduceSeconds > 0 ? max(0, 1 - blockedSeconds / allreduceSeconds) : 0 }

    public var summary: String {
        guard steps > 0 else { return "no gradients averaged" }
        let perStep = { (seconds: Double) in seconds / Double(steps) * 1e3 }
        return String(format: "allreduce %.2f ms/step over %.1f MiB, %.2f ms/step of it blocking the host (%.0f%% overlapped "
                      + "with the backward pass), %.2f ms/step staging through host memory",
                      perStep(allreduceSeconds), Double(bytes / steps) / 1_048_576, perStep(blockedSeconds), overlap * 100,
                      perStep(stagingSeconds))
    }
}
