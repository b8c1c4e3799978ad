/// The workspace of im2col convolution: its size, and how many images of a batch one chunk
/// holds. The buffer itself is the caller's (a planned buffer, or the eager API's temporary).
enum ConvolutionWorkspace {
    /// The most bytes of workspace (column matrix and packed output) one convolution uses;
    /// bigger batches run in chunks of images. Tests lower it to exercise chunking.
    nonisolated(unsafe) static var limitBytes = 256 << 20

    /// Float32 elements one image needs: its column matrix and its packed output (gradient).
    static func perImage(_ d: Conv2DDescriptor) -> Int { d.columnsPerImage + d.outChannels * d.outPixels }

    /// The workspace of an im2col convolution of `d`: as many images as fit in `limitBytes`
    /// and the device's largest buffer, at least one, at most the batch; 0 for a pointwise
    /// convolution, which needs none unless its images are `packed` (see `Im2ColConvolution`).
    static func count(_ d: Conv2DDescriptor, limitBytes: Int, maxBufferBytes: Int, packed: Bool = false) -> Int {
        if d.isPointwise && !packed { return 0 }
        let perImage = perImage(d)
        let images = max(1, min(d.batch, min(limitBytes, maxBufferBytes) / max(perImage * DType.float32.byteSize, 1)))
        return images * perImage
    }

    /// Images per chunk with a workspace of `count` elements (validated to hold at least one image).
    static func imagesPerChunk(_ d: Conv2DDescriptor, workspaceCount count: Int) -> Int {
        max(1, min(d.batch, count / perImage(d)))
    }
}
