/// How a backend computes a convolution: im2col + GEMM (see `Im2ColConvolution`), or direct
/// loops along rows (each backend's `+Convolution` file says when it picks which).
enum ConvolutionAlgorithm {
    case im2colGEMM, direct

    /// Tests set this to run every problem through one algorithm on every backend.
    nonisolated(unsafe) static var forced: ConvolutionAlgorithm?
}
