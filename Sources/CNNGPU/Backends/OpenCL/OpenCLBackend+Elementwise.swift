/// Dropout (Kernels/dropout.cl) and element-wise arithmetic (Kernels/elementwise.cl).
extension OpenCLBackend: ElementwiseOps {
    public func encodeDropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                                     y: any DeviceBuffer, mask: any DeviceBuffer) throws {
        // The scale is computed here, once, so both backends multiply by the same Float.
        try launch("dropout", "dropout_forward_counter", global: [count],
                   [.int(count), .ulong(seed), .float(probability), .float(1 / (1 - probability)),
                    .buffer(x), .buffer(y), .buffer(mask)])
    }

    public func encodeAdd(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer,
                          activation: Activation?) throws {
        try launchStreaming("elementwise", "add_elementwise", count: count,
                   [.int(count), .int(activation.kernelCode), .float(activation?.alpha ?? 0), .buffer(a), .buffer(b),
                    .buffer(out)])
    }

    public func encodeMultiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try launchStreaming("elementwise", "multiply_elementwise", count: count,
                   [.int(count), .buffer(a), .buffer(b), .buffer(out)])
    }

    public func encodeScale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try launchStreaming("elementwise", "scale_elementwise", count: count,
                   [.int(count), .float(alpha), .buffer(x), .buffer(out)])
    }

    public func encodeAxpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try launchStreaming("elementwise", "axpy_elementwise", count: count,
                   [.int(count), .float(alpha), .buffer(x), .buffer(y)])
    }
}
