/// Host memory owned by a `CPUBackend`, 64-byte aligned for the vector units.
final class CPUBuffer: DeviceBuffer {
    let raw: UnsafeMutableRawPointer
    let count: Int
    let dtype: DType
    let backendID: ObjectIdentifier

    init(count: Int, dtype: DType, backendID: ObjectIdentifier) {
        self.raw = UnsafeMutableRawPointer.allocate(byteCount: count * dtype.byteSize, alignment: 64)
        self.count = count; self.dtype = dtype; self.backendID = backendID
    }

    deinit { raw.deallocate() }

    var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    var ints: UnsafeMutablePointer<Int32> { raw.assumingMemoryBound(to: Int32.self) }
}
