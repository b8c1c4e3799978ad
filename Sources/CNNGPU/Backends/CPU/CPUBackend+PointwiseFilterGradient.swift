/// Backward-filter of a 1×1 stride-1 convolution as one GEMM chain per worker over its slice of
/// the batch, in whichever orientation puts the larger channel count on the GEMM's rows.
///
/// Why: dW = Σₙ dYₙ·Xₙᵀ is a short, wide product (K_out × C_in, summed over P pixels per
/// image). oneDNN's SGEMM runs it at 100–150 GFLOP/s per core when K_out < C_in (64×256 from
/// 3136-long rows: 7.6 ms for batch 8) and at 170–180 when the same product is formed
/// transposed, dWᵀ = Σₙ Xₙ·dYₙᵀ (4.7 ms), which oneDNN's blocked 1×1 kernel does not reach
/// either (5.6 ms without its reorders; Benchmarks/NOTES-cpu-convolution.md §6). Each worker
/// sums its images into its own partial in the workspace, with no hand-off between images; one
/// pass then adds the partials and transposes them into dw.
extension CPUBackend {
    static let pointwiseFilterTransposed = ConvolutionSolution(.im2colGEMM, parameters: ["transposed": 1])

    /// Ungrouped 1×1 stride-1 layers: their inputs already are the GEMM's operands.
    static func pointwiseFilterTransposedApplies(_ d: Conv2DDescriptor) -> Bool { d.isPointwise && d.groups == 1 }

    /// Where it is the first choice: more input than output channels (the transposed
    /// orientation pays) on planes of at least 28². Measured at batch 8 on two workers, CPU ms
    /// against the previous choice (oneDNN's NCHW path): 256→64 at 56² 4.9 against 7.6, 256→128
    /// at 56² 9.3 against 11.3, 512→128 at 28² 4.3 against 4.5, 512→256 at 28² a tie; at 14² it
    /// lost (1024→512: 10.8 against 9.3).
    func prefersPointwiseFilterTransposed(_ d: Conv2DDescriptor) -> Bool {
        Self.pointwiseFilterTransposedApplies(d) && d.inChannels > d.outChannels
            && d.outChannels >= Self.oneDNNMinOutChannels && d.outPixels >= Self.pointwiseFilterTransposedMinPixels
            && d.batch >= threads
    }
    static let pointwiseFilterTransposedMinPixels = 28 * 28

    /// One partial weight gradient per worker.
    func pointwiseFilterTransposedWorkspaceCount(_ d: Conv2DDescriptor) -> Int {
        min(threads, d.batch) * (d.weightCount + 15) / 16 * 16
    }

    func pointwiseFilterGradientTransposed(_ d: Conv2DDescriptor, x: any DeviceBuffer, dy: any DeviceBuffer,
                                           dw: any DeviceBuffer, workspace: (any DeviceBuffer)?) throws {
        let needed = pointwiseFilterTransposedWorkspaceCount(d)
        guard Self.pointwiseFilterTransposedApplies(d), let workspace, workspace.count >= needed else {
            throw CNNError.invalidBuffer(op: "conv2d_backwardFilter (transposed 1×1 GEMM)", detail:
                "it takes an ungrouped 1×1 stride-1 layer and \(needed) floats of workspace (got "
                + "\(workspace?.count ?? 0)); size it with convolutionWorkspaceCount for this solution")
        }
        let (c, k, p) = (d.inChannels, d.outChannels, d.outPixels)
        let workers = min(threads, d.batch), stride = (d.weightCount + 15) / 16 * 16
        let (xp, dyp, dwp, partials) = (ptr(x), ptr(dy), ptr(dw), ptr(workspace))
        // The larger of C_in and K_out goes on the GEMM's rows; the partial is then C_in × K_out
        // (transposed) or K_out × C_in (dw's own layout).
        let transposed = c >= k
        parallelFor(workers, grain: 1) { range in
            for w in range {
                let part = partials + w * stride
                let images = (d.batch * w / workers)..<(d.batch * (w + 1) / workers)
                for n in images {
                    let xn = xp + n * c * p, dyn = dyp + n * k * p, beta: Float = n == images.lowerBound ? 0 : 1
                    if transposed {
                        sgemm(false, true, c, k, p, 1, xn, p, dyn, p, beta, part, k)
                    } else {
                        sgemm(false, true, k, c, p, 1, dyn, p, xn, p, beta, part, c)
                    }
                }
            }
        }
        // Sum the partials into dw, transposing them if needed: each worker takes blocks of 16
        // rows of dw, so a partial's row segment is one cache line read.
        parallelFor((k + 15) / 16, grain: 1) { blocks in
            for block in blocks {
                let rows = (block * 16)..<min(k, block * 16 + 16)
                for i in 0..<c {
                    for o in rows {
                        let at = transposed ? i * k + o : o * c + i
                        var sum = partials[at]
                        for w in 1..<workers { sum += partials[w * stride + at] }
                        dwp[o * c + i] = sum
                    }
                }
            }
        }
    }
}
