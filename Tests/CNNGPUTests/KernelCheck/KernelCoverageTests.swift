@testable import CNNGPU
import Foundation
import XCTest

/// Runs last in scripts/check-kernels.sh (after every `KernelCheck*` class, in the same
/// process under oclgrind) and fails if any kernel of Kernels/*.cl was never launched, so a new
/// kernel cannot slip past the checker. Outside that script it does nothing.
final class KernelCoverageTests: XCTestCase {
    func testEveryKernelRanUnderTheChecker() throws {
        guard ProcessInfo.processInfo.environment["CNNGPU_KERNEL_COVERAGE"] != nil else {
            throw XCTSkip("only meaningful after the KernelCheck classes, in scripts/check-kernels.sh")
        }
        let backend = try TestBackends.requireOpenCL("the kernel coverage check")
        // The script greps this line to prove the run used oclgrind's device, not PoCL's.
        print("kernel-check device: \(backend.info.name); platform: \(backend.info.platform)")
        // The device compiler's own list: a source pattern missed kernels declared with
        // attributes before `void` (the local-memory reductions).
        let declared = try backend.programs.declaredKernels()
        XCTAssertFalse(declared.isEmpty, "the built programs declare no kernels")
        let missing = declared.subtracting(backend.programs.createdKernels).sorted()
        XCTAssertEqual(missing, [], "kernels never launched by a KernelCheck test")
        print("kernel-check coverage: \(declared.count - missing.count) of \(declared.count) kernels launched")
    }
}
