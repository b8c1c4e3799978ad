/// Which device to run on: `--device auto|cpu|opencl|opencl:N`, parsed once and shared by
/// every command.
public enum DeviceSelection: Equatable, Sendable, CustomStringConvertible {
    case auto
    case cpu
    case openCL(index: Int)

    public init(parsing text: String) throws {
        let t = text.lowercased()
        switch t {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl", "gpu": self = .openCL(index: 0)
        default:
            if t.hasPrefix("opencl:"), let n = Int(t.dropFirst("opencl:".count)), n >= 0 {
                self = .openCL(index: n)
            } else {
                throw CNNError.invalidArgument(
                    "unknown device '\(text)': use auto, cpu, opencl or opencl:N (N from `cnn-gpu devices`)")
            }
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .openCL(let i): return "opencl:\(i)"
        }
    }
}

/// The backend a selection resolved to, and why, so the user is told what runs where.
public struct SelectedBackend {
    public let backend: any Backend
    public let reason: String
}

extension DeviceSelection {
    /// Opens the selected device. `.auto` takes the most capable OpenCL GPU or accelerator; when
    /// the only OpenCL devices are CPUs (PoCL), the native CPU backend runs on the same cores
    /// with tuned BLAS and is faster, so it is chosen instead. `profiling` opens OpenCL queues
    /// that record device times (for `--profile`).
    public func open(profiling: Bool = false) throws -> SelectedBackend {
        switch self {
        case .cpu:
            return SelectedBackend(backend: CPUBackend(), reason: "requested with --device cpu")
        case .openCL(let index):
            let backend = try OpenCLBackend(deviceIndex: index, profiling: profiling)
            return SelectedBackend(backend: backend, reason: "requested with --device \(self)")
        case .auto:
            let devices: [OpenCLDevice]
            do { devices = try OpenCLDevice.all() } catch {
                return SelectedBackend(backend: CPUBackend(), reason: "no OpenCL platform is usable (`cnn-gpu devices` says why)")
            }
            let candidates = devices.filter { $0.info.kind == .gpu || $0.info.kind == .accelerator }
            guard let best = candidates.max(by: { $0.score < $1.score }) else {
                let names = devices.map(\.info.name).joined(separator: ", ")
                return SelectedBackend(backend: CPUBackend(), reason: devices.isEmpty
                    ? "no OpenCL device found"
                    : "the only OpenCL devices (\(names)) run on the CPU, where the native backend is faster")
            }
            do {
                let backend = try OpenCLBackend(device: best, profiling: profiling)
                return SelectedBackend(backend: backend, reason: "the most capable OpenCL GPU/accelerator "
                    + "(opencl:\(best.index), \(best.info.computeUnits) compute units)")
            } catch {
                return SelectedBackend(backend: CPUBackend(), reason: "opencl:\(best.index) failed to open (\(error))")
            }
        }
    }
}

extension OpenCLDevice {
    /// A rough capability ranking among OpenCL devices: GPUs first, then compute units × clock.
    var score: Double {
        Double(info.computeUnits) * Double(max(info.clockMHz, 1)) * (info.kind == .gpu ? 4 : 1)
    }
}
