import CCPUKernels

/// The instruction set that the C loops of the CPU backend (Sources/CCPUKernels: pooling, batch
/// norm, optimizers, softmax) run with: each call takes the widest one this processor has (Zen 2:
/// AVX2; Zen 4 and 5: AVX-512), so a program linking the library gets it with no build flag or
/// variable set.
enum CPUKernelISA: Int32, CaseIterable, Comparable, Sendable {
    case baseline = 0, avx2 = 1, avx512 = 2

    /// The widest instruction set of this processor.
    static var supported: CPUKernelISA { CPUKernelISA(rawValue: cnn_cpu_isa_supported()) ?? .baseline }

    /// What the kernels use now: `supported`, unless a test capped it.
    static var active: CPUKernelISA { CPUKernelISA(rawValue: cnn_cpu_isa_active()) ?? .baseline }

    /// Runs `body` with the kernels capped at `isa`, so that tests check every variant this
    /// machine can run. The cap is process-wide: not for use while other work runs kernels.
    static func limited<T>(to isa: CPUKernelISA, _ body: () throws -> T) rethrows -> T {
        let previous = cnn_cpu_isa_limit(isa.rawValue)
        defer { cnn_cpu_isa_limit(previous) }
        return try body()
    }

    static func < (a: CPUKernelISA, b: CPUKernelISA) -> Bool { a.rawValue < b.rawValue }
}
