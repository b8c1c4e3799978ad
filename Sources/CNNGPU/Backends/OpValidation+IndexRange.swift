extension OpValidation {
    /// The OpenCL kernels index with 32-bit `int` (faster on GPUs, and what `launch` passes):
    /// a tensor past `Int32.max` elements is refused here rather than trapping in the
    /// `cl_int` conversion or wrapping around inside a kernel.
    func int32Indexable(_ op: String, elements: Int) throws {
        guard elements <= Int(Int32.max) else {
            throw CNNError.invalidShape(op: op, detail: "\(elements) elements exceed the OpenCL kernels' 32-bit "
                + "indexing (at most \(Int32.max)); split the tensor, e.g. use a smaller batch")
        }
    }
}
