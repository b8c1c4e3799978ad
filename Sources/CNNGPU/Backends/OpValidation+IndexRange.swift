extension OpValidation {
    /// The OpenCL kernels index with 32-bit `int` (faster on GPUs, and what `launch` passes):
    /// a tensor past `Int32.max` elements is refused here rather than trapping in the
    /// `cl_int` conversion or wrapping around inside a kernel.
    func int32Indexable(_ op: String, _ sizes: KeyValuePairs<String, Int>) throws {
        for (name, v) in sizes where v > Int(Int32.max) {
            throw CNNError.invalidShape(op: op, detail: "\(name) has \(v) elements, more than the \(Int32.max) "
                + "an OpenCL kernel indexes; split the work, e.g. use a smaller batch")
        }
    }
}
