/// Which device to run on: `--device auto|cpu|gpu|opencl|opencl:N`, parsed once and shared by
/// every command.
public enum DeviceSelection: Equatable, Sendable, CustomStringConvertible {
    case auto
    case cpu
    /// The most capable OpenCL GPU or accelerator, and an error when there is none: unlike
    /// `auto` it never falls back, and unlike `opencl` it never takes a CPU device (PoCL).
    case gpu
    case openCL(index: Int)

    public init(parsing text: String) throws {
        let t = text.lowercased()
        switch t {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "gpu": self = .gpu
        case "opencl": self = .openCL(index: 0)
        default:
            if t.hasPrefix("opencl:"), let n = Int(t.dropFirst("opencl:".count)), n >= 0 {
                self = .openCL(index: n)
            } else {
                throw CNNError.invalidArgument(
                    "unknown device '\(text)': use auto, cpu, gpu, opencl or opencl:N (N from `cnn-gpu devices`)")
            }
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .gpu: return "gpu"
        case .openCL(let i): return "opencl:\(i)"
        }
    }
}

/// The backend a selection resolved to, and why, so the user is told what runs where.
public struct SelectedBackend {
    public let backend: any Backend
    public let reason: String
    /// The concrete device it resolved to, as `--device` spells it (`cpu`, `opencl:1`).
    public let resolved: String

    public init(backend: any Backend, reason: String, resolved: String? = nil) {
        self.backend = backend
        self.reason = reason
        self.resolved = resolved ?? (backend is CPUBackend ? "cpu" : "opencl")
    }

    /// What the user asked for and what it became, for a run's header: "AMD EPYC (CPU) — --device
    /// auto → cpu: <why>", or "… — requested with --device cpu" when nothing was chosen for them.
    public func headline(requested: String) -> String {
        let device = "\(backend.info.name) (\(backend.info.backend))"
        if requested.lowercased() == resolved { return "\(device) — requested with --device \(requested)" }
        if requested.lowercased() == "opencl" { return "\(device) — requested with --device opencl (\(resolved))" }
        return "\(device) — --device \(requested) → \(resolved): \(reason)"
    }
}

extension DeviceSelection {
    /// Opens the selected device. `.auto` takes the most capable OpenCL GPU or accelerator; when
    /// the only OpenCL devices are CPUs (PoCL), the native CPU backend runs on the same cores
    /// with tuned BLAS and is faster, so it is chosen instead. `profiling` opens OpenCL queues
    /// that record device times (for `--profile`).
    public func open(profiling: Bool = false) throws -> SelectedBackend {
        switch self {
        case .cpu:
            return SelectedBackend(backend: CPUBackend(), reason: "requested with --device cpu", resolved: "cpu")
        case .openCL(let index):
            let backend = try OpenCLBackend(deviceIndex: index, profiling: profiling)
            return SelectedBackend(backend: backend, reason: "requested with --device \(self)", resolved: "opencl:\(index)")
        case .gpu:
            let devices: [OpenCLDevice]
            do { devices = try OpenCLDevice.all() } catch {
                throw CNNError.invalidArgument("--device gpu: no OpenCL platform is usable (\(error)). "
                    + "Use --device cpu, or install a GPU's OpenCL driver (`cnn-gpu devices` says what is found)")
            }
            guard let best = devices.filter({ $0.info.kind == .gpu || $0.info.kind == .accelerator })
                .max(by: { $0.score < $1.score }) else {
                throw CNNError.invalidArgument(Self.noGPUMessage(found: devices.map { "opencl:\($0.index) \($0.info.name) (a \($0.info.kind.rawValue.uppercased()) device)" }))
            }
            return SelectedBackend(backend: try OpenCLBackend(device: best, profiling: profiling),
                                   reason: "the most capable OpenCL GPU/accelerator (\(best.info.computeUnits) compute units)",
                                   resolved: "opencl:\(best.index)")
        case .auto:
            let devices: [OpenCLDevice]
            do { devices = try OpenCLDevice.all() } catch {
                return SelectedBackend(backend: CPUBackend(), reason: "no OpenCL platform is usable (`cnn-gpu devices` says why)",
                                       resolved: "cpu")
            }
            let candidates = devices.filter { $0.info.kind == .gpu || $0.info.kind == .accelerator }
            guard let best = candidates.max(by: { $0.score < $1.score }) else {
                let names = devices.map(\.info.name).joined(separator: ", ")
                return SelectedBackend(backend: CPUBackend(), reason: devices.isEmpty
                    ? "no OpenCL device found"
                    : "the only OpenCL devices (\(names)) run on the CPU, where the native backend is faster", resolved: "cpu")
            }
            do {
                let backend = try OpenCLBackend(device: best, profiling: profiling)
                return SelectedBackend(backend: backend, reason: "the most capable OpenCL GPU/accelerator "
                    + "(\(best.info.computeUnits) compute units)", resolved: "opencl:\(best.index)")
            } catch {
                return SelectedBackend(backend: CPUBackend(), reason: "opencl:\(best.index) failed to open (\(error))", resolved: "cpu")
            }
        }
    }
}

extension DeviceSelection {
    /// What `--device gpu` says when every OpenCL device found (`found`) is a CPU or there is none.
    static func noGPUMessage(found: [String]) -> String {
        "--device gpu asks for an OpenCL GPU or accelerator, and there is none: "
            + (found.isEmpty ? "no OpenCL device was found" : "found only \(found.joined(separator: ", "))")
            + ". Use --device opencl to run on an OpenCL CPU device (PoCL), or --device cpu for the native CPU backend "
            + "(faster on the same cores); `cnn-gpu devices` lists what is installed"
    }
}

extension OpenCLDevice {
    /// A rough capability ranking among OpenCL devices: GPUs first, then compute units × clock.
    var score: Double {
        Double(info.computeUnits) * Double(max(info.clockMHz, 1)) * (info.kind == .gpu ? 4 : 1)
    }
}
