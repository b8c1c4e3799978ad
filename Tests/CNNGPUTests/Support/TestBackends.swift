import CNNGPU
import Foundation
import XCTest

/// The backends every op test runs on: the CPU backend always, and the first OpenCL device
/// when one is installed (PoCL here). Created once per test process so programs are built once.
/// A missing OpenCL device fails the run under CNNGPU_REQUIRE_OPENCL (CI sets it), and
/// otherwise turns OpenCL-only checks into visible skips, never silent passes.
enum TestBackends {
    static let cpu = CPUBackend()

    static var openCLRequired: Bool { ProcessInfo.processInfo.environment["CNNGPU_REQUIRE_OPENCL"] != nil }

    static let openCL: OpenCLBackend? = open("OpenCL", policy: nil)

    /// The same device making a GPU's algorithm choices (im2col + CLBlast, work-group softmax),
    /// so CI runs them end to end on PoCL, whose device is a CPU.
    static let openCLGPUPolicy: OpenCLBackend? = open("OpenCL (GPU policy)", policy: .gpu)

    private static func open(_ name: String, policy: DevicePolicy?) -> OpenCLBackend? {
        do { return try OpenCLBackend(deviceIndex: 0, policy: policy) } catch {
            if openCLRequired {
                fatalError("CNNGPU_REQUIRE_OPENCL is set but \(name) did not open: \(error)")
            }
            print("note: no OpenCL device, \(name) tests skipped: \(error)")
            return nil
        }
    }

    /// The CPU backend and the OpenCL one (when present): what every op test runs on.
    static var all: [any Backend] { [cpu] + (openCL.map { [$0] } ?? []) }

    /// `all` and the OpenCL device under the GPU policy: what model and training tests run on.
    static var withGPUPolicy: [any Backend] { all + (openCLGPUPolicy.map { [$0] } ?? []) }

    /// The backends as op family `T` (e.g. `(any PoolingOps).self`). A backend that does not
    /// implement it is a failure, not a backend quietly left out.
    static func conforming<T>(_: T.Type, file: StaticString = #filePath, line: UInt = #line) -> [T] {
        all.compactMap { backend in
            guard let ops = backend as? T else {
                XCTFail("\(backend.testName) does not implement \(T.self)", file: file, line: line)
                return nil
            }
            return ops
        }
    }

    /// The OpenCL backend for a check that needs it, or a skip that names what did not run.
    static func requireOpenCL(_ what: String = #function) throws -> OpenCLBackend {
        guard let openCL else { throw XCTSkip("\(what) did not run: no OpenCL device") }
        return openCL
    }

    /// Ends a test whose OpenCL-vs-CPU cross-check had only the CPU as skipped (its CPU checks
    /// have run and count), so a machine without OpenCL does not report it as passed.
    static func skipUnlessCrossChecked(_ what: String = "the OpenCL vs CPU cross-check") throws {
        _ = try requireOpenCL(what)
    }
}

extension BackendMemory {
    /// "CPU", "OpenCL", or "OpenCL (GPU policy)".
    var testName: String {
        if let cl = self as? OpenCLBackend, cl.policy == .gpu, cl.info.kind == .cpu { return "OpenCL (GPU policy)" }
        return info.backend
    }
}
