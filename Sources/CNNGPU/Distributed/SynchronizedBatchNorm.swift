import Foundation

/// Sums per-channel numbers over the ranks of a data-parallel run: what synchronized batch
/// norm needs between computing its local statistics and normalizing. Compared by identity, so
/// `PlanOptions` stays `Equatable`.
public final class CrossRankSum: @unchecked Sendable, Equatable {
    let sum: ([Double]) throws -> [Double]

    /// Sums with `MPI_Allreduce` over `world`.
    public convenience init(world: MPIWorld) {
        self.init { values in
            var v = values
            try world.allreduceSum(&v)
            return v
        }
    }

    /// Sums with any function that returns the same totals on every participant.
    public init(sum: @escaping ([Double]) throws -> [Double]) { self.sum = sum }

    public static func == (a: CrossRankSum, b: CrossRankSum) -> Bool { a === b }
}

/// Batch norm whose batch statistics are those of the global batch: each rank sums its
/// samples per channel, the sums are added across ranks, and every rank normalizes with the
/// global mean and variance (and, backward, the global Σdy and Σdy·x̂). With this, N ranks
/// at batch B/N compute what one process computes at batch B.
///
/// The op stages its tensors through host memory on every backend (like the gradient
/// averaging): correct everywhere, and as fast as the backend's own kernels only on the CPU
/// backend. The parameter gradients (dγ, dβ) stay per-rank sums, averaged with the others.
extension BatchNorm {
    func compileSynchronizedForward(_ c: LayerContext, ranks: CrossRankSum) throws -> [CompiledOp] {
        let s = axisShape(c.inputShapes[0], batch: c.batch)
        let backend = c.backend, p = c.parameters, x = c.inputs[0], y = c.output
        let relu = c.epilogue == .relu
        let momentum = momentum, epsilon = epsilon
        let mean = c.state[0], invStd = c.state[1]
        try backend.checks.batchNormForwardTraining(s, x: x, gamma: p[0], beta: p[1], y: y, runningMean: p[2],
                                                    runningVar: p[3], momentum: momentum, epsilon: epsilon,
                                                    savedMean: mean, savedInvStd: invStd)
        let kind = "batchnorm" + (relu ? "+relu" : "") + " (synchronized)"
        return [CompiledOp(name: c.name, kind: kind, phase: .forward, shape: c.shapeText, bytes: Double(s.count * 4 * 3),
                           node: c.node) { _ in
            let xs = try backend.download(x, count: s.count)
            let (gamma, beta) = (try backend.download(p[0], count: s.axis), try backend.download(p[1], count: s.axis))
            // Two passes, as the backends do: the mean, then Σ(x − mean)² (no E[x²] − E[x]² cancellation).
            var sums = [Double](repeating: 0, count: s.axis + 1)
            Self.forEachRow(s) { c, range in for i in range { sums[c] += Double(xs[i]) } }
            sums[s.axis] = Double(s.outer * s.inner)
            sums = try ranks.sum(sums)
            let m = sums[s.axis]
            let means = (0..<s.axis).map { Float(sums[$0] / m) }
            var squares = [Double](repeating: 0, count: s.axis)
            Self.forEachRow(s) { c, range in
                for i in range { let d = Double(xs[i] - means[c]); squares[c] += d * d }
            }
            squares = try ranks.sum(squares)
            let variances = squares.map { $0 / m }
            let invStds = variances.map { Float(1 / ($0 + Double(epsilon)).squareRoot()) }
            var out = [Float](repeating: 0, count: s.count)
            Self.forEachRow(s) { c, range in
                let a = gamma[c] * invStds[c], b = beta[c], mu = means[c]
                for i in range { let v = (xs[i] - mu) * a + b; out[i] = relu ? max(v, 0) : v }
            }
            var runningMean = try backend.download(p[2], count: s.axis), runningVar = try backend.download(p[3], count: s.axis)
            for c in 0..<s.axis {
                runningMean[c] = (1 - momentum) * runningMean[c] + momentum * means[c]
                runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(variances[c] * m / (m - 1))
            }
            try backend.upload(out, to: y)
            try backend.upload(means, to: mean)
            try backend.upload(invStds, to: invStd)
            try backend.upload(runningMean, to: p[2])
            try backend.upload(runningVar, to: p[3])
        }]
    }

    func compileSynchronizedBackward(_ c: LayerContext, _ g: GradientContext, ranks: CrossRankSum) throws -> [CompiledOp] {
        guard let dx = g.inputGradients[0], let dGamma = g.parameterGradients[0], let dBeta = g.parameterGradients[1] else {
            throw CNNError.invalidArgument("BatchNorm backward needs input and parameter gradient buffers")
        }
        let s = axisShape(c.inputShapes[0], batch: c.batch)
        let backend = c.backend, x = c.inputs[0], y = c.output, dy = g.outputGradient, gamma = c.parameters[0]
        let mean = c.state[0], invStd = c.state[1]
        let relu = c.epilogue == .relu
        try backend.checks.batchNormBackward(s, x: x, dy: dy, gamma: gamma, savedMean: mean, savedInvStd: invStd,
                                             dx: dx, dGamma: dGamma, dBeta: dBeta)
        return [CompiledOp(name: c.name, kind: "batchnorm" + (relu ? "+relu" : "") + " backward (synchronized)", phase: .backward,
                           shape: c.shapeText, bytes: Double(s.count * 4 * 4), node: c.node) { _ in
            let xs = try backend.download(x, count: s.count)
            var dys = try backend.download(dy, count: s.count)
            if relu {
                let ys = try backend.download(y, count: s.count)
                for i in dys.indices where !(ys[i] > 0) { dys[i] = 0 }
            }
            let gammas = try backend.download(gamma, count: s.axis)
            let means = try backend.download(mean, count: s.axis), invStds = try backend.download(invStd, count: s.axis)
            // Local Σdy and Σdy·(x − mean) per channel, then the global ones, with the global count.
            var sums = [Double](repeating: 0, count: 2 * s.axis + 1)
            Self.forEachRow(s) { c, range in
                for i in range {
                    sums[c] += Double(dys[i])
                    sums[s.axis + c] += Double(dys[i]) * Double(xs[i] - means[c])
                }
            }
            sums[2 * s.axis] = Double(s.outer * s.inner)
            let local = sums
            sums = try ranks.sum(sums)
            let m = Float(sums[2 * s.axis])
            try backend.upload((0..<s.axis).map { Float(local[s.axis + $0]) * invStds[$0] }, to: dGamma)
            try backend.upload((0..<s.axis).map { Float(local[$0]) }, to: dBeta)
            var out = [Float](repeating: 0, count: s.count)
            Self.forEachRow(s) { c, range in
                // dx = γ·invStd/M · (M·dy − Σdy − x̂·Σdy·x̂), the sums over the global batch.
                let db = Float(sums[c]), dg = Float(sums[s.axis + c]) * invStds[c]
                let scale = gammas[c] * invStds[c] / m
                let a = gammas[c] * invStds[c], b = -scale * dg * invStds[c], k = -scale * db
                for i in range { out[i] = a * dys[i] + b * (xs[i] - means[c]) + k }
            }
            try backend.upload(out, to: dx)
        }]
    }

    /// Calls `body(channel, indices)` for each contiguous row of one channel, NCHW.
    private static func forEachRow(_ s: AxisShape, _ body: (Int, Range<Int>) -> Void) {
        for n in 0..<s.outer {
            for c in 0..<s.axis {
                let o = (n * s.axis + c) * s.inner
                body(c, o..<(o + s.inner))
            }
        }
    }
}
