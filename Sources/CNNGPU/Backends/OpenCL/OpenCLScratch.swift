import Foundation

/// Temporary device memory for ops that need it (per-row losses, partial sums): named slots,
/// one pool per `OpenCLBackend`, reused from call to call.
///
/// Ops never wait for the device, so a scratch buffer must outlive commands still queued when
/// the op returns. OpenCL allows releasing a buffer that queued commands use, but not every
/// implementation honours that (oclgrind frees it at once), so a slot's buffer is never released
/// while its backend lives: slots only grow, by doubling, and an outgrown buffer is kept too
/// (at most as much again).
final class OpenCLScratch {
    private var slots: [String: any DeviceBuffer] = [:]
    private var outgrown: [any DeviceBuffer] = []
    private let lock = NSLock()
    private unowned let backend: OpenCLBackend

    private init(backend: OpenCLBackend) { self.backend = backend }

    /// Runs `body` (which enqueues an op) with exclusive use of `backend`'s scratch, so that
    /// two threads enqueueing ops on one backend never share a slot.
    static func using<R>(_ backend: OpenCLBackend, _ body: (OpenCLScratch) throws -> R) throws -> R {
        let scratch = Registry.shared.scratch(for: backend)
        scratch.lock.lock()
        defer { scratch.lock.unlock() }
        return try body(scratch)
    }

    /// A Float32 buffer of at least `count` elements, the same one each time for a slot (its
    /// contents are whatever the last op left there).
    func buffer(_ slot: String, count: Int) throws -> any DeviceBuffer {
        if let b = slots[slot], b.count >= count { return b }
        let previous = slots[slot]
        let b = try backend.allocate(max(count, 2 * (previous?.count ?? 0), 64), dtype: .float32)
        // Written once from the host: oclgrind keeps the uninitialized-memory shadow of a released
        // buffer for the next one with its id, and only a host write refreshes it, so without
        // this the kernel checks' verdict on a slot depends on what earlier tests allocated.
        try backend.upload([Float](repeating: 0, count: b.count), to: b)
        if let previous { outgrown.append(previous) }
        slots[slot] = b
        return b
    }

    /// The pools of the live backends. Keyed by object identity and checked through a weak
    /// reference, since a new backend may reuse a released one's address; the pools of released
    /// backends are dropped at the next look-up.
    private final class Registry: @unchecked Sendable {
        static let shared = Registry()
        private final class Entry {
            weak var backend: OpenCLBackend?
            let scratch: OpenCLScratch
            init(_ backend: OpenCLBackend) { self.backend = backend; scratch = OpenCLScratch(backend: backend) }
        }
        private var entries: [ObjectIdentifier: Entry] = [:]
        private let lock = NSLock()

        func scratch(for backend: OpenCLBackend) -> OpenCLScratch {
            lock.lock()
            defer { lock.unlock() }
            let id = ObjectIdentifier(backend)
            if let entry = entries[id], entry.backend === backend { return entry.scratch }
            entries = entries.filter { $0.value.backend != nil }
            let entry = Entry(backend)
            entries[id] = entry
            return entry.scratch
        }
    }
}
