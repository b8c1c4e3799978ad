/// Host memory owned by a `CPUBackend`, 64-byte aligned for the vector units.
final class CPUBuffer: DeviceBuffer {
    let raw: UnsafeMutableRawPointer
    let count: Int
    let dtype: DType
    let backendID: ObjectIdentifier
    /// For a view, the buffer whose memory it aliases (kept alive, never freed by the view).
    private let parent: CPUBuffer?

    init(count: Int, dtype: DType, backendID: ObjectIdentifier) {
        self.raw = UnsafeMutableRawPointer.allocate(byteCount: count * dtype.byteSize, alignment: 64)
        self.count = count; self.dtype = dtype; self.backendID = backendID; self.parent = nil
    }

    init(viewOf parent: CPUBuffer, offset: Int, count: Int) {
        self.raw = parent.raw + offset * parent.dtype.byteSize
        self.count = count; self.dtype = parent.dtype; self.backendID = parent.backendID
        self.parent = parent.parent ?? parent
    }

    deinit { if parent == nil { raw.deallocate() } }

    var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    var ints: UnsafeMutablePointer<Int32> { raw.assumingMemoryBound(to: Int32.self) }
}
