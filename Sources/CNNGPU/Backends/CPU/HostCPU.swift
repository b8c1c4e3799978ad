import Foundation

/// Facts about the host processor read from /proc/cpuinfo: the name, the vector extensions,
/// and an estimated FP32 peak.
public struct HostCPU: Sendable {
    public let name: String
    public let cores: Int
    public let clockMHz: Int
    public let flags: Set<String>
    /// "family 25 model 1" (x86's CPUID family and model), or "" where /proc/cpuinfo has none:
    /// virtual machines often name every generation alike ("AMD EPYC").
    public let model: String

    public static let current = HostCPU()

    init() {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ key: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(key) }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        name = field("model name") ?? "host CPU"
        cores = ProcessInfo.processInfo.activeProcessorCount
        let sysMax = (try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map { $0 / 1000 }
        clockMHz = sysMax ?? Int(Double(field("cpu MHz") ?? "") ?? 0)
        flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        model = [("family", field("cpu family")), ("model", field("model\t"))]
            .compactMap { label, value in value.map { "\(label) \($0)" } }.joined(separator: " ")
    }

    /// FP32 FLOPs per cycle per core, assuming two FMA pipes (true of current x86 server cores).
    public var flopsPerCycle: Int {
        if flags.contains("avx512f") { return 64 }
        if flags.contains("avx2") && flags.contains("fma") { return 32 }
        if flags.contains("avx") { return 16 }
        return 8
    }

    /// Estimated FP32 peak of all cores at the reported clock; nil when the clock is unknown.
    public var peakGFLOPS: Double? {
        clockMHz > 0 ? Double(cores * flopsPerCycle * clockMHz) / 1000 : nil
    }
}
