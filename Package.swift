// swift-tools-version: 6.0
import PackageDescription

/// Every `.cl` file in `Kernels/` is embedded into the binary at build time, so a `cnn-gpu`
/// copied elsewhere (or an app linking the library) still has its device code.
let kernelFiles = [
    "activation.cl", "activation_function.cl", "batchnorm.cl", "conv_direct_tiled.cl", "conv_few_channels.cl", "conv_fully_connected.cl",
    "conv_channels_last.cl", "conv_implicit_gemm.cl", "conv_pointwise.cl", "conv_pointwise_filter.cl", "gemm_tile.cl", "conv_winograd_f2x3.cl", "conv_winograd_f4x3.cl",
    "conv_winograd_filter.cl",
    "convolution.cl", "dropout.cl", "elementwise.cl",
    "loss.cl", "lrn.cl", "optimizer.cl", "pooling.cl", "pooling_same.cl", "pooling_tiled.cl", "reduction.cl", "softmax.cl", "vector_io.cl",
    "winograd_f4_points.cl",
]

/// The CPU backend's loops are 10–50× slower unoptimized, so the test suite, which trains
/// full-size models, optimizes the library in debug builds too. `-O` is an unsafe flag, and
/// SwiftPM refuses a package whose products contain one when another package depends on it by
/// version, so the flag is opt-in: the scripts (test, check-kernels, fuzz, run-example, docs)
/// set CNNGPU_OPTIMIZE_DEBUG=1 and developers export it; a package that depends on this one
/// never sets it and gets the plain build. With it set, the test binary is byte for byte the
/// one the unconditional flag built, so the suite's time is unchanged. Chosen over:
/// - testing in release (`-c release`, testable): the tests would be optimized, which
///   check-kernels.sh must avoid (see the test target), so CI would build everything twice;
/// - moving the hot loops into the C target: a rewrite of the CPU backend for a build setting.
/// The variable changes only how fast the library runs in debug builds, never what it computes.
let optimizedDebugSettings: [SwiftSetting] = Context.environment["CNNGPU_OPTIMIZE_DEBUG"] == "1"
    ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : []
/// The same for the C loops of the CPU backend, which SwiftPM compiles with -O0 in debug builds.
let optimizedDebugCSettings: [CSetting] = Context.environment["CNNGPU_OPTIMIZE_DEBUG"] == "1"
    ? [.unsafeFlags(["-O2"], .when(configuration: .debug))] : []

let package = Package(
    name: "cnn-gpu",
    products: [
        .library(name: "CNNGPU", targets: ["CNNGPU"]),
        .executable(name: "cnn-gpu", targets: ["CNNGPUCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenCL", pkgConfig: "OpenCL",
                       providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .systemLibrary(name: "CCLBlast", pkgConfig: "clblast", providers: [.apt(["libclblast-dev"])]),
        // oneDNN: the CPU backend's SGEMM (JIT, ISA chosen at run time) and convolution solver.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // Data-parallel training under mpirun (Open MPI's C API; the handles come through shim.h).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // libpng reports errors by longjmp, which must not cross Swift frames: the codecs are C.
        .target(name: "CImageCodecs", dependencies: ["CTurboJPEG", "CPNG"]),
        .target(name: "CNNKernels", path: "Kernels",
                resources: kernelFiles.map { .embedInCode($0) }),
        // Hand-blocked CPU convolution loops and the memory-bound loops (pooling, batch norm,
        // optimizers), compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at run time
        // (Swift has no per-function target features).
        .target(name: "CCPUKernels", cSettings: optimizedDebugCSettings),
        .target(name: "CNNGPU", dependencies: ["COpenCL", "CCLBlast", "CDNNL", "CZlib", "CImageCodecs", "CNNKernels",
                                               "CCPUKernels", "CMPI"],
                swiftSettings: optimizedDebugSettings),
        .executableTarget(name: "CNNGPUCLI", dependencies: [
            "CNNGPU", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer targets for the parsers (scripts/fuzz.sh); a normal build replays inputs.
        .executableTarget(name: "cnn-gpu-fuzz", dependencies: ["CNNGPU", "CImageCodecs"], path: "Sources/CNNGPUFuzz"),
        // Fixtures (reference outputs recorded with PyTorch) are read from the source tree. The
        // tests stay unoptimized: with -O, buffers are released before queued kernels run, and
        // oclgrind (unlike real drivers) frees them under those kernels, so check-kernels.sh
        // reports reads of uninitialized memory.
        .testTarget(name: "CNNGPUTests", dependencies: ["CNNGPU", "CImageCodecs"], exclude: ["Fixtures"]),
    ],
    // Swift 5 mode: the CPU kernels share raw pointers across worker threads by design
    // (disjoint ranges), which Swift 6's Sendable checking cannot express without noise.
    swiftLanguageModes: [.v5]
)
