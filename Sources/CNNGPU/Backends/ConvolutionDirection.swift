/// Which pass of a convolution a solver computes.
/// (The backend-seam branch defines the same enum in ConvolutionAlgorithm.swift; when both
/// land, keep that one and delete this file.)
public enum ConvolutionDirection: String, Sendable, CaseIterable, Codable {
    case forward, backwardData, backwardFilter
}
