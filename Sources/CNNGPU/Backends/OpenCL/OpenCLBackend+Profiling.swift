import COpenCL

/// A point on a device's timeline: a marker command in the backend's in-order queue, which
/// completes once every command queued before it has.
public final class DeviceTimestamp {
    let event: cl_event

    init(event: cl_event) { self.event = event }

    deinit { clReleaseEvent(event) }
}

/// Device-side timing for `cnn-gpu bench`. Two markers bracket the commands to time; the
/// difference of their completion times is the device time those commands took, including
/// every kernel CLBlast runs inside a GEMM (its own event covers only the last of them) and
/// excluding the host's wait in `clFinish`.
extension OpenCLBackend {
    /// Queues a marker behind every command queued so far. Needs `profiling: true`.
    public func timestamp() throws -> DeviceTimestamp {
        guard profiling else {
            throw CNNError.invalidArgument("device timestamps need a queue with profiling: open the backend "
                + "with OpenCLBackend(deviceIndex:profiling: true)")
        }
        var event: cl_event?
        try clCheck(clEnqueueMarkerWithWaitList(queue, 0, nil, &event), "clEnqueueMarkerWithWaitList")
        guard let event else { throw CNNError.openCL(call: "clEnqueueMarkerWithWaitList", code: CL_INVALID_EVENT) }
        return DeviceTimestamp(event: event)
    }

    /// Seconds of device time between two timestamps; waits until `end` has completed.
    public func deviceSeconds(from start: DeviceTimestamp, to end: DeviceTimestamp) throws -> Double {
        var e: cl_event? = end.event
        try clCheck(clWaitForEvents(1, &e), "clWaitForEvents")
        let t0 = try completionTime(start), t1 = try completionTime(end)
        return Double(t1 &- t0) / 1e9
    }

    private func completionTime(_ t: DeviceTimestamp) throws -> cl_ulong {
        var ns: cl_ulong = 0
        try clCheck(clGetEventProfilingInfo(t.event, cl_profiling_info(CL_PROFILING_COMMAND_END),
                                            MemoryLayout<cl_ulong>.size, &ns, nil), "clGetEventProfilingInfo")
        return ns
    }
}
