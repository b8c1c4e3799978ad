@testable import CNNGPU
import XCTest

/// One full training step of a small residual network — forward, loss, backward with gradient
/// accumulation at the join, SGD update — against the same step written out by hand in Double
/// from the per-op references.
final class TrainingStepTests: XCTestCase {
    func testFullStepMatchesHandWrittenReference() throws {
        let (batch, classes) = (3, 4)
        let b = GraphBuilder(input: [2, 6, 6])
        let c1 = b.add(Conv2D(3, kernel: 3, padding: .same), b.input)
        let r = b.add(ReLU(), c1)
        let c2 = b.add(Conv2D(3, kernel: 3, padding: .same), r)
        let sum = b.add(Add(), r, c2)
        let pooled = b.add(MaxPool2D(2), sum)
        let graph = try b.build(output: b.add(Dense(classes), b.add(Flatten(), pooled)))

        var rng = SeededGenerator.fresh()
        let x = rng.floats(batch * 72)
        let labels = rng.ints(batch, below: classes)
        let lr: Float = 0.1

        for backend in TestBackends.all {
            let store = try ParameterStore(graph: graph, backend: backend, seed: rng.seed)
            let p = try store.read().mapValues { $0.doubles }
            let plan = try Plan(graph: graph, parameters: store, batch: batch, training: true)
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0), parameters: store))
            let loss = try step.run(images: x, labels: labels, learningRate: lr, seed: 0).loss
            let updated = try store.read()

            // The same step by hand.
            let conv = try Conv2DDescriptor(batch: batch, inChannels: 2, inH: 6, inW: 6, outChannels: 3,
                                            kernelH: 3, kernelW: 3, padding: Padding2D(1))
            let conv2 = try Conv2DDescriptor(batch: batch, inChannels: 3, inH: 6, inW: 6, outChannels: 3,
                                             kernelH: 3, kernelW: 3, padding: Padding2D(1))
            let pool = try Pool2DDescriptor(batch: batch, channels: 3, inH: 6, inW: 6, windowH: 2, windowW: 2,
                                            strideH: 2, strideW: 2, mode: .max)
            let a1 = ConvolutionReference.forward(conv, x: x.doubles, w: p["conv1.weight"]!, bias: p["conv1.bias"]!)
            let relu = a1.map { max($0, 0) }
            let a2 = ConvolutionReference.forward(conv2, x: relu, w: p["conv2.weight"]!, bias: p["conv2.bias"]!)
            let s = zip(relu, a2).map(+)
            let (pooledValues, indices) = PoolingReference.forward(pool, s)
            let (features, wd, bd) = (27, p["dense1.weight"]!, p["dense1.bias"]!)
            var logits = [Double](repeating: 0, count: batch * classes)
            for n in 0..<batch {
                for k in 0..<classes {
                    logits[n * classes + k] = bd[k] + (0..<features).reduce(0) { $0 + wd[k * features + $1] * pooledValues[n * features + $1] }
                }
            }
            let expectedLoss = LossReference.softmaxCrossEntropyLoss(rows: batch, cols: classes, logits: logits, labels: labels)
            let dLogits = LossReference.softmaxCrossEntropyGradient(rows: batch, cols: classes, logits: logits, labels: labels)
            var dWd = [Double](repeating: 0, count: classes * features), dbd = [Double](repeating: 0, count: classes)
            var dFeatures = [Double](repeating: 0, count: batch * features)
            for n in 0..<batch {
                for k in 0..<classes {
                    let g = dLogits[n * classes + k]
                    dbd[k] += g
                    for f in 0..<features {
                        dWd[k * features + f] += g * pooledValues[n * features + f]
                        dFeatures[n * features + f] += g * wd[k * features + f]
                    }
                }
            }
            let dSum = PoolingReference.backward(pool, dy: dFeatures, indices: indices)
            let dW2 = ConvolutionReference.backwardFilter(conv2, x: relu, dy: dSum)
            let db2 = ConvolutionReference.backwardBias(batch: batch, channels: 3, spatial: 36, dy: dSum)
            // The ReLU output feeds both the Add and conv2: its gradient is the sum of both paths.
            let dRelu = zip(dSum, ConvolutionReference.backwardData(conv2, dy: dSum, w: p["conv2.weight"]!)).map(+)
            let dA1 = zip(dRelu, a1).map { $1 > 0 ? $0 : 0 }
            let dW1 = ConvolutionReference.backwardFilter(conv, x: x.doubles, dy: dA1)
            let db1 = ConvolutionReference.backwardBias(batch: batch, channels: 3, spatial: 36, dy: dA1)

            let name = backend.info.backend
            XCTAssertEqual(Double(loss), expectedLoss, accuracy: 1e-4 * max(1, expectedLoss), name)
            for (key, grad) in [("conv1.weight", dW1), ("conv1.bias", db1), ("conv2.weight", dW2), ("conv2.bias", db2),
                                ("dense1.weight", dWd), ("dense1.bias", dbd)] {
                let expected = zip(p[key]!, grad).map { $0 - Double(lr) * $1 }
                assertClose(updated[key]!, expected, "\(name) \(key) after one step, seed \(rng.seed)")
                // And the step itself (the update is small next to the weights).
                let step = zip(updated[key]!, p[key]!).map { Double($0) - $1 }
                assertClose(step.map(Float.init), grad.map { -Double(lr) * $0 }, tolerance: 2e-3, "\(name) \(key) step")
            }
        }
    }
}
