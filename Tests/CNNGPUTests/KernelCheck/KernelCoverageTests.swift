@testable import CNNGPU
import CNNKernels
import Foundation
import XCTest

/// Runs last in scripts/check-kernels.sh (after every `KernelCheck*` class, in the same
/// process under oclgrind) and fails if any kernel in Kernels/*.cl was never launched, so a new
/// kernel cannot slip past the checker. Outside that script it does nothing.
final class KernelCoverageTests: XCTestCase {
    func testEveryKernelRanUnderTheChecker() throws {
        guard ProcessInfo.processInfo.environment["CNNGPU_KERNEL_COVERAGE"] != nil else {
            throw XCTSkip("only meaningful after the KernelCheck classes, in scripts/check-kernels.sh")
        }
        let backend = try XCTUnwrap(TestBackends.openCL, "no OpenCL device")
        let declared = Set(KernelSources.all.flatMap { program, source in
            kernelNames(in: source).map { "\(program)/\($0)" }
        })
        XCTAssertFalse(declared.isEmpty)
        let missing = declared.subtracting(backend.programs.createdKernels).sorted()
        XCTAssertEqual(missing, [], "kernels never launched by a KernelCheck test")
    }

    /// Names of the `__kernel` / `kernel` functions declared in OpenCL C source.
    func kernelNames(in source: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: #"(?:__kernel|\bkernel)\s+void\s+(\w+)"#)
        let range = NSRange(source.startIndex..., in: source)
        return regex.matches(in: source, range: range).compactMap {
            Range($0.range(at: 1), in: source).map { String(source[$0]) }
        }
    }
}
