/// The element types a device buffer can hold. Float32 is the compute type; Int32 carries
/// labels and pooling indices.
public enum DType: String, Sendable {
    case float32, int32

    public var byteSize: Int { 4 }
}

/// Memory owned by one backend. Ops check that every buffer they receive belongs to them and
/// is large enough; the contents only move between host and device through explicit
/// `upload` / `download` calls on the backend.
public protocol DeviceBuffer: AnyObject {
    /// Number of elements.
    var count: Int { get }
    var dtype: DType { get }
    /// Identifies the backend instance that allocated the buffer.
    var backendID: ObjectIdentifier { get }
}

extension DeviceBuffer {
    public var byteCount: Int { count * dtype.byteSize }
}
