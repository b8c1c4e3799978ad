/// Dropout (Kernels/dropout.cl) and element-wise arithmetic (Kernels/elementwise.cl).
extension OpenCLBackend: ElementwiseOps {
    public func dropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                               y: any DeviceBuffer, mask: any DeviceBuffer) throws {
        try validate.dropout(count: count, probability: probability, ["x": x, "y": y, "mask": mask])
        try validate.int32Indexable("dropout", ["elements": count])
        // The scale is computed here, once, so both backends multiply by the same Float.
        try launch("dropout", "dropout_forward_counter", global: [count],
                   [.int(count), .ulong(seed), .float(probability), .float(1 / (1 - probability)),
                    .buffer(x), .buffer(y), .buffer(mask)])
    }

    public func add(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.elementwise("add", count: count, ["a": a, "b": b, "out": out])
        try validate.int32Indexable("add", ["elements": count])
        try launch("elementwise", "add_elementwise", global: [count],
                   [.int(count), .buffer(a), .buffer(b), .buffer(out)])
    }

    public func multiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.elementwise("multiply", count: count, ["a": a, "b": b, "out": out])
        try validate.int32Indexable("multiply", ["elements": count])
        try launch("elementwise", "multiply_elementwise", global: [count],
                   [.int(count), .buffer(a), .buffer(b), .buffer(out)])
    }

    public func scale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.elementwise("scale", count: count, ["x": x, "out": out])
        try validate.int32Indexable("scale", ["elements": count])
        try launch("elementwise", "scale_elementwise", global: [count],
                   [.int(count), .float(alpha), .buffer(x), .buffer(out)])
    }

    public func axpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try validate.elementwise("axpy", count: count, ["x": x, "y": y])
        try validate.int32Indexable("axpy", ["elements": count])
        try launch("elementwise", "axpy_elementwise", global: [count],
                   [.int(count), .float(alpha), .buffer(x), .buffer(y)])
    }
}
