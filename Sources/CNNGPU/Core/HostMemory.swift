import Foundation

/// How much host memory this process may really use: the smallest of physical RAM, the
/// cgroup limit (containers, systemd slices) and the address-space limit (`ulimit -v`).
/// Physical RAM alone is the wrong budget: a plan that fits the machine but not the container
/// is killed by the kernel's OOM killer with no message, instead of refused with one.
public enum HostMemory {
    /// Bytes the process may allocate in all, never more than physical memory.
    public static var limitBytes: Int {
        var limit = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        if let cgroup = cgroupLimitBytes() { limit = min(limit, cgroup) }
        var rl = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max {
            limit = min(limit, Int(clamping: rl.rlim_cur))
        }
        return limit
    }

    /// Bytes available now: the limit, further capped by the kernel's MemAvailable (memory not
    /// needed by others, page cache included) plus what this process already holds.
    public static var availableBytes: Int {
        var available = limitBytes
        if let free = meminfoAvailableBytes() {
            available = min(available, free.addingReportingOverflow(residentBytes()).partialValue)
        }
        return available
    }

    /// cgroup v2 `memory.max` or v1 `memory.limit_in_bytes` of this process's group; nil if none.
    static func cgroupLimitBytes() -> Int? {
        var paths = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        // The process's own group: cgroup v2 "0::/path", v1 "N:memory:/path" (often mounted
        // as "/" inside a container, so both the root and the named path are tried).
        if let own = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) {
            for line in own.split(separator: "\n") {
                let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count == 3, fields[2] != "/" else { continue }
                if fields[1].isEmpty { paths.append("/sys/fs/cgroup\(fields[2])/memory.max") }
                if fields[1].split(separator: ",").contains("memory") {
                    paths.append("/sys/fs/cgroup/memory\(fields[2])/memory.limit_in_bytes")
                }
            }
        }
        let limits = paths.compactMap { path -> Int? in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            // "max" (v2) or a huge number (v1) means no limit.
            guard let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), value < (1 << 60) else { return nil }
            return value
        }
        return limits.min()
    }

    private static func meminfoAvailableBytes() -> Int? {
        meminfoField("/proc/meminfo", "MemAvailable:")
    }

    static func residentBytes() -> Int {
        meminfoField("/proc/self/status", "VmRSS:") ?? 0
    }

    /// A "Name:   1234 kB" field of a /proc file, in bytes.
    private static func meminfoField(_ path: String, _ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
              let kib = Int(line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") else { return nil }
        return kib.multipliedReportingOverflow(by: 1024).overflow ? nil : kib * 1024
    }
}
