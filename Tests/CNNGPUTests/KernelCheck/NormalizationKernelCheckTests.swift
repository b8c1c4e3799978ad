@testable import CNNGPU
import XCTest

/// Runs every kernel of Kernels/batchnorm.cl and Kernels/lrn.cl once on tiny shapes, for
/// scripts/check-kernels.sh (oclgrind: out-of-bounds, races in the local-memory reductions,
/// uninitialized reads). Results are checked against the CPU backend.
final class KernelCheckNormalizationTests: XCTestCase {
    func testEveryBatchNormKernel() throws {
        let cl = try TestBackends.requireOpenCL()
        defer { try? cl.memoryBound.set(MemoryBoundTunables.batchNorm, nil) }
        // Both orders of the reductions' first passes (contiguous chunks per work-item on CPU
        // devices, coalesced on GPUs), whichever kind the checking device is, and both forms of
        // the training forward (one group per channel; split statistics + normalize).
        for order in [0, 1] {
            for fused in [0, 1] {
                var values = MemoryBoundTunables.batchNorm.cpuDefault
                values["BN_REDUCE_CONTIGUOUS"] = order
                values["BN_FUSED_FORWARD"] = fused
                try cl.memoryBound.set(MemoryBoundTunables.batchNorm, values)
                // Rows shorter and longer than a work-group, and a row over three reduction
                // tiles with a partial last one.
                for s in [AxisShape(outer: 3, axis: 2, inner: 97), AxisShape(outer: 2, axis: 2, inner: 263),
                          AxisShape(outer: 1, axis: 2, inner: 2_100)] {
                    try checkBatchNorm(cl, s)
                }
            }
        }
    }

    func checkBatchNorm(_ cl: OpenCLBackend, _ s: AxisShape) throws {
        var rng = SeededGenerator.fresh()
        let x = rng.floats(s.count), dy = rng.floats(s.count)
        let gamma = rng.floats(s.axis), beta = rng.floats(s.axis), rv = rng.floats(s.axis, in: 0.5...2)
        var results: [[Float]] = []
        for b in [TestBackends.cpu as any NormalizationOps, cl as any NormalizationOps] {
            let xb = try b.makeBuffer(x), g = try b.makeBuffer(gamma), be = try b.makeBuffer(beta)
            let runningMean = try b.makeBuffer(beta), runningVar = try b.makeBuffer(rv)
            let y = try b.hostInitialized(s.count, dtype: .float32), yInference = try b.hostInitialized(s.count, dtype: .float32)
            let mean = try b.hostInitialized(s.axis, dtype: .float32), invStd = try b.hostInitialized(s.axis, dtype: .float32)
            let dx = try b.hostInitialized(s.count, dtype: .float32)
            let dGamma = try b.hostInitialized(s.axis, dtype: .float32), dBeta = try b.hostInitialized(s.axis, dtype: .float32)
            try b.batchNormForwardTraining(s, x: xb, gamma: g, beta: be, y: y, runningMean: runningMean,
                                           runningVar: runningVar, momentum: 0.1, epsilon: 1e-5,
                                           savedMean: mean, savedInvStd: invStd)
            try b.batchNormForwardInference(s, x: xb, gamma: g, beta: be, runningMean: runningMean,
                                            runningVar: runningVar, epsilon: 1e-5, y: yInference)
            try b.batchNormBackward(s, x: xb, dy: try b.makeBuffer(dy), gamma: g, savedMean: mean,
                                    savedInvStd: invStd, dx: dx, dGamma: dGamma, dBeta: dBeta)
            results.append(try [y, yInference, mean, invStd, runningMean, runningVar, dx, dGamma, dBeta]
                .flatMap { try b.download($0) })
        }
        assertClose(results[1], results[0], tolerance: 1e-4, "\(s) seed \(rng.seed)")
    }

    func testEveryLRNKernel() throws {
        let cl = try TestBackends.requireOpenCL()
        // beta 0.75 (AlexNet) and another beta take different paths to scale^−beta.
        for p in [LRNParameters(size: 3, alpha: 0.5, beta: 0.75, k: 1), LRNParameters(size: 4, alpha: 0.5, beta: 0.6, k: 1)] {
            try checkLRN(cl, p)
        }
    }

    func checkLRN(_ cl: OpenCLBackend, _ p: LRNParameters) throws {
        var rng = SeededGenerator.fresh()
        let (batch, channels, spatial) = (2, 5, 6)
        let count = batch * channels * spatial
        let x = rng.floats(count), dy = rng.floats(count)
        var results: [[Float]] = []
        for b in [TestBackends.cpu as any NormalizationOps, cl as any NormalizationOps] {
            let xb = try b.makeBuffer(x), y = try b.hostInitialized(count, dtype: .float32)
            let scale = try b.hostInitialized(count, dtype: .float32), dx = try b.hostInitialized(count, dtype: .float32)
            try b.lrnForward(p, batch: batch, channels: channels, spatial: spatial, x: xb, y: y, scale: scale)
            let dyb = try b.makeBuffer(dy)
            try b.lrnBackward(p, batch: batch, channels: channels, spatial: spatial, x: xb, y: y, scale: scale,
                              dy: dyb, dx: dx)
            results.append(try [y, scale, dx].flatMap { try b.download($0) })
        }
        assertClose(results[1], results[0], tolerance: 1e-4, "\(p) seed \(rng.seed)")
    }
}
