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
    /// worker at most, so small loops stay on the calling thread.
    func parallelFor(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(grain, 1)))
        if chunks == 1 || cnn_serial_region_depth() > 0 { body(0..<count); return }
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

extension CPUBackend {
    /// Compiled ops estimated below both bounds run on the calling thread, their `parallelFor`
    /// loops unsplit: about a third of a millisecond of work on one core. Splitting such an op
    /// gains little even when it works (LeNet-5's ~15 split ops a step: two threads 1.1× one
    /// core at best), and often it does not: the worker `parallelFor` wakes was placed on the
    /// caller's own core for 73% of the wake-ups measured and preempted it, so the two chunks
    /// ran one after the other plus two context switches, and whole LeNet-5 epochs ran either
    /// 1.1× faster or 1.35× slower than one core, run to run (Benchmarks/NOTES-lenet.md,
    /// lenet7). ResNet-50's convolutions at batch 8 are 0.2 GFLOP and more, far above; its
    /// memory-bound ops from 4 MB (a tenth of a millisecond and more on one core) still split.
    ///
    /// Without AVX-512 the same op takes about twice as long on one core, so the FLOP bound is
    /// lower there: 12 MFLOP is a third of a millisecond at AVX2's 35–70 GFLOP/s on LeNet-5's
    /// layers, and splits LeNet-5's convolutions (15 and 31 MFLOP at batch 64). On a 2-core
    /// Zen 3 its epochs then took 0.73–0.83× the time in 8 of 8 pairs, 4% more CPU time, with
    /// no slow mode (Benchmarks/NOTES-lenet.md, serial13).
    static var serialFLOPs: Double { CPUKernelISA.active == .avx512 ? 50e6 : 12e6 }
    static let serialBytes = 4e6

    public func run(estimatedFLOPs flops: Double, bytes: Double, _ body: () throws -> Void) throws {
        // An op that reports neither (0, 0: "not meaningful") is not known to be small.
        guard threads > 1, flops > 0 || bytes > 0, flops < Self.serialFLOPs, bytes < Self.serialBytes else {
            return try body()
        }
        cnn_serial_region_enter()
        defer { cnn_serial_region_leave() }
        try body()
    }
}
