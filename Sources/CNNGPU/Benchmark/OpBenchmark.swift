/// One op to time: what it computes, how much work that is, and how to set it up on a backend.
struct OpBenchmark {
    var group: String
    var name: String
    var direction: String
    var shape: String
    var bound: OpResult.Bound
    /// FLOPs (compute-bound) or bytes read + written (memory-bound) per run.
    var work: Double
    /// Allocates the operands on a backend; returns the algorithm it will run and the work to time.
    var prepare: (any Backend) throws -> (algorithm: String, run: () throws -> Void)
}

extension OpBenchmark {
    /// Square-ish SGEMM, C = A·B, m×k by k×n.
    static func gemm(m: Int, n: Int, k: Int) -> OpBenchmark {
        OpBenchmark(group: "gemm", name: "sgemm \(m)×\(n)×\(k)", direction: "forward", shape: "m\(m) n\(n) k\(k)",
                    bound: .compute, work: 2 * Double(m) * Double(n) * Double(k)) { backend in
            let a = try operand(backend, m * k), b = try operand(backend, k * n), c = try operand(backend, m * n)
            return (gemmName(backend), {
                try backend.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                                 a: MatrixRef(a, ld: k), b: MatrixRef(b, ld: n), beta: 0, c: MatrixRef(c, ld: n))
            })
        }
    }

    /// The three passes of a convolution layer, each run as a compiled plan runs it: the
    /// solution chosen, checked and given its workspace once, then only encoded. (The eager API
    /// allocates a workspace per call, and the first touch of tens of megabytes would be timed
    /// with the arithmetic: Winograd F(4×4,3×3) on ResNet's 512→512 7² ran 22.6 ms so on PoCL
    /// against 10.5 ms.)
    static func convolution(_ name: String, _ d: Conv2DDescriptor) -> [OpBenchmark] {
        let shape = "N\(d.batch) C\(d.inChannels)→\(d.outChannels) \(d.inH)² k\(d.kernelH) s\(d.strideH)"
        typealias Pass = (any Backend, ConvolutionSolution, _ workspace: (any DeviceBuffer)?, _ x: any DeviceBuffer,
                          _ w: any DeviceBuffer, _ y: any DeviceBuffer) throws -> Void
        func op(_ pass: ConvolutionDirection, _ direction: String, _ body: @escaping Pass) -> OpBenchmark {
            OpBenchmark(group: "conv", name: name, direction: direction, shape: shape, bound: .compute,
                        work: d.flops) { backend in
                let x = try operand(backend, d.inputCount), w = try operand(backend, d.weightCount, 0.01)
                let y = try operand(backend, d.outputCount)
                let solution = try ConvolutionChoice.solution(for: d, direction: pass, backend: backend)
                let count = backend.convolutionWorkspaceCount(d, direction: pass, solution: solution)
                let workspace = count > 0 ? try backend.allocate(count, dtype: .float32) : nil
                try backend.checkConvolutionSolution(d, direction: pass, solution: solution, workspace: workspace)
                return (convolutionAlgorithmName(backend, d, pass, solution, label: direction),
                        { try body(backend, solution, workspace, x, w, y) })
            }
        }
        return [
            op(.forward, "forward") {
                try $0.encodeConvolutionForward(d, x: $3, weight: $4, bias: nil, activation: nil, y: $5, solution: $1, workspace: $2)
            },
            op(.backwardData, "backward-data") {
                try $0.encodeConvolutionBackwardData(d, dy: $5, weight: $4, dx: $3, solution: $1, workspace: $2)
            },
            op(.backwardFilter, "backward-filter") {
                try $0.encodeConvolutionBackwardFilter(d, x: $3, dy: $5, dw: $4, solution: $1, workspace: $2)
            },
        ]
    }

    /// Max pooling (with the indices training needs), forward and backward.
    static func maxPool(_ name: String, _ d: Pool2DDescriptor) -> [OpBenchmark] {
        let shape = "N\(d.batch) C\(d.channels) \(d.inH)² \(d.windowH)×\(d.windowW)/\(d.strideH)"
        let bytes = Double(d.inputCount + 2 * d.outputCount) * 4   // x in; y and indices out (and back)
        return [
            OpBenchmark(group: "pool", name: name, direction: "forward", shape: shape, bound: .memory, work: bytes) { b in
                let x = try operand(b, d.inputCount), y = try operand(b, d.outputCount)
                let i = try b.allocate(d.outputCount, dtype: .int32)
                return (kernelName(b, openCL: "max_pool_forward_indexed"), { try b.poolingForward(d, x: x, y: y, indices: i) })
            },
            OpBenchmark(group: "pool", name: name, direction: "backward", shape: shape, bound: .memory, work: bytes) { b in
                let x = try operand(b, d.inputCount), y = try operand(b, d.outputCount)
                let i = try b.allocate(d.outputCount, dtype: .int32)
                try b.poolingForward(d, x: x, y: y, indices: i)
                return (kernelName(b, openCL: "max_pool_backward_gather"), { try b.poolingBackward(d, dy: y, indices: i, dx: x) })
            },
        ]
    }

    /// Batch normalization over [N, C, H·W]: training forward (statistics + normalize),
    /// inference forward, and backward.
    static func batchNorm(_ name: String, batch: Int, channels: Int, spatial: Int) -> [OpBenchmark] {
        let s = AxisShape(outer: batch, axis: channels, inner: spatial)
        let shape = "N\(batch) C\(channels) \(Int(Double(spatial).squareRoot()))²"
        let n = Double(s.count) * 4
        func op(_ direction: String, _ bytes: Double, _ kernel: String,
                _ body: @escaping (any Backend, [any DeviceBuffer]) throws -> Void) -> OpBenchmark {
            OpBenchmark(group: "batchnorm", name: name, direction: direction, shape: shape, bound: .memory, work: bytes) { b in
                // x, y, dy, dx, then gamma, beta, running mean/var, saved mean/inv std, dGamma, dBeta.
                let big = try (0..<4).map { _ in try operand(b, s.count) }
                let small = try (0..<8).map { _ in try operand(b, channels, 1) }
                return (kernelName(b, openCL: kernel), { try body(b, big + small) })
            }
        }
        return [
            // Statistics read x once, normalizing reads it again and writes y.
            op("forward-training", 3 * n, "batchnorm_partial_statistics + batchnorm_combine_statistics + batchnorm_normalize") { b, v in
                try b.batchNormForwardTraining(s, x: v[0], gamma: v[4], beta: v[5], y: v[1], runningMean: v[6],
                                               runningVar: v[7], momentum: 0.1, epsilon: 1e-5,
                                               savedMean: v[8], savedInvStd: v[9])
            },
            op("forward-inference", 2 * n, "batchnorm_inference") { b, v in
                try b.batchNormForwardInference(s, x: v[0], gamma: v[4], beta: v[5], runningMean: v[6],
                                                runningVar: v[7], epsilon: 1e-5, y: v[1])
            },
            // The reduction reads x and dy; the data pass reads them again and writes dx.
            op("backward", 5 * n, "batchnorm_backward_partial + batchnorm_backward_combine + batchnorm_backward_data") { b, v in
                try b.batchNormBackward(s, x: v[0], dy: v[2], gamma: v[4], savedMean: v[8], savedInvStd: v[9],
                                        dx: v[3], dGamma: v[10], dBeta: v[11])
            },
        ]
    }

    /// ReLU forward (x → y) and backward (y, dy → dx).
    static func relu(_ name: String, count: Int, shape: String) -> [OpBenchmark] {
        func op(_ direction: String, _ bytes: Double, _ kernel: String,
                _ body: @escaping (any Backend, [any DeviceBuffer]) throws -> Void) -> OpBenchmark {
            OpBenchmark(group: "activation", name: name, direction: direction, shape: shape, bound: .memory, work: bytes) { b in
                let v = try (0..<4).map { _ in try operand(b, count) }
                return (kernelName(b, openCL: kernel), { try body(b, v) })
            }
        }
        return [
            op("forward", 2 * Double(count) * 4, "activation_forward") {
                try $0.activationForward(.relu, count: count, x: $1[0], y: $1[1])
            },
            op("backward", 3 * Double(count) * 4, "activation_backward") {
                try $0.activationBackward(.relu, count: count, x: $1[0], y: $1[1], dy: $1[2], dx: $1[3])
            },
        ]
    }
}

