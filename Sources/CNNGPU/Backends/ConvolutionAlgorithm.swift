/// Which pass of a convolution a solution computes.
public enum ConvolutionDirection: String, Sendable, CaseIterable, Codable {
    case forward, backwardData, backwardFilter
}

/// How a backend computes a convolution: direct loops (each backend's `+Convolution` file says
/// which kernels), or im2col + GEMM (see `Im2ColConvolution`).
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable, Codable {
    case direct, im2colGEMM
    /// OpenCL solvers (Backends/OpenCL/Solvers): tiled implicit GEMM (tunable tiles; split-K
    /// backward-filter), Winograd F(2×2,3×3) (3×3 stride 1, forward and backward-data), and
    /// 1×1 convolutions as CLBlast GEMMs on NCHW.
    case implicitGEMM, winogradF2x3, conv1x1CLBlast
    /// OpenCL: direct convolution of narrow stride-1 layers through local-memory tiles
    /// (Backends/OpenCL/Solvers/DirectTiledSolver.swift).
    case directTiled
    /// OpenCL: layers that read at most 4 input channels (image stems), forward and backward
    /// filter (Backends/OpenCL/Solvers/FewChannelsSolver.swift).
    case fewChannels
    /// OpenCL: Winograd F(4×4,3×3) with its own batched GEMM (3×3 stride 1, forward and
    /// backward data; Backends/OpenCL/Solvers/WinogradF4x3Solver.swift).
    case winogradF4x3
    /// OpenCL: the filter gradient of 3×3 stride-1 layers by Winograd F(3×3,4×4), 36 batched
    /// GEMMs over tiles (Backends/OpenCL/Solvers/WinogradFilterSolver.swift).
    case winogradFilter
    /// OpenCL: forward, input gradient (by stride phase) and filter gradient on channels-last
    /// copies of their operands, output channels as register vectors
    /// (Backends/OpenCL/Solvers/ChannelsLastSolver.swift).
    case channelsLast
    /// OpenCL: 1×1 stride-1 layers as a GEMM on NCHW in our kernel, pixels as the vector lanes,
    /// forward and input gradient (Backends/OpenCL/Solvers/PointwiseSolver.swift).
    case pointwise
    /// OpenCL: 1×1 layers on 1×1 images (fully connected layers), each pass streaming the
    /// weight once for the whole batch (Backends/OpenCL/Solvers/FullyConnectedSolver.swift).
    case fullyConnected
    /// The CPU backend's oneDNN primitives (Backends/CPU/OneDNNConvolution.swift); parameter
    /// `blocked` = 1 runs them in oneDNN's blocked layout with reorders, 0 on NCHW in place.
    case oneDNN

    /// Tests set this to run every eager convolution through one algorithm on every backend.
    nonisolated(unsafe) static var forced: ConvolutionAlgorithm?
}

/// One way to run one convolution problem: an algorithm and its tunable parameters (empty for
/// the defaults). Chosen once (by a compiled plan, or the eager API's first pick), then passed
/// to every `encodeConvolution*` call.
public struct ConvolutionSolution: Hashable, Sendable, CustomStringConvertible {
    public var algorithm: ConvolutionAlgorithm
    public var parameters: [String: Int]

    public init(_ algorithm: ConvolutionAlgorithm, parameters: [String: Int] = [:]) {
        self.algorithm = algorithm
        self.parameters = parameters
    }

    public var description: String {
        parameters.isEmpty ? algorithm.rawValue
            : algorithm.rawValue + "(" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ", ") + ")"
    }
}
