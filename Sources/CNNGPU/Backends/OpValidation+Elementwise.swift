/// Argument checks of the element-wise and bias ops (`ElementwiseOps`, `BiasOps`), shared by
/// every backend.
extension OpValidation {
    func dropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                        y: any DeviceBuffer, mask: any DeviceBuffer) throws {
        guard probability >= 0, probability < 1 else {
            throw CNNError.invalidArgument("dropout: probability must be in [0, 1), got \(probability)")
        }
        try elementwise("dropout", count: count, ["x": x, "y": y, "mask": mask])
    }

    func add(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer,
             activation: Activation? = nil) throws {
        if let activation { try self.activation(activation, "add") }
        try elementwise("add", count: count, ["a": a, "b": b, "out": out])
    }

    func multiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try elementwise("multiply", count: count, ["a": a, "b": b, "out": out])
    }

    func scale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try elementwise("scale", count: count, ["x": x, "out": out])
    }

    func axpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try elementwise("axpy", count: count, ["x": x, "y": y])
    }

    func addBias(_ shape: AxisShape, bias: any DeviceBuffer, y: any DeviceBuffer) throws {
        try axis("add_bias", shape, full: ["y": y], perAxis: ["bias": bias])
    }

    func reduceSum(_ shape: AxisShape, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try axis("reduce_sum", shape, full: ["x": x], perAxis: ["out": out])
    }
}
