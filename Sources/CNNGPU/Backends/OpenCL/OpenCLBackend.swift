import COpenCL
import Foundation

/// The OpenCL backend: one context and one in-order queue on one device. Ops are enqueued
/// without waiting; only downloads and `synchronize()` block. Kernels come from `Kernels/*.cl`
/// (embedded in the binary), GEMM from CLBlast.
public final class OpenCLBackend: BackendMemory {
    public let info: DeviceInfo
    let device: OpenCLDevice
    let context: cl_context
    let queue: cl_command_queue
    let programs: ProgramCache
    /// Whether the queue records device timestamps (see OpenCLBackend+Profiling.swift).
    public let profiling: Bool
    /// Which device type's algorithm choices this backend makes (see `DevicePolicy`).
    public let policy: DevicePolicy
    lazy var validate = OpValidation(owner: ObjectIdentifier(self))

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
        self.context = context
        self.queue = queue
        self.programs = ProgramCache(context: context, device: device.deviceID, deviceName: device.info.name)
    }

    deinit {
        clFinish(queue)
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

    public func upload(_ values: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, elementOffset: Int) throws {
        let count = values.count / buffer.dtype.byteSize
        let b = try cl(buffer, "upload", "buffer", count: count, offset: elementOffset, dtype: buffer.dtype)
        guard count > 0, let base = values.baseAddress else { return }
        try clCheck(clEnqueueWriteBuffer(queue, b, cl_bool(CL_TRUE), elementOffset * buffer.dtype.byteSize,
                                         values.count, base, 0, nil, nil), "clEnqueueWriteBuffer")
    }

    public func download(_ buffer: any DeviceBuffer, elementOffset: Int, into values: UnsafeMutableRawBufferPointer) throws {
        let count = values.count / buffer.dtype.byteSize
        let b = try cl(buffer, "download", "buffer", count: count, offset: elementOffset, dtype: buffer.dtype)
        guard count > 0, let base = values.baseAddress else { return }
        try clCheck(clEnqueueReadBuffer(queue, b, cl_bool(CL_TRUE), elementOffset * buffer.dtype.byteSize,
                                        values.count, base, 0, nil, nil), "clEnqueueReadBuffer")
    }

    public func copyStrided(rows: Int, rowLength: Int, src: any DeviceBuffer, srcOffset: Int, srcStride: Int,
                            dst: any DeviceBuffer, dstOffset: Int, dstStride: Int) throws {
        try checkPositive("copy", ["rows": rows, "rowLength": rowLength])
        guard srcStride >= rowLength || rows == 1, dstStride >= rowLength || rows == 1 else {
            throw CNNError.invalidShape(op: "copy", detail: "strides must be at least the row length")
        }
        let s = try cl(src, "copy", "src", count: (rows - 1) * srcStride + rowLength, offset: srcOffset, dtype: src.dtype)
        let d = try cl(dst, "copy", "dst", count: (rows - 1) * dstStride + rowLength, offset: dstOffset, dtype: src.dtype)
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

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        let b = try cl(buffer, "fill", "buffer", count: count, offset: offset)
        guard count > 0 else { return }
        var pattern = value
        try clCheck(clEnqueueFillBuffer(queue, b, &pattern, 4, offset * 4, count * 4, 0, nil, nil),
                    "clEnqueueFillBuffer")
    }

    public func view(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer {
        try checkPositive("view", ["count": count])
        let base = try cl(buffer, "view", "buffer", count: count, offset: offset, dtype: buffer.dtype)
        let parent = buffer as! OpenCLBuffer
        guard parent.parent == nil else {
            throw CNNError.invalidArgument("view: OpenCL cannot make a view of a view; view the parent buffer")
        }
        guard offset % viewAlignment == 0 else {
            throw CNNError.invalidArgument("view: offset \(offset) is not a multiple of \(viewAlignment) elements")
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

    /// CL_DEVICE_MEM_BASE_ADDR_ALIGN (bits) in 4-byte elements.
    public var viewAlignment: Int { max(1, device.baseAddressAlignBits / 32) }

    public func synchronize() throws {
        try clCheck(clFinish(queue), "clFinish")
    }

    // MARK: Helpers for the op families

    /// Validates a buffer argument and returns its `cl_mem`.
    func cl(_ buffer: any DeviceBuffer, _ op: String, _ name: String, count: Int, offset: Int = 0,
            dtype: DType = .float32) throws -> cl_mem {
        try checkBuffer(buffer, owner: ObjectIdentifier(self), op: op, name: name, count: count,
                        offset: offset, dtype: dtype)
        return (buffer as! OpenCLBuffer).mem
    }

    /// The `cl_mem` of a buffer that `validate` has already checked.
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
            // Ops check sizes against the 32-bit range first (OpValidation.int32Indexable); a
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
