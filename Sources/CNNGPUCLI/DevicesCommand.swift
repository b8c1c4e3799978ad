import ArgumentParser
import CNNGPU
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List every usable device: OpenCL platforms and devices, and the CPU backend.",
        discussion: "The ID column is what --device takes.")

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        var rows: [(id: String, info: DeviceInfo)] = [("cpu", CPUBackend().info)]
        var openCLProblem: String?
        do {
            let devices = try OpenCLDevice.all()
            rows += devices.map { ("opencl:\($0.index)", $0.info) }
            if devices.isEmpty { openCLProblem = "OpenCL platforms are installed but report no device." }
        } catch {
            openCLProblem = "OpenCL unavailable: \(error)"
        }
        if json {
            printJSON(rows, openCLProblem)
        } else {
            printTable(rows)
            if let openCLProblem { print("\n" + openCLProblem) }
            let auto = (try? DeviceSelection.auto.open())
            if let auto { print("\n--device auto selects \(auto.backend.info.name): \(auto.reason).") }
            let gpus = rows.filter { $0.info.backend == "OpenCL" && ($0.info.kind == .gpu || $0.info.kind == .accelerator) }
            print("--device gpu " + (gpus.isEmpty ? "fails here: no OpenCL GPU or accelerator (PoCL's device is a CPU)."
                                                   : "selects the most capable of \(gpus.map(\.id).joined(separator: ", "))."))
        }
    }

    private func printTable(_ rows: [(id: String, info: DeviceInfo)]) {
        let header = ["ID", "BACKEND", "NAME", "VENDOR", "TYPE", "UNITS", "CLOCK", "MEMORY", "MAX BUFFER", "PEAK FP32", "PLATFORM / DRIVER"]
        let table = rows.map { id, i in
            [id, i.backend, i.name, i.vendor, i.kind.rawValue, "\(i.computeUnits)",
             i.clockMHz > 0 ? "\(i.clockMHz) MHz" : "-", gib(i.globalMemoryBytes), gib(i.maxBufferBytes),
             i.peakGFLOPS.map { String(format: "~%.0f GFLOP/s", $0) } ?? "-",
             [i.platform, i.driverVersion].filter { !$0.isEmpty }.joined(separator: " ")]
        }
        let widths = header.indices.map { c in ([header] + table).map { $0[c].count }.max()! }
        for row in [header] + table {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }

    private func printJSON(_ rows: [(id: String, info: DeviceInfo)], _ problem: String?) {
        let devices: [[String: Any]] = rows.map { id, i in
            ["id": id, "backend": i.backend, "name": i.name, "vendor": i.vendor, "type": i.kind.rawValue,
             "computeUnits": i.computeUnits, "clockMHz": i.clockMHz, "globalMemoryBytes": i.globalMemoryBytes,
             "maxBufferBytes": i.maxBufferBytes, "platform": i.platform, "driverVersion": i.driverVersion,
             "peakGFLOPS": i.peakGFLOPS as Any]
        }
        var object: [String: Any] = ["devices": devices]
        if let problem { object["openclProblem"] = problem }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func gib(_ bytes: Int) -> String { String(format: "%.1f GiB", Double(bytes) / 1_073_741_824) }
}
