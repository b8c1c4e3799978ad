import CNNGPU
import Foundation

/// A whole graph's forward pass and loss in plain Double, written from the layers' definitions
/// and nothing of the engine's (no planner, no shared buffers, no in-place ops, no backward
/// pass), so finite differences of its loss check the engine's gradients end to end.
///
/// Covers the layers the whole-graph checks use: Conv2D (groups 1, dilation 1), the
/// element-wise activations, Add, Concat, Flatten, Dropout, BatchNorm (training or inference),
/// Dense, GlobalAvgPool and (log-)softmax. Any other layer stops the test with its name.
struct GraphReference {
    let graph: Graph
    let batch: Int
    /// Batch statistics (training) or running statistics (inference) in batch norms; with it,
    /// dropout multiplies by `dropoutScales`.
    let training: Bool
    /// Per dropout node, what each element is multiplied by: 0 where dropped, 1/(1 − rate)
    /// where kept. The engine's mask is a function of its seed; tests read it from a run.
    var dropoutScales: [Int: [Double]] = [:]

    init(graph: Graph, batch: Int, training: Bool) {
        self.graph = graph; self.batch = batch; self.training = training
    }

    /// Every node's output (`batch` samples each), input first.
    func forward(_ input: [Double], parameters: [String: [Double]]) -> [[Double]] {
        precondition(input.count == batch * graph.inputShape.count,
                     "input has \(input.count) values, the graph takes \(batch) × \(graph.inputShape.count)")
        var outputs: [[Double]] = [input]
        for (i, node) in graph.nodes.enumerated().dropFirst() {
            let inputs = node.inputs.map { outputs[$0] }
            let shapes = node.inputs.map { graph.nodes[$0].shape.dims }
            func parameter(_ name: String) -> [Double] {
                guard let p = parameters["\(node.name).\(name)"] else {
                    preconditionFailure("no parameter \(node.name).\(name) for the reference")
                }
                return p
            }
            outputs.append(evaluate(node, index: i, inputs, shapes, parameter))
        }
        return outputs
    }

    /// Mean softmax cross-entropy of the graph's output (logits) against `labels`.
    func loss(_ input: [Double], parameters: [String: [Double]], labels: [Int32]) -> Double {
        let logits = forward(input, parameters: parameters).last!
        return LossReference.softmaxCrossEntropyLoss(rows: batch, cols: graph.outputShape.count, logits: logits,
                                                     labels: labels)
    }

    private func evaluate(_ node: Graph.Node, index: Int, _ x: [[Double]], _ shapes: [[Int]],
                          _ parameter: (String) -> [Double]) -> [Double] {
        switch node.layer {
        case let conv as Conv2D:
            return convolution(conv, x[0], shape: shapes[0], outShape: node.shape.dims, parameter)
        case let activation as ActivationLayer:
            return x[0].map { Self.activate(activation.function, $0) }
        case is Add:
            return (0..<x[0].count).map { e in x.reduce(0) { $0 + $1[e] } }
        case is Concat:
            return concat(x, shapes: shapes)
        case is Flatten:
            return x[0]
        case is Dropout:
            guard training else { return x[0] }
            guard let scales = dropoutScales[index], scales.count == x[0].count else {
                preconditionFailure("no dropout scales for node \(index) (\(node.name)) of \(x[0].count) elements")
            }
            return zip(x[0], scales).map(*)
        case let bn as BatchNorm:
            return batchNorm(bn, x[0], shape: shapes[0], parameter)
        case let dense as Dense:
            return denseLayer(dense, x[0], features: shapes[0].reduce(1, *), parameter)
        case let softmax as Softmax:
            return softmaxAlongChannels(x[0], shape: shapes[0], log: softmax.log)
        case let pool as Pool2D:
            // Max or average, as PoolingReference computes them (first maximum wins ties).
            let padding: Padding2D
            switch pool.padding {
            case .valid: padding = .zero
            case .explicit(let p): padding = p
            case .same: preconditionFailure("GraphReference pools with valid or explicit padding")
            }
            let d = try! Pool2DDescriptor(batch: batch, channels: shapes[0][0], inH: shapes[0][1], inW: shapes[0][2],
                                          windowH: pool.windowH, windowW: pool.windowW, strideH: pool.strideH,
                                          strideW: pool.strideW, padding: padding, mode: pool.mode)
            return PoolingReference.forward(d, x[0]).y
        case is GlobalAvgPool:
            let (c, spatial) = (shapes[0][0], shapes[0].dropFirst().reduce(1, *))
            return (0..<batch * c).map { plane in
                x[0][plane * spatial..<(plane + 1) * spatial].reduce(0, +) / Double(spatial)
            }
        default:
            preconditionFailure("GraphReference has no forward for \(node.layer.map { "\(type(of: $0))" } ?? "nil")")
        }
    }

    static func activate(_ f: Activation, _ v: Double) -> Double {
        switch f {
        case .relu: return max(v, 0)
        case .leakyReLU(let alpha): return v > 0 ? v : Double(alpha) * v
        case .elu(let alpha): return v > 0 ? v : Double(alpha) * (exp(v) - 1)
        case .sigmoid: return 1 / (1 + exp(-v))
        case .tanh: return tanh(v)
        }
    }

