extension OpValidation {
    /// OpenCL kernels index with `int`: every element count they see must fit in one.
    func int32Indexable(_ op: String, _ counts: KeyValuePairs<String, Int>) throws {
        for (name, v) in counts where v > Int(Int32.max) {
            throw CNNError.invalidShape(op: op, detail: "\(name) has \(v) elements, more than the \(Int32.max) "
                + "an OpenCL kernel can index; split the batch")
        }
    }
}
