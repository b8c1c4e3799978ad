/// The one place that chooses how a convolution runs, when a plan is compiled: a test's forced
/// algorithm, else the backend's heuristic best (the first of `convolutionSolutions`).
/// Tuned choices from the tuning database come first once a device has them.
enum ConvolutionChoice {
    static func solution(for d: Conv2DDescriptor, direction: ConvolutionDirection,
                         backend: any ConvolutionOps) throws -> ConvolutionSolution {
        let offered = backend.convolutionSolutions(for: d, direction: direction)
        if let forced = ConvolutionAlgorithm.forced {
            guard let match = offered.first(where: { $0.algorithm == forced }) else {
                throw CNNError.invalidArgument("conv2d_\(direction.rawValue): the forced algorithm \(forced) "
                    + "does not apply here; this backend offers \(offered.map(\.description))")
            }
            return match
        }
        return offered.first ?? ConvolutionSolution(.direct)
    }

    /// The chosen solution, checked against the workspace the planner gave it.
    static func checked(_ d: Conv2DDescriptor, direction: ConvolutionDirection, backend: any Backend,
                        workspace: (any DeviceBuffer)?) throws -> ConvolutionSolution {
        let s = try solution(for: d, direction: direction, backend: backend)
        try backend.checks.convolutionSolution(d, direction: direction, solution: s,
                                               offered: backend.convolutionSolutions(for: d, direction: direction),
                                               workspace: workspace,
                                               needed: backend.convolutionWorkspaceCount(d, direction: direction, solution: s))
        return s
    }
}

extension Conv2DDescriptor {
    /// "8×64×56×56 ∗ 64×64×3×3 /1 p1 → 8×64×56×56" for profiles and summaries.
    var problemText: String {
        shapeText([batch, inChannels, inH, inW]) + " * " + shapeText([outChannels, inChannels / groups, kernelH, kernelW])
            + (strideH > 1 ? " /\(strideH)" : "") + (groups > 1 ? " g\(groups)" : "")
    }

    /// Bytes one pass must move at least: input, weights and output once each.
    var trafficBytes: Double { Double(inputCount + weightCount + outputCount) * 4 }
}
