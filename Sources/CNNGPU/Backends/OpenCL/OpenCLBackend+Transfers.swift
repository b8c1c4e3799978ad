import COpenCL
import Foundation

/// Uploads on the transfer queue: the write runs while the main queue computes, and the main
/// queue waits for its event before the first op that reads the buffer.
extension OpenCLBackend: OverlappedUploads {
    final class Upload: PendingUpload {
        let event: cl_event
        /// A copy of the host bytes the driver reads from, freed once the write has completed.
        let bytes: UnsafeMutableRawBufferPointer
        init(event: cl_event, bytes: UnsafeMutableRawBufferPointer) { self.event = event; self.bytes = bytes }
        deinit {
            var e: cl_event? = event
            clWaitForEvents(1, &e)
            clReleaseEvent(event)
            bytes.deallocate()
        }
    }

    public func beginUpload(_ data: Data, to buffer: any DeviceBuffer) throws -> any PendingUpload {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.copyBytes(to: bytes)
        do {
            try checks.upload(UnsafeRawBufferPointer(start: bytes.baseAddress, count: data.count), to: buffer, elementOffset: 0)
            var event: cl_event?
            try clCheck(clEnqueueWriteBuffer(transferQueue, mem(buffer), cl_bool(CL_FALSE), 0, data.count, bytes.baseAddress,
                                             0, nil, &event), "clEnqueueWriteBuffer")
            clFlush(transferQueue)
            guard let event else { throw CNNError.openCL(call: "clEnqueueWriteBuffer", code: CL_INVALID_EVENT) }
            return Upload(event: event, bytes: bytes)
        } catch {
            bytes.deallocate()
            throw error
        }
    }

    public func finishUpload(_ upload: any PendingUpload) throws {
        guard let u = upload as? Upload else {
            throw CNNError.invalidArgument("finishUpload: the upload was started on another backend")
        }
        var e: cl_event? = u.event
        try clCheck(clEnqueueBarrierWithWaitList(queue, 1, &e, nil), "clEnqueueBarrierWithWaitList")
    }
}
