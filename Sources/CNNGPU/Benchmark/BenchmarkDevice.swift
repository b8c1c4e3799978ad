/// A device to benchmark, as `--devices` names it.
public struct BenchmarkDevice: Sendable {
    /// "cpu" or "opencl:N".
    public let id: String
    let selection: DeviceSelection

    /// Opens the device; an OpenCL queue records device timestamps.
    func open() throws -> any Backend {
        switch selection {
        case .openCL(let index): return try OpenCLBackend(deviceIndex: index, profiling: true)
        case .gpu: return try selection.open(profiling: true).backend
        case .cpu, .auto: return CPUBackend()
        }
    }

    /// Parses `all`, `cpu`, `opencl` or `opencl:N`, or a comma-separated list of them. `all` is
    /// the CPU backend and every OpenCL device there is.
    public static func parse(_ text: String) throws -> [BenchmarkDevice] {
        var devices: [BenchmarkDevice] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            if part == "all" {
                devices.append(BenchmarkDevice(id: "cpu", selection: .cpu))
                let openCL = (try? OpenCLDevice.all()) ?? []
                devices += openCL.map { BenchmarkDevice(id: "opencl:\($0.index)", selection: .openCL(index: $0.index)) }
                continue
            }
            let selection = try DeviceSelection(parsing: part)
            guard selection != .auto else {
                throw CNNError.invalidArgument("--devices takes all, cpu, opencl or opencl:N (comma-separated), not auto")
            }
            devices.append(BenchmarkDevice(id: selection.description, selection: selection))
        }
        var seen = Set<String>()
        devices = devices.filter { seen.insert($0.id).inserted }
        guard !devices.isEmpty else {
            throw CNNError.invalidArgument("--devices is empty: give all, cpu, opencl or opencl:N (comma-separated)")
        }
        return devices
    }
}
