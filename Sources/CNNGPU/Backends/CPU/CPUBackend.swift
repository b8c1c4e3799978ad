import CCPUKernels
import Foundation

/// The native CPU backend: the fallback for users without a usable OpenCL device. Ops run
/// synchronously on the calling thread, spread over all cores; GEMM-shaped work and the wide
/// convolutions go to oneDNN.
public final class CPUBackend: BackendMemory {
    public let info: DeviceInfo
    /// Worker threads used by the element-wise and reduction loops.
    public let threads: Int

    public init(threads: Int? = nil) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        self.threads = max(1, threads ?? cores)
        // What this process may use (cgroup, ulimit), not the machine's RAM: see HostMemory.
        let memory = HostMemory.limitBytes
        let cpu = HostCPU.current
        self.info = DeviceInfo(backend: "CPU", name: cpu.name, vendor: "host", kind: .cpu,
                               computeUnits: self.threads, clockMHz: cpu.clockMHz, globalMemoryBytes: memory,
                               maxBufferBytes: memory, maxIndexableElements: Int.max, platform: "native, oneDNN \(OneDNN.isa) kernels",
                               driverVersion: "", peakGFLOPS: cpu.peakGFLOPS)
    }

    // MARK: Memory

    public func allocate(_ count: Int, dtype: DType) throws -> any DeviceBuffer {
        guard count > 0 else {
            throw CNNError.invalidShape(op: "allocate", detail: "element count must be positive, got \(count)")
        }
        let bytes = count * dtype.byteSize
        guard bytes <= info.globalMemoryBytes else {
            throw CNNError.outOfMemory(requestedBytes: bytes, detail: "more than this machine's \(info.globalMemoryBytes >> 30) GiB")
        }
        return CPUBuffer(count: count, dtype: dtype, backendID: ObjectIdentifier(self))
    }

    public func encodeUpload(_ values: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, elementOffset: Int) throws {
        let e = buffer.dtype.byteSize, b = buffer as! CPUBuffer
        guard let base = values.baseAddress else { return }
        (b.raw + elementOffset * e).copyMemory(from: base, byteCount: values.count)
    }

    public func encodeDownload(_ buffer: any DeviceBuffer, elementOffset: Int, into values: UnsafeMutableRawBufferPointer) throws {
        let e = buffer.dtype.byteSize, b = buffer as! CPUBuffer
        guard let base = values.baseAddress else { return }
        base.copyMemory(from: b.raw + elementOffset * e, byteCount: values.count)
    }

    public func encodeCopyStrided(rows: Int, rowLength: Int, src: any DeviceBuffer, srcOffset: Int, srcStride: Int,
                                  dst: any DeviceBuffer, dstOffset: Int, dstStride: Int) throws {
        let s = src as! CPUBuffer, d = dst as! CPUBuffer
        let e = src.dtype.byteSize
        parallelFor(rows, grain: max(1, 16_384 / rowLength)) { r in
            for row in r {
                (d.raw + (dstOffset + row * dstStride) * e)
                    .copyMemory(from: s.raw + (srcOffset + row * srcStride) * e, byteCount: rowLength * e)
            }
        }
    }

    public func encodeFill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        (ptr(buffer) + offset).update(repeating: value, count: count)
    }

    public func encodeView(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer {
        CPUBuffer(viewOf: buffer as! CPUBuffer, offset: offset, count: count)
    }

    /// 16 floats: views start on a cache line, as every allocation does.
    public var viewAlignment: Int { 16 }

    /// Ops run synchronously, so there is nothing to wait for.
    public func synchronize() throws {}

    // MARK: Helpers for the op families

    /// Float pointer of a buffer that the shared validation has already checked.
    func ptr(_ buffer: any DeviceBuffer) -> UnsafeMutablePointer<Float> { (buffer as! CPUBuffer).floats }
    /// Int32 pointer of a buffer that the shared validation has already checked.
    func intPtr(_ buffer: any DeviceBuffer) -> UnsafeMutablePointer<Int32> { (buffer as! CPUBuffer).ints }

    /// Runs `body` over `0..<count` split into chunks of at least `grain` items, one chunk per
    /// worker at most, so small loops stay on the calling thread. Every op splits its loops
    /// this way, however small the op: the workers are libgomp's team (worker_team.c), awake
    /// for a moment after each op, so the next op's chunks start at once on the other cores.
    /// (With a pool that slept at once, ops under 50 MFLOP and 4 MB ran better on the calling
    /// thread alone; with the team, splitting them made LeNet-5's epoch 1.15–1.7× faster:
    /// Benchmarks/NOTES-lenet.md.)
    func parallelFor(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(grain, 1)))
        if chunks == 1 { body(0..<count); return }
        let size = (count + chunks - 1) / chunks
        withoutActuallyEscaping(body) { body in
            var job = TeamJob(body: body, count: count, size: size)
            withUnsafeMutablePointer(to: &job) { job in
                cnn_team_run(chunks, job) { context, c in
                    let job = context!.assumingMemoryBound(to: TeamJob.self).pointee
                    let lo = c * job.size, hi = min(job.count, lo + job.size)
                    if lo < hi { job.body(lo..<hi) }
                }
            }
        }
    }

    /// What each of `parallelFor`'s chunks needs, passed to the team through C.
    private struct TeamJob {
        let body: (Range<Int>) -> Void
        let count: Int, size: Int
    }
}

extension CPUBackend: Backend {}
