/// Activations as the device code names them.
extension Activation {
    /// The function's code in Kernels/activation_function.cl (its header lists them), which the
    /// blocked C kernels (Sources/CCPUKernels) share.
    var kernelCode: Int {
        switch self {
        case .relu: return 0
        case .leakyReLU: return 1
        case .elu: return 2
        case .sigmoid: return 3
        case .tanh: return 4
        }
    }

    /// The function's parameter, 0 for those without one.
    var alpha: Float {
        switch self {
        case .leakyReLU(let a), .elu(let a): return a
        case .relu, .sigmoid, .tanh: return 0
        }
    }
}

extension Optional<Activation> {
    /// The kernels' code for an optional epilogue: ACT_NONE (-1) for none.
    var kernelCode: Int { map(\.kernelCode) ?? -1 }
}
