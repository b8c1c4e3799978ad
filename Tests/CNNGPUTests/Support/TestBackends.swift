import CNNGPU
import Foundation
import XCTest

/// The backends every op test runs on: the CPU backend always, and the first OpenCL device
/// when one is installed (PoCL here). Created once per test process so programs are built once.
enum TestBackends {
    static let cpu = CPUBackend()

    static let openCL: OpenCLBackend? = {
        do { return try OpenCLBackend(deviceIndex: 0) } catch {
            // CI sets CNNGPU_REQUIRE_OPENCL so a missing PoCL fails instead of silently skipping.
            if ProcessInfo.processInfo.environment["CNNGPU_REQUIRE_OPENCL"] != nil {
                fatalError("CNNGPU_REQUIRE_OPENCL is set but no OpenCL device opened: \(error)")
            }
            print("note: no OpenCL device, OpenCL tests skipped: \(error)")
            return nil
        }
    }()

    static var all: [any BackendMemory] { [cpu] + (openCL.map { [$0] } ?? []) }

    /// The backends that implement op family `T` (e.g. `(any PoolingOps).self`).
    static func conforming<T>(_: T.Type) -> [T] { all.compactMap { $0 as? T } }
}

extension BackendMemory {
    var testName: String { info.backend }
}
