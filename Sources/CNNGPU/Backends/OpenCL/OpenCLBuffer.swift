import COpenCL

/// A `cl_mem` owned by one `OpenCLBackend`; released when the last reference goes.
final class OpenCLBuffer: DeviceBuffer {
    let mem: cl_mem
    let count: Int
    let dtype: DType
    let backendID: ObjectIdentifier
    /// For a sub-buffer, the buffer it aliases (kept alive as long as the view is).
    let parent: OpenCLBuffer?

    init(mem: cl_mem, count: Int, dtype: DType, backendID: ObjectIdentifier, parent: OpenCLBuffer? = nil) {
        self.mem = mem; self.count = count; self.dtype = dtype; self.backendID = backendID; self.parent = parent
    }

    deinit { clReleaseMemObject(mem) }
}
