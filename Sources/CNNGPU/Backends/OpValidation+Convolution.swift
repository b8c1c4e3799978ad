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

    /// OpenCL kernels index with `int`: every element count they see must fit in one.
    func int32Indexable(_ op: String, _ counts: KeyValuePairs<String, Int>) throws {
        for (name, v) in counts where v > Int(Int32.max) {
            throw CNNError.invalidShape(op: op, detail: "\(name) has \(v) elements, more than the \(Int32.max) "
                + "an OpenCL kernel can index; split the batch")
        }
    }
}
