/// Which kind of device an `OpenCLBackend` chooses its algorithms for: a CPU device runs the
/// direct convolution kernels and row-wise softmax; a GPU runs im2col + CLBlast GEMM and
/// work-group softmax where they win. It follows the device type unless given, so tests can
/// run the GPU choices end to end on PoCL, whose device is a CPU.
///
/// ```swift
/// let backend = try OpenCLBackend(deviceIndex: 0, policy: .gpu)
/// ```
public enum DevicePolicy: Sendable {
    case cpu, gpu
}
