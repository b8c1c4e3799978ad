import Foundation

/// An upload started beside the queued ops; `finishUpload` makes later ops wait for it. It
/// keeps the host bytes alive until the device has read them.
public protocol PendingUpload: AnyObject {}

/// Uploads that run while the device computes (a second queue on OpenCL), for double-buffered
/// inputs: the next batch is copied into an idle buffer during the current step. A backend
/// whose ops run on the host as they are called (the CPU backend) has nothing to overlap and
/// does not conform.
public protocol OverlappedUploads: BackendMemory {
    /// Starts copying `bytes` into `buffer` (which no queued op may be using) without waiting.
    func beginUpload(_ bytes: Data, to buffer: any DeviceBuffer) throws -> any PendingUpload
    /// Makes every op queued from now on wait until `upload` has landed.
    func finishUpload(_ upload: any PendingUpload) throws
}
