import Foundation

/// Times queued work on one backend, by the wall clock and on the device: OpenCL profiling
/// markers where the backend has them, otherwise the wall clock (the CPU backend runs each op
/// to completion on the calling thread, so its wall time is its device time).
struct BenchmarkClock {
    let backend: any Backend
    /// Repeated samples per measurement.
    let repeats: Int
    /// A benchmark whose warm-up run is long gets fewer samples (but at least two), so that
    /// its samples take about this long in all.
    let budgetSeconds: Double
    /// A sample repeats the work until it lasts at least this long, so that short ops are not
    /// dominated by the cost of synchronizing.
    let minimumSampleSeconds: Double

    struct Sample { var wall: [Double] = [], device: [Double] = [] }

    /// Runs `work` once untimed (program builds, first touch of memory, CLBlast's kernel
    /// compilation), then `repeats` timed samples (fewer for slow work, see `budgetSeconds`);
    /// returns seconds per run of `work`.
    func measure(_ work: () throws -> Void) throws -> Sample {
        let warm = try time(iterations: 1, work)
        let iterations = max(1, min(64, Int((minimumSampleSeconds / max(warm.wall, 1e-6)).rounded(.up))))
        let samples = max(2, min(repeats, Int(budgetSeconds / max(warm.wall, 1e-6))))
        var sample = Sample()
        for _ in 0..<samples {
            let t = try time(iterations: iterations, work)
            sample.wall.append(t.wall / Double(iterations))
            sample.device.append(t.device / Double(iterations))
        }
        return sample
    }

    private func time(iterations: Int, _ work: () throws -> Void) throws -> (wall: Double, device: Double) {
        try backend.synchronize()
        let openCL = (backend as? OpenCLBackend).flatMap { $0.profiling ? $0 : nil }
        let start = DispatchTime.now().uptimeNanoseconds
        let first = try openCL?.timestamp()
        for _ in 0..<iterations { try work() }
        let last = try openCL?.timestamp()
        try backend.synchronize()
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let openCL, let first, let last {
            return (wall, try openCL.deviceSeconds(from: first, to: last))
        }
        return (wall, wall)
    }

    /// Whether `device` times come from the device's own clock.
    var hasDeviceTimestamps: Bool { (backend as? OpenCLBackend)?.profiling ?? false }
}
