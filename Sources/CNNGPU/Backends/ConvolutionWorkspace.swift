import Foundation

/// The workspace of im2col convolution, one buffer per backend, grown on demand and reused by
/// every convolution call on that backend (kept outside the backend classes so they need no
/// stored property for it).
///
/// A backend runs its ops in call order (the OpenCL queue is in-order, the CPU backend is
/// synchronous), so one buffer per backend is safe as long as a backend is not driven from
/// two threads at once, which no backend supports anyway.
enum ConvolutionWorkspace {
    /// The most bytes of workspace (column matrix and packed output) one call uses; bigger
    /// batches run in chunks of images. Tests lower it to exercise chunking.
    nonisolated(unsafe) static var limitBytes = 256 << 20

    private final class Entry {
        weak var owner: (any BackendMemory)?
        var buffer: any DeviceBuffer
        init(owner: any BackendMemory, buffer: any DeviceBuffer) { self.owner = owner; self.buffer = buffer }
    }

    nonisolated(unsafe) private static var entries: [ObjectIdentifier: Entry] = [:]   // guarded by `lock`
    private static let lock = NSLock()

    /// A Float32 buffer of at least `count` elements owned by `backend`.
    static func buffer(for backend: any BackendMemory, count: Int) throws -> any DeviceBuffer {
        lock.lock(); defer { lock.unlock() }
        let key = ObjectIdentifier(backend)
        // The identity check matters: a new backend may reuse a freed one's address.
        if let e = entries[key], e.owner === backend, e.buffer.count >= count { return e.buffer }
        // Grow geometrically so a sequence of slightly bigger layers does not reallocate each time.
        let old = entries[key].flatMap { $0.owner === backend ? $0.buffer.count : nil } ?? 0
        // Free the outgrown buffer (and those of backends that are gone) before allocating.
        entries = entries.filter { $0.value.owner != nil && $0.key != key }
        let grown = max(count, min(old + old / 2, min(limitBytes, backend.info.maxBufferBytes) / 4))
        let buffer = try backend.allocate(grown, dtype: .float32)
        entries[key] = Entry(owner: backend, buffer: buffer)
        return buffer
    }

    /// How many images of `perImage` column elements fit in one chunk: at least one, at most
    /// `batch`, within `limitBytes` and the device's largest buffer.
    static func imagesPerChunk(batch: Int, perImage: Int, maxBufferBytes: Int, op: String) throws -> Int {
        let bytes = perImage * 4
        guard bytes <= maxBufferBytes else {
            throw CNNError.outOfMemory(requestedBytes: bytes,
                detail: "\(op) needs a column buffer of \(bytes >> 20) MiB for one image, more than the "
                    + "device's largest buffer (\(maxBufferBytes >> 20) MiB); use a smaller kernel, input or channel count")
        }
        return max(1, min(batch, min(limitBytes, maxBufferBytes) / max(bytes, 1)))
    }
}
