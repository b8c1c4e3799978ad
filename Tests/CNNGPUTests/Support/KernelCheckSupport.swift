import CNNGPU

extension BackendMemory {
    /// A zero-filled buffer written from the host. oclgrind 21.10 keeps the uninitialized-memory
    /// shadow of a released buffer and hands it to the next buffer that reuses its id, so
    /// kernel-written elements past the end of a smaller old shadow read as "uninitialized"; a
    /// host write refreshes the shadow. Kernel checks allocate their outputs with this.
    func hostInitialized(_ count: Int, dtype: DType = .float32) throws -> any DeviceBuffer {
        let b = try allocate(count, dtype: dtype)
        if dtype == .int32 { try uploadInt32([Int32](repeating: 0, count: count), to: b) }
        else { try upload([Float](repeating: 0, count: count), to: b) }
        return b
    }
}
