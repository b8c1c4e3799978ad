import Foundation

/// Tuning on the CPU backend: every solution `convolutionSolutions` offers (oneDNN in its three
/// layouts and splits, our register-blocked or row-direct loops, im2col + GEMM and its 1×1
/// variants) timed on the processor the program runs on.
///
/// Why: the heuristic order was measured on one processor at a time, and what wins moves with
/// the vector width. On a Zen 3 (AVX2), batch 8, best of 9 interleaved rounds in two runs, the
/// rules measured on Zen 5 (AVX-512) ran ResNet-50's strided 1×1 1024→2048 input gradient on
/// im2col + GEMM at 23.1–25.3 ms where oneDNN's channel split took 13.2–14.1, and the 3×3
/// 512→512 7² filter gradient on the channel split at 17.3–27.5 where im2col + GEMM took
/// 13.5–16.2 (Benchmarks/NOTES-cpu-convolution.md §10). Timing each problem once, and
/// remembering the winner per processor, vector ISA and worker count, finds the fastest
/// without a rule per processor.
extension CPUBackend {
    /// The fastest solution for `d` in `direction` here: remembered, else timed (`runs`
    /// interleaved rounds after a warm-up each, best of each; at least 2, since one run of a few
    /// milliseconds is at the mercy of one interruption by the scheduler) and stored.
    public func tuneConvolution(_ d: Conv2DDescriptor, direction: ConvolutionDirection,
                                database: TuningDatabase = .shared, retune: Bool = false,
                                runs: Int = 3, trace: ((String) -> Void)? = nil) throws -> TunedChoice {
        let key = ConvolutionProblemKey(d, direction: direction)
        let candidates = convolutionSolutions(for: d, direction: direction)
        if !retune, let known = ConvolutionTiming.remembered(key, on: self, database: database, candidates: candidates) {
            return known
        }
        // oneDNN's JIT compiles a primitive in milliseconds; nothing else builds.
        return try ConvolutionTiming.fastest(key, candidates: candidates, on: self, database: database, runs: runs,
                                             buildMilliseconds: 50, interleaved: true, trace: trace,
                                             workspaceCount: { self.convolutionWorkspaceCount(d, direction: direction, solution: $0) },
                                             run: { s, operands, workspace in
                                                 try operands.run(d, direction: direction, solution: s, on: self, workspace: workspace)
                                             })
    }
}
