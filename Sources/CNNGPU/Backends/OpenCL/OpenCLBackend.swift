import COpenCL
import CNNKernels
import Foundation

/// The OpenCL backend: one context and one in-order queue on one device. Ops are enqueued
/// without waiting; only downloads and `synchronize()` block. Kernels come from `Kernels/*.cl`
/// (embedded in the binary), GEMM from CLBlast.
public final class OpenCLBackend: BackendMemory {
    public let info: DeviceInfo
    let device: OpenCLDevice
    let context: cl_context
    let queue: cl_command_queue
    /// A second in-order queue for uploads that overlap the ops on `queue` (OverlappedUploads).
    let transferQueue: cl_command_queue
    let programs: ProgramCache
    /// The memory-bound kernels' tunable values (MemoryBoundTunables.swift).
    let memoryBound: MemoryBoundSettings
    /// The work-group and local-memory limits the tunable solvers validate against.
    let deviceLimits: DeviceLimits
    /// What fast tuning has seen each solver reach on this device (its prior: SolverRates), kept
    /// in the tuning database with the choices.
    let tuningRates = SolverRates(stamp: OpenCLBackend.kernelStamp)
    /// A hash of every kernel source: what the rates were measured with.
    static let kernelStamp = CacheDirectory.stableHash(
        KernelSources.all.keys.sorted().map { $0 + "\n" + KernelSources.all[$0]! }.joined(separator: "\n"))
    /// Whether the queue records device timestamps (see OpenCLBackend+Profiling.swift).
    public let profiling: Bool
    /// Which device type's algorithm choices this backend makes (see `DevicePolicy`).
    public let policy: DevicePolicy

    /// Opens the device `index` of `OpenCLDevice.all()` (`--device opencl:N`). With
    /// `profiling`, the queue records when each command ran on the device (`cnn-gpu bench`
    /// reads it); off by default, since nothing else does. `policy` overrides the algorithm
    /// choices the device type implies (nil: from the device type).
    public convenience init(deviceIndex: Int = 0, profiling: Bool = false, policy: DevicePolicy? = nil) throws {
        let devices = try OpenCLDevice.all()
        guard devices.indices.contains(deviceIndex) else {
            throw CNNError.deviceNotFound(requested: "opencl:\(deviceIndex)",
                                          available: devices.map { "opencl:\($0.index) (\($0.info.name))" })
        }
        try self.init(device: devices[deviceIndex], profiling: profiling, policy: policy)
    }

    public init(device: OpenCLDevice, profiling: Bool = false, policy: DevicePolicy? = nil) throws {
        self.device = device
        self.profiling = profiling
        self.policy = policy ?? (device.info.kind == .cpu ? .cpu : .gpu)
        self.info = device.info
        var status: cl_int = 0
        var deviceID: cl_device_id? = device.deviceID
        guard let context = clCreateContext(nil, 1, &deviceID, nil, nil, &status), status == CL_SUCCESS else {
            throw CNNError.openCL(call: "clCreateContext", code: status)
        }
        let properties = profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
        guard let queue = clCreateCommandQueue(context, device.deviceID, properties, &status),
              status == CL_SUCCESS else {
            clReleaseContext(context)
            throw CNNError.openCL(call: "clCreateCommandQueue", code: status)
        }
        guard let transferQueue = clCreateCommandQueue(context, device.deviceID, 0, &status), status == CL_SUCCESS else {
            clReleaseCommandQueue(queue)
            clReleaseContext(context)
            throw CNNError.openCL(call: "clCreateCommandQueue", code: status)
        }
        self.context = context
        self.queue = queue
        self.transferQueue = transferQueue
        self.programs = ProgramCache(context: context, device: device.deviceID, deviceName: device.info.name,
                                     platform: device.info.platform)
        self.memoryBound = MemoryBoundSettings(kind: device.info.kind)
        self.deviceLimits = DeviceLimits(device: device.deviceID)
        applyRememberedCLBlastGEMM(database: ConvolutionChoice.database)
    }

    deinit {
        clFinish(transferQueue)
        clFinish(queue)
        clReleaseCommandQueue(transferQueue)
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// Builds every kernel program now rather than at first use.
    public func buildAllPrograms() throws { try programs.buildAll() }

    // MARK: Memory

    public func allocate(_ count: Int, dtype: DType) throws -> any DeviceBuffer {
        guard count > 0 else {
            throw CNNError.invalidShape(op: "allocate", detail: "element count must be positive, got \(count)")
        }
        let bytes = count * dtype.byteSize
        guard bytes <= info.maxBufferBytes else {
            throw CNNError.outOfMemory(requestedBytes: bytes,
                detail: "\(info.name) allows at most \(info.maxBufferBytes / 1_048_576) MiB in one buffer")
        }
        var status: cl_int = 0
        guard let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status),
              status == CL_SUCCESS else {
            if status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_HOST_MEMORY
                || status == CL_OUT_OF_RESOURCES || status == CL_INVALID_BUFFER_SIZE {
                throw CNNError.outOfMemory(requestedBytes: bytes, detail: "\(info.name) refused the buffer")
            }
            throw CNNError.openCL(call: "clCreateBuffer", code: status)
        }
        return OpenCLBuffer(mem: mem, count: count, dtype: dtype, backendID: ObjectIdentifier(self))
    }

    public func encodeUpload(_ values: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, elementOffset: Int) throws {
        let b = mem(buffer)
        guard values.count > 0, let base = values.baseAddress else { return }
        try clCheck(clEnqueueWriteBuffer(queue, b, cl_bool(CL_TRUE), elementOffset * buffer.dtype.byteSize,
                                         values.count, base, 0, nil, nil), "clEnqueueWriteBuffer")
    }