/// A buffer of `count` copies of `value` (the values do not change the work of these ops).
private func operand(_ backend: any Backend, _ count: Int, _ value: Float = 0.5) throws -> any DeviceBuffer {
    let b = try backend.allocate(count, dtype: .float32)
    try backend.fill(b, value: value)
    return b
}

private func gemmName(_ backend: any Backend) -> String {
    backend is OpenCLBackend ? "CLBlast SGEMM" : "oneDNN SGEMM"
}

/// The OpenCL kernel an op launches; the CPU backend runs its own loops for these ops.
private func kernelName(_ backend: any Backend, openCL kernel: String) -> String {
    backend is OpenCLBackend ? kernel : "native loops"
}

/// How a report names `solution`, the one chosen for `d` in `pass` (`label`: "forward",
/// "backward-data" or "backward-filter"; see each backend's `+Convolution` file).
func convolutionAlgorithmName(_ backend: any Backend, _ d: Conv2DDescriptor, _ pass: ConvolutionDirection,
                              _ solution: ConvolutionSolution, label direction: String) -> String {
    let tuned = ConvolutionChoice.isTuned(solution, d, direction: pass, backend: backend) ? " (tuned)" : ""
    switch solution.algorithm {
    case .im2colGEMM: return "im2col + " + gemmName(backend) + tuned
    case .direct:
        return (backend is OpenCLBackend ? "conv_direct_" + direction.replacingOccurrences(of: "-", with: "_") : "direct loops") + tuned
    case .oneDNN:
        let team = solution.parameters["team"] == 1 ? ", whole batch" : ""
        return (solution.parameters["blocked"] == 1 ? "oneDNN blocked + reorders" : "oneDNN NCHW") + team + tuned
    case .implicitGEMM, .winogradF2x3, .winogradF4x3, .winogradFilter, .conv1x1CLBlast, .directTiled, .fewChannels, .channelsLast, .pointwise,
             .fullyConnected:
        return solution.description + tuned
    }
}
