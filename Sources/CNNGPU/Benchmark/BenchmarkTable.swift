import Foundation

/// The terminal view of benchmark results, in the style of ncnn's benchmark: a header per
/// device (what it is, its calibrated rates), then one row per op and per model.
public enum BenchmarkTable {
    public static func text(_ r: BenchmarkResults) -> String {
        var out = "cnn-gpu bench, \(r.suite) suite, \(r.machine.cpu) (\(r.machine.cores) cores), "
            + String(format: "%.0f s\n", r.totalSeconds)
        for d in r.devices {
            out += "\n" + deviceHeader(d) + "\n"
            if !d.ops.isEmpty { out += "\n" + opsTable(d) }
            if !d.models.isEmpty { out += "\n" + modelsTable(d) }
            for note in d.notes { out += "note: \(note)\n" }
        }
        return out
    }

    static func opsTable(_ d: DeviceResults) -> String {
        columns(["op", "pass", "shape", "algorithm", "median ms", "min–max ms", "device ms", "rate", "of calibrated"],
                d.ops.map { o in
                    [o.name, o.direction, o.shape, o.algorithm, ms(o.wall.medianMs),
                     ms(o.wall.minMs) + "–" + ms(o.wall.maxMs), ms(o.device.medianMs), rate(o),
                     percent(o.shareOfCalibrated)]
                }, rightAligned: [4, 5, 6, 7, 8])
    }

    static func modelsTable(_ d: DeviceResults) -> String {
        columns(["model", "input", "batch", "mode", "images/s", "median ms", "min–max ms", "device ms", "planned"],
                d.models.map { m in
                    [m.model, shape(m.input), "\(m.batch)", m.mode, String(format: "%.1f", m.imagesPerSecond),
                     ms(m.wall.medianMs), ms(m.wall.minMs) + "–" + ms(m.wall.maxMs), ms(m.device.medianMs),
                     mib(m.plannedBytes)]
                }, rightAligned: [2, 4, 5, 6, 7, 8])
    }

    static func deviceHeader(_ d: DeviceResults) -> String {
        let c = d.calibration
        let peak = c.theoreticalPeakGFLOPS.map { String(format: " (theoretical peak ~%.0f", $0) + peakCaveat(c) + ")" } ?? ""
        return "== \(d.id): \(d.name) (\(d.backend), \(d.computeUnits) compute units; \(d.platform)"
            + (d.driver.isEmpty ? "" : ", driver \(d.driver)") + ")\n"
            + String(format: "   setup %.1f s · GEMM %d³ %.1f GFLOP/s", d.setupSeconds, c.gemmSize, c.gemmGFLOPS)
            + peak + String(format: " · copy %.1f GB/s · device time from ", c.bandwidthGBps)
            + (d.deviceTimestamps ? "OpenCL profiling events" : "the wall clock")
            + gemmPaths(c)
    }

    /// The peak is estimated at the clock the OS reports, which a virtual machine gives as its
    /// base clock: cores that boost above it measure more than the "peak" (409 against 332 on a
    /// Zen 5 VM reporting 2.6 GHz).
    static func peakCaveat(_ c: Calibration) -> String {
        guard let peak = c.theoreticalPeakGFLOPS, c.gemmGFLOPS > peak else { return "" }
        return " at the reported clock; the cores run faster"
    }

    /// Which path set the GEMM reference, and both paths' rates.
    static func gemmPaths(_ c: Calibration) -> String {
        guard let path = c.gemmPath, let blas = c.blasGEMMGFLOPS, let convolution = c.convolutionGEMMGFLOPS else { return "" }
        return String(format: "\n   GEMM reference: %@; BLAS SGEMM %.1f GFLOP/s, as a 1×1 convolution %.1f",
                      path, blas, convolution)
    }

    /// Left-aligned columns, numbers right-aligned, two spaces apart.
    static func columns(_ header: [String], _ rows: [[String]], rightAligned: Set<Int>) -> String {
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
        return ([header] + rows).map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }

    static func ms(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 1 ? String(format: "%.2f", v) : String(format: "%.3f", v)
    }

    static func rate(_ o: OpResult) -> String {
        String(format: "%.1f ", o.rate) + (o.bound == .compute ? "GFLOP/s" : "GB/s")
    }

    static func percent(_ v: Double) -> String { String(format: "%.0f%%", v * 100) }

    static func shape(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "×") }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
