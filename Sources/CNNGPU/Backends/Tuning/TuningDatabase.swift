import Foundation

/// The problem a tuning choice is for: MIOpen's key, direction and every size that changes
/// which kernel is fastest (N-C-H-W-K-R-S, padding, stride, dilation, groups, element type).
public struct ConvolutionProblemKey: Hashable, Sendable, CustomStringConvertible {
    public var direction: ConvolutionDirection
    public var descriptor: Conv2DDescriptor
    public var dtype: DType

    public init(_ descriptor: Conv2DDescriptor, direction: ConvolutionDirection, dtype: DType = .float32) {
        self.descriptor = descriptor; self.direction = direction; self.dtype = dtype
    }

    /// e.g. `forward n8-c64-h56-w56-k64-r3-s3 pad1,1,1,1 stride1x1 dil1x1 g1 float32`.
    public var description: String {
        let d = descriptor, p = d.padding
        return "\(direction.rawValue) n\(d.batch)-c\(d.inChannels)-h\(d.inH)-w\(d.inW)-k\(d.outChannels)-r\(d.kernelH)-s\(d.kernelW)"
            + " pad\(p.top),\(p.bottom),\(p.left),\(p.right) stride\(d.strideH)x\(d.strideW)"
            + " dil\(d.dilationH)x\(d.dilationW) g\(d.groups) \(dtype.rawValue)"
    }
}

/// What tuning found fastest for one problem on one device: a solver and its parameters.
public struct TunedChoice: Codable, Equatable, Sendable {
    public var solver: String
    public var parameters: [String: Int]
    /// The measured time, for reports (not used to choose later).
    public var milliseconds: Double

    public init(solver: String, parameters: [String: Int], milliseconds: Double) {
        self.solver = solver; self.parameters = parameters; self.milliseconds = milliseconds
    }
}

/// Tuning choices remembered across runs, as JSON in `<cache>/cnn-gpu/tuning.json` (see
/// `CacheDirectory`), keyed by device (name and driver version: a new driver can change which
/// kernel wins) and problem. Writes are atomic and merge with what other processes stored
/// meanwhile; a file that does not parse is ignored with a warning and rewritten on the next
/// store, since every entry can be measured again.
///
/// ```swift
/// let db = TuningDatabase()
/// if let choice = db.choice(device: backend.info, problem: key) { ... }
/// ```
public final class TuningDatabase: @unchecked Sendable {
    public let url: URL
    private var devices: [String: [String: TunedChoice]]
    private var rates: [String: StoredRates]
    private let lock = NSLock()

    /// The database for this user, shared by every backend of the process.
    public static let shared = TuningDatabase()

    private struct File: Codable {
        var version: Int
        var devices: [String: [String: TunedChoice]]
        /// Fast tuning's prior per device (`SolverRates`); absent from files written before it.
        var rates: [String: StoredRates]?
    }

    /// One device's `SolverRates`: GFLOP/s by solver/direction/channel class, and the stamp of
    /// the kernels that reached them.
    struct StoredRates: Codable, Equatable {
        var stamp: String
        var gflops: [String: Double]

        /// These rates and `newer` together: the best of each under one stamp; under another,
        /// `newer` alone (the kernels changed).
        func merged(with newer: StoredRates) -> StoredRates {
            guard stamp == newer.stamp else { return newer }
            return StoredRates(stamp: stamp, gflops: gflops.merging(newer.gflops, uniquingKeysWith: max))
        }
    }
    /// Raised whenever a stored choice would mean something else or a solver joins the
    /// candidates (`--tune fast` never retimes a remembered problem), so old choices are timed
    /// again. 2: implicit GEMM's input gradient of strided layers became one GEMM per stride
    /// phase, and the tiled direct convolution joined.
    private static let version = 2

    /// The database at `url`; nil means `<cache>/cnn-gpu/tuning.json`.
    public init(url: URL? = nil) {
        let url = url ?? CacheDirectory.root.appendingPathComponent("tuning.json")
        self.url = url
        let file = Self.read(url)
        devices = file?.devices ?? [:]
        rates = file?.rates ?? [:]
    }

    /// The device part of a key: name and driver version; for the CPU backend, the processor's
    /// name and model, the vector ISA its kernels run and the worker count, each of which moves
    /// which solution wins.
    public static func deviceKey(_ info: DeviceInfo) -> String {
        guard info.backend == "CPU" else { return "\(info.name) | driver \(info.driverVersion)" }
        let model = HostCPU.current.model
        return "\(info.name)\(model.isEmpty ? "" : " (\(model))") | \(info.platform) | \(info.computeUnits) workers"
    }

    public func choice(device: DeviceInfo, problem: ConvolutionProblemKey) -> TunedChoice? {
        choice(device: device, problem: problem.description)
    }

    /// The choice stored under `problem`'s text: a convolution key's description, or another
    /// tuned kernel's name (`OpenCLBackend.clblastGEMMProblem`).
    public func choice(device: DeviceInfo, problem: String) -> TunedChoice? {
        lock.lock(); defer { lock.unlock() }
        return devices[Self.deviceKey(device)]?[problem]
    }

    /// Remembers `choice` and writes the file (merged with its current contents).
    public func record(_ choice: TunedChoice, device: DeviceInfo, problem: ConvolutionProblemKey) throws {
        try record(choice, device: device, problem: problem.description)
    }

    public func record(_ choice: TunedChoice, device: DeviceInfo, problem: String) throws {
        try record(choice, device: device, problem: problem, rates: nil)
    }

    /// Fast tuning's rates stored for `device` under `stamp` (empty if none, or other kernels').
    func solverRates(device: DeviceInfo, stamp: String) -> [String: Double] {
        lock.lock(); defer { lock.unlock() }
        guard let stored = rates[Self.deviceKey(device)], stored.stamp == stamp else { return [:] }
        return stored.gflops
    }

    /// Remembers `choice`, and `rates` when given, and writes the file (merged with its current
    /// contents).
    func record(_ choice: TunedChoice, device: DeviceInfo, problem: String, rates newRates: SolverRates?) throws {
        lock.lock(); defer { lock.unlock() }
        let file = Self.read(url, warn: false)
        var merged = file?.devices ?? [:]
        for (dev, problems) in devices { merged[dev, default: [:]].merge(problems) { _, mine in mine } }
        merged[Self.deviceKey(device), default: [:]][problem] = choice
        devices = merged
        var mergedRates = file?.rates ?? [:]
        var mine = Array(rates)
        if let newRates { mine.append((Self.deviceKey(device), StoredRates(stamp: newRates.stamp, gflops: newRates.snapshot))) }
        for (dev, stored) in mine { mergedRates[dev] = mergedRates[dev].map { $0.merged(with: stored) } ?? stored }
        rates = mergedRates
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            let contents = File(version: Self.version, devices: merged, rates: mergedRates.isEmpty ? nil : mergedRates)
            try CacheDirectory.writeAtomically(try encoder.encode(contents), to: url)
        } catch {
            throw CNNError.invalidArgument("could not write the tuning database \(url.path): \(error.localizedDescription); "
                + "check that the directory is writable or set XDG_CACHE_HOME to one that is")
        }
    }

    /// The stored file, nil when it is missing or unusable (then with a warning).
    private static func read(_ url: URL, warn: Bool = true) -> File? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.version == version else {
            if warn {
                FileHandle.standardError.write(Data(("warning: ignoring the tuning database \(url.path): it is not a "
                    + "version-\(version) cnn-gpu tuning file; it will be rewritten when a problem is tuned\n").utf8))
            }
            return nil
        }
        return file
    }
}
