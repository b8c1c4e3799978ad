extension OpValidation {
    /// The backward passes' checks, naming the buffers as the caller passed them (dx, dy, dw)
    /// so an error says which argument is wrong.
    func convolutionBackward(_ d: Conv2DDescriptor, _ op: String, input: (name: String, buffer: any DeviceBuffer),
                             weight: (name: String, buffer: any DeviceBuffer),
                             output: (name: String, buffer: any DeviceBuffer)) throws {
        try d.validate()
        try buffer(input.buffer, op, input.name, count: d.inputCount)
        try buffer(weight.buffer, op, weight.name, count: d.weightCount)
        try buffer(output.buffer, op, output.name, count: d.outputCount)
    }
}
