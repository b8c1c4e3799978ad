import Foundation
import COpenCL

/// One OpenCL device found through the ICD loader, with the facts `cnn-gpu devices` shows.
public struct OpenCLDevice: @unchecked Sendable {
    /// Position in the list of all OpenCL devices (the N of `--device opencl:N`).
    public let index: Int
    public let info: DeviceInfo
    let platformID: cl_platform_id
    let deviceID: cl_device_id
    /// CL_DEVICE_MEM_BASE_ADDR_ALIGN: sub-buffer origins must be multiples of it (in bits).
    let baseAddressAlignBits: Int

    /// Every OpenCL device of every platform, in platform order. Throws `CNNError.openCL`
    /// with `CL_PLATFORM_NOT_FOUND_KHR` when no OpenCL platform is installed.
    public static func all() throws -> [OpenCLDevice] {
        var platformCount: cl_uint = 0
        try clCheck(clGetPlatformIDs(0, nil, &platformCount), "clGetPlatformIDs")
        guard platformCount > 0 else { return [] }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        try clCheck(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs")

        var result: [OpenCLDevice] = []
        for case let platform? in platforms {
            var deviceCount: cl_uint = 0
            let status = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
            if status == CL_DEVICE_NOT_FOUND || deviceCount == 0 { continue }
            try clCheck(status, "clGetDeviceIDs")
            var devices = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            try clCheck(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &devices, nil),
                        "clGetDeviceIDs")
            let platformName = try platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            for case let device? in devices {
                let info = try describe(device, platformName: platformName)
                let align: cl_uint = try deviceValue(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN)
                result.append(OpenCLDevice(index: result.count, info: info, platformID: platform, deviceID: device,
                                           baseAddressAlignBits: Int(align)))
            }
        }
        return result
    }

    private static func describe(_ device: cl_device_id, platformName: String) throws -> DeviceInfo {
        let type: cl_device_type = try deviceValue(device, CL_DEVICE_TYPE)
        let kind: DeviceInfo.Kind
        if type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 { kind = .gpu }
        else if type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 { kind = .cpu }
        else if type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 { kind = .accelerator }
        else { kind = .other }
        let units: cl_uint = try deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS)
        let clock: cl_uint = try deviceValue(device, CL_DEVICE_MAX_CLOCK_FREQUENCY)
        let memory: cl_ulong = try deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE)
        let maxAlloc: cl_ulong = try deviceValue(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE)
        let vectorWidth: cl_uint = (try? deviceValue(device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT)) ?? 0
        return DeviceInfo(
            backend: "OpenCL",
            name: try deviceString(device, CL_DEVICE_NAME),
            vendor: try deviceString(device, CL_DEVICE_VENDOR),
            kind: kind, computeUnits: Int(units), clockMHz: Int(clock), globalMemoryBytes: Int(memory),
            maxBufferBytes: Int(maxAlloc), maxIndexableElements: Int(Int32.max), platform: platformName,
            driverVersion: try deviceString(device, CL_DRIVER_VERSION),
            // A CPU OpenCL device (PoCL) runs on the host cores, whose peak we can estimate.
            peakGFLOPS: kind == .cpu && Int(units) == HostCPU.current.cores ? HostCPU.current.peakGFLOPS : nil,
            nativeFloatVectorWidth: Int(vectorWidth))
    }
}

// MARK: Info queries

/// Throws naming `call` unless `status` is CL_SUCCESS. `call` is only formed on failure: the
/// launch path checks every argument of every kernel, and forming those strings eagerly was
/// part of the host's 4.3 µs per launch on PoCL (1.6 µs without it, the options formed once
/// and ProgramCache's key a struct; Benchmarks/NOTES-memory-bound.md).
func clCheck(_ status: cl_int, _ call: @autoclosure () -> String) throws {
    guard status == CL_SUCCESS else { throw CNNError.openCL(call: call(), code: status) }
}

func deviceValue<T: FixedWidthInteger>(_ device: cl_device_id, _ param: Int32) throws -> T {
    var value: T = 0
    try clCheck(clGetDeviceInfo(device, cl_device_info(param), MemoryLayout<T>.size, &value, nil), "clGetDeviceInfo")
    return value
}

func deviceString(_ device: cl_device_id, _ param: Int32) throws -> String {
    try queryString("clGetDeviceInfo") { clGetDeviceInfo(device, cl_device_info(param), $0, $1, $2) }
}

func platformString(_ platform: cl_platform_id, _ param: cl_platform_info) throws -> String {
    try queryString("clGetPlatformInfo") { clGetPlatformInfo(platform, param, $0, $1, $2) }
}

/// Runs an OpenCL "size, then bytes" string query.
func queryString(_ call: String, _ query: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int) throws -> String {
    var size = 0
    try clCheck(query(0, nil, &size), call)
    var bytes = [UInt8](repeating: 0, count: max(size, 1))
    try clCheck(bytes.withUnsafeMutableBytes { query(size, $0.baseAddress, nil) }, call)
    if let end = bytes.firstIndex(of: 0) { bytes.removeSubrange(end...) }
    return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
}
