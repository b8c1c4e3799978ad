import Foundation

extension DeviceSelection {
    /// Parses `--device` for one rank: a single device for every rank, or a comma-separated
    /// list with one entry per rank on a machine (`opencl:0,opencl:1`), picked by local rank.
    public init(parsing text: String, localRank: Int) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { try self.init(parsing: text); return }
        guard localRank < parts.count else {
            throw CNNError.invalidArgument("--device \(text) lists \(parts.count) devices, but this is local rank \(localRank): "
                + "give one device per rank on a machine, or a single device for all")
        }
        try self.init(parsing: parts[localRank])
    }

    /// Opens the device of one of `localSize` ranks on a machine. `.auto` gives each rank its own
    /// OpenCL GPU (`opencl:<local rank>` among the GPUs and accelerators) when there are enough
    /// for every local rank, and the native CPU backend otherwise; other selections open as given.
    /// A CPU backend gets its rank's share of the cores: its workers spin for a moment after
    /// each op before they sleep (libgomp's team, worker_team.c), which on cores another rank
    /// needs is time taken from that rank.
    public func open(localRank: Int, localSize: Int, profiling: Bool = false) throws -> SelectedBackend {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        func cpuShare() -> CPUBackend { CPUBackend(threads: max(1, cores / max(1, localSize))) }
        if self == .cpu {
            let share = cpuShare()
            return SelectedBackend(backend: share, reason: "requested with --device cpu (\(share.threads) of \(cores) cores "
                + "for each of \(localSize) ranks on this machine)", resolved: "cpu")
        }
        guard self == .auto else { return try open(profiling: profiling) }
        let gpus = ((try? OpenCLDevice.all()) ?? []).filter { $0.info.kind == .gpu || $0.info.kind == .accelerator }
        guard gpus.count >= localSize, localRank < gpus.count else {
            let share = cpuShare()
            return SelectedBackend(backend: share, reason: "\(localSize) ranks on this machine and \(gpus.count) OpenCL "
                + "GPUs: one GPU per rank is needed, so the CPU backend runs on \(share.threads) of \(cores) cores "
                + "(give --device per rank to choose)")
        }
        let device = gpus[localRank]
        return SelectedBackend(backend: try OpenCLBackend(device: device, profiling: profiling),
                               reason: "local rank \(localRank)'s OpenCL GPU (opencl:\(device.index))")
    }
}
