import COpenCL

/// A `cl_mem` owned by one `OpenCLBackend`; released when the last reference goes.
final class OpenCLBuffer: DeviceBuffer {
    let mem: cl_mem
    let count: Int
    let dtype: DType
    let backendID: ObjectIdentifier

    init(mem: cl_mem, count: Int, dtype: DType, backendID: ObjectIdentifier) {
        self.mem = mem; self.count = count; self.dtype = dtype; self.backendID = backendID
    }

    deinit { clReleaseMemObject(mem) }
}
