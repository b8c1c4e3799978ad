import Foundation

/// Everything one `cnn-gpu bench` run measured, as written by `--json` (and read back by the
/// report writer and the tests). Times are in milliseconds, rates in GFLOP/s or GB/s.
public struct BenchmarkResults: Codable, Sendable {
    /// Bumped when a field changes meaning, so old recordings are not misread.
    public static let currentFormat = 1

    public var format: Int
    /// ISO 8601, UTC.
    public var date: String
    public var suite: String
    public var quick: Bool
    public var machine: MachineDescription
    public var devices: [DeviceResults]
    /// Wall-clock seconds the whole run took, calibration and warm-up included.
    public var totalSeconds: Double
}

/// The host the run happened on.
public struct MachineDescription: Codable, Sendable {
    public var cpu: String
    public var cores: Int
    public var memoryBytes: Int
    public var operatingSystem: String

    /// The machine this process runs on.
    public static func current() -> MachineDescription {
        let cpu = HostCPU.current
        return MachineDescription(cpu: cpu.name, cores: cpu.cores, memoryBytes: Int(ProcessInfo.processInfo.physicalMemory),
                                  operatingSystem: ProcessInfo.processInfo.operatingSystemVersionString)
    }
}

/// The results of one device.
public struct DeviceResults: Codable, Sendable {
    /// As `--devices` takes it: "cpu" or "opencl:N".
    public var id: String
    public var backend: String
    public var name: String
    public var vendor: String
    public var platform: String
    public var driver: String
    public var computeUnits: Int
    /// Whether `device` times come from OpenCL profiling events (otherwise they are wall-clock).
    public var deviceTimestamps: Bool
    /// Seconds spent opening the device and building its programs, before any timing.
    public var setupSeconds: Double
    public var calibration: Calibration
    public var ops: [OpResult]
    public var models: [ModelResult]
    /// Benchmarks that did not run, and why (a model not in the zoo yet, a shape a device refused).
    public var notes: [String]
}

/// What this device achieves on a large GEMM and a large copy: the references that op results
/// are given as a share of. Both are taken at the fastest of the repeated samples.
public struct Calibration: Codable, Sendable {
    /// m = n = k of the square GEMM.
    public var gemmSize: Int
    /// The faster of `blasGEMMGFLOPS` and `convolutionGEMMGFLOPS`: the rate compute-bound ops
    /// are given as a share of.
    public var gemmGFLOPS: Double
    /// Which of the two that was, and the algorithm it ran (absent in results written before it
    /// was recorded, when the reference was the BLAS SGEMM alone).
    public var gemmPath: String?
    /// The backend's BLAS SGEMM of the square product.
    public var blasGEMMGFLOPS: Double?
    /// The same product as a 1×1 convolution (n channels in and out, n pixels) on the backend's
    /// own convolution kernels.
    public var convolutionGEMMGFLOPS: Double?
    /// Bytes read plus bytes written by the copy.
    public var copyBytes: Int
    public var bandwidthGBps: Double
    /// The estimated FP32 peak of the hardware, where it is known (`cnn-gpu devices`).
    public var theoreticalPeakGFLOPS: Double?
}

/// Repeated measurements of one quantity, in milliseconds.
public struct Timing: Codable, Sendable {
    public var medianMs: Double
    public var minMs: Double
    public var maxMs: Double
    public var samplesMs: [Double]

    public init(seconds: [Double]) {
        let ms = seconds.map { $0 * 1000 }
        let sorted = ms.sorted()
        let mid = sorted.count / 2
        medianMs = sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        minMs = sorted.first ?? 0
        maxMs = sorted.last ?? 0
        samplesMs = ms
    }

    /// (max - min) / median: how much repeated runs disagreed.
    public var spread: Double { medianMs > 0 ? (maxMs - minMs) / medianMs : 0 }
}

/// One op benchmark on one device.
public struct OpResult: Codable, Sendable {
    public enum Bound: String, Codable, Sendable {
        /// Rated in GFLOP/s against the calibrated GEMM rate.
        case compute
        /// Rated in GB/s against the calibrated copy bandwidth.
        case memory
    }

    /// "conv", "gemm", "pool", "batchnorm", "activation".
    public var group: String
    /// E.g. "resnet50 res3 3×3".
    public var name: String
    /// "forward", "backward-data", "backward-filter", "backward".
    public var direction: String
    /// The problem, e.g. "N1 C128→128 28² k3 s1".
    public var shape: String
    /// Which algorithm or kernel the backend ran.
    public var algorithm: String
    public var bound: Bound
    /// Floating-point operations (compute-bound) or bytes moved (memory-bound) per run.
    public var work: Double
    public var wall: Timing
    public var device: Timing
    /// GFLOP/s or GB/s at the median device time.
    public var rate: Double
    /// `rate` over the calibrated GEMM GFLOP/s or copy GB/s.
    public var shareOfCalibrated: Double
}

/// One model at one batch size and resolution, inference or a training step.
public struct ModelResult: Codable, Sendable {
    public var model: String
    /// [C, H, W] of one image.
    public var input: [Int]
    public var batch: Int
    /// "inference" or "training".
    public var mode: String
    public var wall: Timing
    public var device: Timing
    /// Images per second at the median wall-clock time of a step.
    public var imagesPerSecond: Double
    /// The memory plan: activations, parameters with their gradients, optimizer state.
    public var plannedBytes: Int
}

extension BenchmarkResults {
    /// Pretty-printed JSON with sorted keys, so recordings diff well.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> BenchmarkResults {
        try JSONDecoder().decode(BenchmarkResults.self, from: data)
    }
}
