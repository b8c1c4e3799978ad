/// Every error a user can cause, or that a device reports, as one typed value whose
/// description says what happened, what was expected, and what to do.
public enum CNNError: Error, CustomStringConvertible, Equatable {
    /// A shape or size that cannot work: names the op, what it got and what it needs.
    case invalidShape(op: String, detail: String)
    /// A buffer passed to an op is too small, or belongs to another backend.
    case invalidBuffer(op: String, detail: String)
    /// An OpenCL call returned an error code.
    case openCL(call: String, code: Int32)
    /// An OpenCL program failed to build; `log` is the device compiler's output.
    case kernelBuildFailed(program: String, device: String, log: String)
    /// CLBlast returned an error status.
    case clblast(call: String, status: Int32)
    /// The user asked for a device that is not there.
    case deviceNotFound(requested: String, available: [String])
    /// A device (or host) allocation that does not fit.
    case outOfMemory(requestedBytes: Int, detail: String)
    /// A command-line or API argument that does not parse.
    case invalidArgument(String)
    /// A model that cannot be built: names the layer, what it expects, and what it gets from where.
    case invalidModel(String)

    public var description: String {
        switch self {
        case let .invalidShape(op, detail):
            return "\(op): invalid shape: \(detail)"
        case let .invalidBuffer(op, detail):
            return "\(op): invalid buffer: \(detail)"
        case let .openCL(call, code):
            return "OpenCL call \(call) failed with \(openCLErrorName(code)) (\(code))"
                + openCLErrorHint(code)
        case let .kernelBuildFailed(program, device, log):
            return "OpenCL program '\(program)' failed to build on \(device). Compiler log:\n\(log)"
        case let .clblast(call, status):
            return "CLBlast \(call) failed with status \(status)"
                + (status == -2048 ? " (kernel compilation error in CLBlast)" : "")
        case let .deviceNotFound(requested, available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "no device '\(requested)'. Available: \(list). Run `cnn-gpu devices` to list them."
        case let .outOfMemory(bytes, detail):
            let mib = Double(bytes) / 1_048_576
            // A detail that already gives its own advice ("use a smaller …") keeps it alone.
            let advice = detail.contains("batch size") || detail.contains("smaller") ? "" : " Try a smaller batch size."
            return "out of memory allocating \(String(format: "%.1f", mib)) MiB: \(detail)" + advice
        case let .invalidArgument(message), let .invalidModel(message):
            return message
        }
    }
}

/// The symbolic name of an OpenCL error code, as the specification spells it.
func openCLErrorName(_ code: Int32) -> String {
    let names: [Int32: String] = [
        0: "CL_SUCCESS", -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE",
        -3: "CL_COMPILER_NOT_AVAILABLE", -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5: "CL_OUT_OF_RESOURCES", -6: "CL_OUT_OF_HOST_MEMORY",
        -7: "CL_PROFILING_INFO_NOT_AVAILABLE", -8: "CL_MEM_COPY_OVERLAP",
        -9: "CL_IMAGE_FORMAT_MISMATCH", -10: "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        -11: "CL_BUILD_PROGRAM_FAILURE", -12: "CL_MAP_FAILURE",
        -13: "CL_MISALIGNED_SUB_BUFFER_OFFSET", -14: "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -30: "CL_INVALID_VALUE", -31: "CL_INVALID_DEVICE_TYPE", -32: "CL_INVALID_PLATFORM",
        -33: "CL_INVALID_DEVICE", -34: "CL_INVALID_CONTEXT", -35: "CL_INVALID_QUEUE_PROPERTIES",
        -36: "CL_INVALID_COMMAND_QUEUE", -37: "CL_INVALID_HOST_PTR", -38: "CL_INVALID_MEM_OBJECT",
        -40: "CL_INVALID_IMAGE_SIZE", -42: "CL_INVALID_BINARY", -43: "CL_INVALID_BUILD_OPTIONS",
        -44: "CL_INVALID_PROGRAM", -45: "CL_INVALID_PROGRAM_EXECUTABLE",
        -46: "CL_INVALID_KERNEL_NAME", -47: "CL_INVALID_KERNEL_DEFINITION",
        -48: "CL_INVALID_KERNEL", -49: "CL_INVALID_ARG_INDEX", -50: "CL_INVALID_ARG_VALUE",
        -51: "CL_INVALID_ARG_SIZE", -52: "CL_INVALID_KERNEL_ARGS",
        -53: "CL_INVALID_WORK_DIMENSION", -54: "CL_INVALID_WORK_GROUP_SIZE",
        -55: "CL_INVALID_WORK_ITEM_SIZE", -56: "CL_INVALID_GLOBAL_OFFSET",
        -57: "CL_INVALID_EVENT_WAIT_LIST", -58: "CL_INVALID_EVENT", -59: "CL_INVALID_OPERATION",
        -61: "CL_INVALID_BUFFER_SIZE", -63: "CL_INVALID_GLOBAL_WORK_SIZE",
        -1001: "CL_PLATFORM_NOT_FOUND_KHR",
    ]
    return names[code] ?? "unknown OpenCL error"
}

private func openCLErrorHint(_ code: Int32) -> String {
    switch code {
    case -4, -5, -6, -61:
        return ". The device ran out of memory or resources: try a smaller batch size."
    case -1001:
        return ". No OpenCL platform is installed: install an ICD (e.g. `pocl-opencl-icd`) or use --device cpu."
    default:
        return ""
    }
}
