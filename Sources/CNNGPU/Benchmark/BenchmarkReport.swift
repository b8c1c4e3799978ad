import Foundation

/// The Markdown report of `cnn-gpu bench --report`: the machine and its devices, a comparison
/// of the devices op by op and model by model, the chart, and each device's full table.
public enum BenchmarkReport {
    /// `chartFile` is the chart's path relative to the report, when one was written.
    public static func markdown(_ r: BenchmarkResults, chartFile: String?) -> String {
        var md = "# cnn-gpu benchmark (\(r.suite) suite)\n\n"
        md += "Recorded \(r.date) on \(r.machine.cpu), \(r.machine.cores) cores, "
            + String(format: "%.1f GiB, ", Double(r.machine.memoryBytes) / 1_073_741_824)
            + r.machine.operatingSystem + String(format: "; the run took %.0f s.\n\n", r.totalSeconds)
        md += "## Devices\n\n"
        md += row(["device", "name", "platform / driver", "units", "setup s", "GEMM GFLOP/s", "theoretical GFLOP/s",
                   "copy GB/s", "device time"])
        md += row(Array(repeating: "---", count: 9))
        for d in r.devices {
            let c = d.calibration
            md += row([d.id, d.name, [d.platform, d.driver].filter { !$0.isEmpty }.joined(separator: ", "),
                       "\(d.computeUnits)", String(format: "%.1f", d.setupSeconds),
                       String(format: "%.1f (%d³", c.gemmGFLOPS, c.gemmSize) + (c.gemmPath.map { ", " + $0 } ?? "") + ")",
                       c.theoreticalPeakGFLOPS.map { String(format: "~%.0f", $0) + BenchmarkTable.peakCaveat(c) } ?? "–",
                       String(format: "%.1f", c.bandwidthGBps),
                       d.deviceTimestamps ? "OpenCL profiling events" : "wall clock"])
        }
        if let chartFile { md += "\n![devices compared](\(chartFile))\n" }
        md += comparison(r)
        for d in r.devices {
            md += "\n## \(d.id): \(d.name)\n\n```\n" + BenchmarkTable.deviceHeader(d) + "\n\n"
            if !d.ops.isEmpty { md += BenchmarkTable.opsTable(d) + "\n" }
            if !d.models.isEmpty { md += BenchmarkTable.modelsTable(d) }
            md += "```\n"
            for note in d.notes { md += "- \(note)\n" }
        }
        return md
    }

    /// One row per benchmark, one column per device: the rate and its share of that device's
    /// calibrated rate for ops, images/s for models.
    private static func comparison(_ r: BenchmarkResults) -> String {
        let ids = r.devices.map(\.id)
        var md = ""
        let ops = orderedUnique(r.devices.flatMap { $0.ops.map { BenchmarkChart.opLabel($0) } })
        if !ops.isEmpty {
            md += "\n## Ops compared\n\nRate at the median device time; in brackets, its share of the device's "
                + "calibrated GEMM rate (the faster of its BLAS SGEMM and a 1×1 convolution; compute-bound ops) or copy bandwidth (memory-bound ops).\n\n"
            md += row(["op", "shape"] + ids.flatMap { ["\($0)", "\($0) algorithm"] })
            md += row(Array(repeating: "---", count: 2 + 2 * ids.count))
            for label in ops {
                let found = r.devices.map { d in d.ops.first { BenchmarkChart.opLabel($0) == label } }
                let shape = found.compactMap { $0?.shape }.first ?? ""
                md += row([label, shape] + found.flatMap { o -> [String] in
                    guard let o else { return ["–", "–"] }
                    return [BenchmarkTable.rate(o) + " (" + BenchmarkTable.percent(o.shareOfCalibrated) + ")", o.algorithm]
                })
            }
        }
        let models = orderedUnique(r.devices.flatMap { $0.models.map { BenchmarkChart.modelLabel($0) } })
        if !models.isEmpty {
            md += "\n## Models compared\n\nImages per second at the median wall-clock time of a step; planned memory "
                + "is the memory plan's activations, parameters and gradients (and optimizer state when training).\n\n"
            md += row(["model", "planned"] + ids.map { "\($0) images/s" })
            md += row(Array(repeating: "---", count: 2 + ids.count))
            for label in models {
                let found = r.devices.map { d in d.models.first { BenchmarkChart.modelLabel($0) == label } }
                let planned = found.compactMap { $0?.plannedBytes }.first.map(BenchmarkTable.mib) ?? ""
                md += row([label, planned] + found.map { m in m.map { String(format: "%.1f", $0.imagesPerSecond) } ?? "–" })
            }
        }
        return md
    }

    private static func row(_ cells: [String]) -> String {
        "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
    }

    private static func orderedUnique(_ keys: [String]) -> [String] {
        var seen = Set<String>()
        return keys.filter { seen.insert($0).inserted }
    }
}
