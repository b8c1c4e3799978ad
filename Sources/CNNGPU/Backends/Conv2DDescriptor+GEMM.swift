/// The GEMM view of a convolution that both backends' im2col implementations share: per
/// image and group, `y_g [Og, P] = W_g [Og, K] · col_g [K, P]`.
extension Conv2DDescriptor {
    /// Input channels per group.
    var groupInChannels: Int { inChannels / groups }
    /// Output channels per group (`Og`).
    var groupOutChannels: Int { outChannels / groups }
    /// Output pixels per plane (`P`).
    var outPixels: Int { outH * outW }
    /// Rows of one group's column matrix (`K`), also the row length of a weight matrix.
    var groupColumnRows: Int { groupInChannels * kernelH * kernelW }
    /// Column-buffer elements of one image (all groups).
    var columnsPerImage: Int { inChannels * kernelH * kernelW * outPixels }
    /// A 1×1, stride-1, unpadded convolution: the input already is its column matrix.
    var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padding == .zero
    }
}