    public func encodeDownload(_ buffer: any DeviceBuffer, elementOffset: Int, into values: UnsafeMutableRawBufferPointer) throws {
        let b = mem(buffer)
        guard values.count > 0, let base = values.baseAddress else { return }
        try clCheck(clEnqueueReadBuffer(queue, b, cl_bool(CL_TRUE), elementOffset * buffer.dtype.byteSize,
                                        values.count, base, 0, nil, nil), "clEnqueueReadBuffer")
    }

    public func encodeCopyStrided(rows: Int, rowLength: Int, src: any DeviceBuffer, srcOffset: Int, srcStride: Int,
                                  dst: any DeviceBuffer, dstOffset: Int, dstStride: Int) throws {
        let s = mem(src), d = mem(dst)
        let e = src.dtype.byteSize
        if rows == 1 {
            try clCheck(clEnqueueCopyBuffer(queue, s, d, srcOffset * e, dstOffset * e, rowLength * e, 0, nil, nil),
                        "clEnqueueCopyBuffer")
            return
        }
        var srcOrigin = [srcOffset * e, 0, 0], dstOrigin = [dstOffset * e, 0, 0], region = [rowLength * e, rows, 1]
        try clCheck(clEnqueueCopyBufferRect(queue, s, d, &srcOrigin, &dstOrigin, &region, srcStride * e, 0,
                                            dstStride * e, 0, 0, nil, nil), "clEnqueueCopyBufferRect")
    }

    public func encodeFill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        guard count > 0 else { return }
        var pattern = value
        let e = MemoryLayout<Float>.size
        try clCheck(clEnqueueFillBuffer(queue, mem(buffer), &pattern, e, offset * e, count * e, 0, nil, nil),
                    "clEnqueueFillBuffer")
    }

    public func encodeView(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer {
        let parent = buffer as! OpenCLBuffer, base = parent.mem
        // A device limit, not an argument check: OpenCL has no sub-buffers of sub-buffers.
        guard parent.parent == nil else {
            throw CNNError.invalidArgument("view: OpenCL cannot make a view of a view; view the parent buffer")
        }
        var region = cl_buffer_region(origin: offset * buffer.dtype.byteSize, size: count * buffer.dtype.byteSize)
        var status: cl_int = 0
        guard let mem = clCreateSubBuffer(base, cl_mem_flags(CL_MEM_READ_WRITE),
                                          cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION), &region, &status),
              status == CL_SUCCESS else {
            throw CNNError.openCL(call: "clCreateSubBuffer", code: status)
        }
        return OpenCLBuffer(mem: mem, count: count, dtype: buffer.dtype, backendID: ObjectIdentifier(self), parent: parent)
    }

    /// CL_DEVICE_MEM_BASE_ADDR_ALIGN (bits) in Float32 elements (every dtype is 4 bytes today).
    public var viewAlignment: Int { max(1, device.baseAddressAlignBits / (8 * DType.float32.byteSize)) }

    public func synchronize() throws {
        try clCheck(clFinish(queue), "clFinish")
    }

    // MARK: Helpers for the op families

    /// The `cl_mem` of a buffer that the shared validation has already checked.
    func mem(_ buffer: any DeviceBuffer) -> cl_mem { (buffer as! OpenCLBuffer).mem }

    /// Enqueues `Kernels/<program>.cl`'s `kernel` over `global` work-items (1 to 3 dimensions).
    /// With `local`, each global size is rounded up to a multiple of it: kernels check bounds.
    func launch(_ program: String, _ kernel: String, global: [Int], local: [Int]? = nil,
                _ args: [KernelArgument]) throws {
        guard global.allSatisfy({ $0 > 0 }) else { return }
        try programs.withKernel(program, kernel) { k in
            for (i, arg) in args.enumerated() {
                let status = arg.set(on: k, index: cl_uint(i))
                try clCheck(status, "clSetKernelArg(\(kernel), \(i))")
            }
            var globalSize = global
            var localSize = local ?? []
            if let local {
                globalSize = zip(global, local).map { ($0 + $1 - 1) / $1 * $1 }
                localSize = local
            }
            let status = localSize.isEmpty
                ? clEnqueueNDRangeKernel(queue, k, cl_uint(global.count), nil, &globalSize, nil, 0, nil, nil)
                : clEnqueueNDRangeKernel(queue, k, cl_uint(global.count), nil, &globalSize, &localSize, 0, nil, nil)
            try clCheck(status, "clEnqueueNDRangeKernel(\(kernel))")
        }
    }
}

/// An argument of a kernel launch.
enum KernelArgument {
    case buffer(any DeviceBuffer)
    case int(Int)
    case float(Float)
    case ulong(UInt64)
    /// `bytes` of `__local` memory.
    case local(Int)

    func set(on kernel: cl_kernel, index: cl_uint) -> cl_int {
        switch self {
        case .buffer(let b):
            var mem: cl_mem? = (b as! OpenCLBuffer).mem
            return clSetKernelArg(kernel, index, MemoryLayout<cl_mem>.size, &mem)
        case .int(let v):
            // The shared validation keeps extents within `info.maxIndexableElements`; a
            // value that still does not fit is reported, not trapped.
            guard var x = cl_int(exactly: v) else { return CL_INVALID_ARG_VALUE }
            return clSetKernelArg(kernel, index, 4, &x)
        case .float(let v):
            var x = v
            return clSetKernelArg(kernel, index, 4, &x)
        case .ulong(let v):
            var x = v
            return clSetKernelArg(kernel, index, 8, &x)
        case .local(let bytes):
            return clSetKernelArg(kernel, index, bytes, nil)
        }
    }
}

extension OpenCLBackend: Backend {}