    /// Cross-correlation, NCHW, weights `[out, in, kH, kW]`, zero padding.
    private func convolution(_ conv: Conv2D, _ x: [Double], shape: [Int], outShape: [Int],
                             _ parameter: (String) -> [Double]) -> [Double] {
        precondition(conv.groups == 1 && conv.dilation == 1, "GraphReference convolves with groups 1, dilation 1")
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let (k, oh, ow) = (outShape[0], outShape[1], outShape[2])
        let (padH, padW): (Int, Int)
        switch conv.padding {
        case .valid: (padH, padW) = (0, 0)
        case .same:
            precondition(conv.strideH == 1 && conv.strideW == 1 && conv.kernelH % 2 == 1 && conv.kernelW % 2 == 1,
                         "GraphReference pads 'same' for stride 1 and odd kernels only")
            (padH, padW) = (conv.kernelH / 2, conv.kernelW / 2)
        case .explicit(let p):
            precondition(p.top == p.bottom && p.left == p.right, "GraphReference pads symmetrically only")
            (padH, padW) = (p.top, p.left)
        }
        let weight = parameter("weight")
        let bias = conv.useBias ? parameter("bias") : [Double](repeating: 0, count: k)
        var y = [Double](repeating: 0, count: batch * k * oh * ow)
        for n in 0..<batch {
            for o in 0..<k {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = bias[o]
                        for ci in 0..<c {
                            for ky in 0..<conv.kernelH {
                                for kx in 0..<conv.kernelW {
                                    let iy = oy * conv.strideH - padH + ky, ix = ox * conv.strideW - padW + kx
                                    guard (0..<h).contains(iy), (0..<w).contains(ix) else { continue }
                                    sum += x[((n * c + ci) * h + iy) * w + ix]
                                        * weight[((o * c + ci) * conv.kernelH + ky) * conv.kernelW + kx]
                                }
                            }
                        }
                        y[((n * k + o) * oh + oy) * ow + ox] = sum
                    }
                }
            }
        }
        return y
    }

    /// Softmax over the first axis of each sample (features, or channels at each pixel), with
    /// the maximum subtracted.
    private func softmaxAlongChannels(_ x: [Double], shape: [Int], log: Bool) -> [Double] {
        let (c, inner) = (shape[0], shape.dropFirst().reduce(1, *))
        var y = x
        for n in 0..<batch {
            for p in 0..<inner {
                let indices = (0..<c).map { (n * c + $0) * inner + p }
                let m = indices.map { x[$0] }.max()!
                let logSum = m + Foundation.log(indices.reduce(0) { $0 + exp(x[$1] - m) })
                for e in indices { y[e] = log ? x[e] - logSum : exp(x[e] - logSum) }
            }
        }
        return y
    }

    /// Channel concatenation of NCHW (or N×features) tensors: per sample, each input's block.
    private func concat(_ x: [[Double]], shapes: [[Int]]) -> [Double] {
        var y: [Double] = []
        for n in 0..<batch {
            for (values, shape) in zip(x, shapes) {
                let perSample = shape.reduce(1, *)
                y += values[n * perSample..<(n + 1) * perSample]
            }
        }
        return y
    }

    /// Per channel over batch and space: batch mean and biased variance when training (as
    /// PyTorch normalizes), running statistics otherwise.
    private func batchNorm(_ bn: BatchNorm, _ x: [Double], shape: [Int], _ parameter: (String) -> [Double]) -> [Double] {
        let (c, spatial) = (shape[0], shape.dropFirst().reduce(1, *))
        let gamma = parameter("weight"), beta = parameter("bias")
        var y = x
        for ch in 0..<c {
            let indices = (0..<batch).flatMap { n in (0..<spatial).map { (n * c + ch) * spatial + $0 } }
            let mean: Double, variance: Double
            if training {
                mean = indices.reduce(0) { $0 + x[$1] } / Double(indices.count)
                variance = indices.reduce(0) { $0 + (x[$1] - mean) * (x[$1] - mean) } / Double(indices.count)
            } else {
                mean = parameter("running_mean")[ch]
                variance = parameter("running_var")[ch]
            }
            let invStd = 1 / (variance + Double(bn.epsilon)).squareRoot()
            for e in indices { y[e] = (x[e] - mean) * invStd * gamma[ch] + beta[ch] }
        }
        return y
    }

    /// y = x·Wᵀ + b, W `[units, features]`.
    private func denseLayer(_ dense: Dense, _ x: [Double], features: Int, _ parameter: (String) -> [Double]) -> [Double] {
        let weight = parameter("weight")
        let bias = dense.useBias ? parameter("bias") : [Double](repeating: 0, count: dense.units)
        var y = [Double](repeating: 0, count: batch * dense.units)
        for n in 0..<batch {
            for u in 0..<dense.units {
                var sum = bias[u]
                for f in 0..<features { sum += x[n * features + f] * weight[u * features + f] }
                y[n * dense.units + u] = sum
            }
        }
        return y
    }
}
