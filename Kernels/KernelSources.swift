/// The OpenCL C sources of `Kernels/*.cl`, embedded in the binary at build time by SwiftPM
/// (see `kernelFiles` in Package.swift), keyed by file stem ("convolution", "pooling", …).
public enum KernelSources {
    public static let all: [String: String] = [
        "activation": text(PackageResources.activation_cl),
        "activation_function": text(PackageResources.activation_function_cl),
        "batchnorm": text(PackageResources.batchnorm_cl),
        "conv_channels_last": text(PackageResources.conv_channels_last_cl),
        "conv_direct_tiled": text(PackageResources.conv_direct_tiled_cl),
        "conv_few_channels": text(PackageResources.conv_few_channels_cl),
        "conv_fully_connected": text(PackageResources.conv_fully_connected_cl),
        "conv_implicit_gemm": text(PackageResources.conv_implicit_gemm_cl),
        "conv_pointwise": text(PackageResources.conv_pointwise_cl),
        "conv_pointwise_filter": text(PackageResources.conv_pointwise_filter_cl),
        "conv_winograd_f2x3": text(PackageResources.conv_winograd_f2x3_cl),
        "conv_winograd_f4x3": text(PackageResources.conv_winograd_f4x3_cl),
        "conv_winograd_filter": text(PackageResources.conv_winograd_filter_cl),
        "convolution": text(PackageResources.convolution_cl),
        "dropout": text(PackageResources.dropout_cl),
        "elementwise": text(PackageResources.elementwise_cl),
        "gemm_tile": text(PackageResources.gemm_tile_cl),
        "loss": text(PackageResources.loss_cl),
        "lrn": text(PackageResources.lrn_cl),
        "optimizer": text(PackageResources.optimizer_cl),
        "pooling": text(PackageResources.pooling_cl),
        "pooling_same": text(PackageResources.pooling_same_cl),
        "pooling_tiled": text(PackageResources.pooling_tiled_cl),
        "reduction": text(PackageResources.reduction_cl),
        "softmax": text(PackageResources.softmax_cl),
        "vector_io": text(PackageResources.vector_io_cl),
        "winograd_f4_points": text(PackageResources.winograd_f4_points_cl),
    ]

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
