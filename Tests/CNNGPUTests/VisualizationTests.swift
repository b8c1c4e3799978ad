import CNNGPU
import Foundation
import XCTest

/// Saliency, guided backpropagation, Grad-CAM and classic filters against plain references,
/// on every backend.
final class VisualizationTests: XCTestCase {
    private var backends: [any Backend] { TestBackends.all.compactMap { $0 as? any Backend } }

    /// A small DAG with the backward steps of a zoo model: convolution, frozen batch norm
    /// (non-trivial running statistics), max pooling, a residual add (the gradient of a tensor
    /// read twice is summed), tanh and ReLU, global pooling and a dense head.
    private func smallModel() throws -> Graph {
        let b = GraphBuilder(input: [2, 8, 8])
        let c1 = b.add(Conv2D(3, kernel: 3, padding: .same), b.input, name: "conv1")
        let t = b.add(Tanh(), b.add(BatchNorm(), c1, name: "bn1"), name: "tanh1")
        let p = b.add(MaxPool2D(2), t, name: "pool1")
        let r = b.add(ReLU(), b.add(Conv2D(3, kernel: 3, padding: .same), p, name: "conv2"), name: "relu2")
        let sum = b.add(Add(), p, r, name: "add1")
        return try b.build(output: b.add(Dense(4), b.add(Flatten(), b.add(GlobalAvgPool(), sum), name: "flat"), name: "fc"))
    }

    private func store(_ graph: Graph, _ backend: any Backend, seed: UInt64) throws -> ParameterStore {
        let s = try ParameterStore(graph: graph, backend: backend, seed: seed)
        var values = try s.read()
        var rng = SeededGenerator(seed: seed)
        for key in values.keys where key.hasSuffix("running_mean") { values[key] = rng.floats(values[key]!.count, in: -0.3...0.3) }
        for key in values.keys where key.hasSuffix("running_var") { values[key] = rng.floats(values[key]!.count, in: 0.5...2) }
        for key in values.keys where key.hasPrefix("bn1.weight") { values[key] = rng.floats(values[key]!.count, in: 0.5...1.5) }
        try s.write(values)
        return s
    }

    func testInputGradientMatchesFiniteDifferences() throws {
        var rng = SeededGenerator.fresh()
        let graph = try smallModel()
        let x = rng.floats(graph.inputShape.count)
        let seed = rng.next()
        let h: Float = 3e-3
        for backend in backends {
            let probe = try ModelProbe(graph: graph, parameters: try store(graph, backend, seed: seed))
            let dy = rng.floats(4)
            func score(_ input: [Float]) throws -> Double { zip(try probe.forward(input), dy).reduce(0) { $0 + Double($1.0 * $1.1) } }
            let center = try score(x)
            try probe.forward(x)
            let analytic = try probe.backward(outputGradient: dy)
            for i in x.indices {
                var p = x, m = x
                p[i] += h; m[i] -= h
                let (up, down) = (try score(p), try score(m))
                // A step across a kink (a ReLU input crossing zero, another pixel taking first place
                // in a max-pool window) only spoils the difference on that side: agreeing with either one-sided
                // difference, or the central one, is agreeing with the derivative.
                // The scores are Float sums: each carries rounding of a few ulps of its size, which a
                // step of h turns into that much over h in a one-sided difference.
                let candidates = [(up - down) / Double(2 * h), (up - center) / Double(h), (center - down) / Double(h)]
                let a = Double(analytic[i])
                let rounding = 8 * Double(Float.ulpOfOne) * max(1, abs(center)) / Double(h)
                XCTAssert(candidates.contains { abs($0 - a) <= 1e-4 + rounding + 0.02 * abs(a) },
                          "\(backend.info.backend) input \(i): analytic \(a), differences \(candidates), score \(center), seed \(rng.seed)")
            }
        }
    }

    /// conv1 (2 filters, 3×3, same) → ReLU → flatten → dense (3 classes), done by hand in Double.
    private struct TinyReference {
        let w: [Double], b: [Double], dw: [Double], db: [Double]
        let h = 4, wd = 5

        func conv(_ x: [Double]) -> [Double] {
            var y = [Double](repeating: 0, count: 2 * h * wd)
            for o in 0..<2 { for i in 0..<h { for j in 0..<wd {
                var s = b[o]
                for u in 0..<3 { for v in 0..<3 {
                    let (ii, jj) = (i + u - 1, j + v - 1)
                    if ii >= 0, ii < h, jj >= 0, jj < wd { s += w[o * 9 + u * 3 + v] * x[ii * wd + jj] }
                } }
                y[(o * h + i) * wd + j] = s
            } } }
            return y
        }

        /// d score_c / d input, with ReLU's rule or the guided one.
        func inputGradient(_ x: [Double], classIndex c: Int, guided: Bool) -> [Double] {
            let pre = conv(x)
            let n = 2 * h * wd
            let dA = (0..<n).map { dw[c * n + $0] }
            let dPre = (0..<n).map { k in pre[k] > 0 ? (guided ? max(dA[k], 0) : dA[k]) : 0 }
            var dx = [Double](repeating: 0, count: h * wd)
            for o in 0..<2 { for i in 0..<h { for j in 0..<wd { for u in 0..<3 { for v in 0..<3 {
                let (ii, jj) = (i + u - 1, j + v - 1)
                if ii >= 0, ii < h, jj >= 0, jj < wd { dx[ii * wd + jj] += w[o * 9 + u * 3 + v] * dPre[(o * h + i) * wd + j] }
            } } } } }
            return dx
        }

        /// ReLU(Σ_k mean(∂S/∂A_k) A_k) on the ReLU's output A.
        func gradCAM(_ x: [Double], classIndex c: Int) -> [Double] {
            let a = conv(x).map { max($0, 0) }
            let plane = h * wd
            var cam = [Double](repeating: 0, count: plane)
            for k in 0..<2 {
                let alpha = (0..<plane).reduce(0) { $0 + dw[c * 2 * plane + k * plane + $1] } / Double(plane)
                for p in 0..<plane { cam[p] += alpha * a[k * plane + p] }
            }
            return cam.map { max($0, 0) }
        }
    }

    private func tinyModel() throws -> Graph {
        try Sequential(input: [1, 4, 5]) { Conv2D(2, kernel: 3, padding: .same); ReLU(); Flatten(); Dense(3) }
    }

    private func reference(_ store: ParameterStore) throws -> TinyReference {
        let v = try store.read()
        return TinyReference(w: v["conv1.weight"]!.doubles, b: v["conv1.bias"]!.doubles,
                             dw: v["dense1.weight"]!.doubles, db: v["dense1.bias"]!.doubles)
    }

    func testSaliencyAndGuidedBackpropMatchPlainReference() throws {
        var rng = SeededGenerator.fresh()
        let graph = try tinyModel()
        let x = rng.floats(20)
        let seed = rng.next()
        var guidedByBackend: [[Float]] = []
        for backend in backends {
            let params = try ParameterStore(graph: graph, backend: backend, seed: seed)
            let ref = try reference(params)
            for c in 0..<3 {
                let plain = try Saliency.compute(ModelProbe(graph: graph, parameters: params), image: x, classIndex: c)
                assertClose(plain.gradient, ref.inputGradient(x.doubles, classIndex: c, guided: false), tolerance: 1e-4)
                let guided = try Saliency.compute(ModelProbe(graph: graph, parameters: params, guided: true), image: x, classIndex: c)
                assertClose(guided.gradient, ref.inputGradient(x.doubles, classIndex: c, guided: true), tolerance: 1e-4)
                if c == 0 { guidedByBackend.append(guided.gradient) }
                XCTAssertEqual(guided.map.max() ?? 0, 1, accuracy: 1e-6, "the heat map is scaled to its maximum")
            }
        }
        if guidedByBackend.count == 2 { assertClose(guidedByBackend[0], guidedByBackend[1], tolerance: 1e-5) }
    }

    func testGradCAMMatchesPlainReference() throws {
        var rng = SeededGenerator.fresh()
        let graph = try tinyModel()
        let x = rng.floats(20)
        let seed = rng.next()
        for backend in backends {
            let params = try ParameterStore(graph: graph, backend: backend, seed: seed)
            let ref = try reference(params)
            let probe = try ModelProbe(graph: graph, parameters: params)
            XCTAssertEqual(try GradCAM.defaultLayer(of: probe.graph), "relu1")
            for c in 0..<3 {
                let cam = try GradCAM.compute(probe, image: x, layer: "relu1", classIndex: c)
                assertClose(cam.raw, ref.gradCAM(x.doubles, classIndex: c), tolerance: 1e-4)
                XCTAssertEqual(cam.map.count, 20)
            }
        }
    }

    func testProbeKeepsNamesAndParametersAndFreezesBatchNorm() throws {
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32])
        let probe = try ModelProbe(graph: graph, parameters: ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1), guided: true)
        XCTAssertEqual(probe.graph.nodes.map(\.name), graph.nodes.map(\.name))
        XCTAssertEqual(probe.graph.nodes.map(\.parameters), graph.nodes.map(\.parameters))
        XCTAssertEqual(probe.graph.nodes.compactMap { $0.layer?.kind }.filter { $0 == "BatchNorm" }.count, 0)
        XCTAssertEqual(probe.graph.nodes.compactMap { $0.layer?.kind }.filter { $0 == "ReLU (guided)" }.count, 17)
    }

    func testGradCAMDefaultsToTheLastConvolutionalBlock() throws {
        XCTAssertEqual(try GradCAM.defaultLayer(of: ModelZoo.build("resnet18", input: [3, 64, 64])), "relu17")
        // VGG's adaptive pooling only resizes the last block's maps for the head: skipped.
        XCTAssertEqual(try GradCAM.defaultLayer(of: ModelZoo.build("vgg11", input: [3, 64, 64])), "features.20")
        XCTAssertEqual(try GradCAM.defaultLayer(of: ModelZoo.build("lenet5")), "pool2")
    }

    func testBadLayersAndClassesAreNamed() throws {
        let graph = try tinyModel()
        let probe = try ModelProbe(graph: graph, parameters: ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1))
        let unknown = assertThrowsCNNError { _ = try GradCAM.compute(probe, image: [Float](repeating: 0, count: 20), layer: "conv9") }
        XCTAssert(unknown?.contains("'conv9'") == true && unknown?.contains("relu1") == true, unknown ?? "")
        let vector = assertThrowsCNNError { _ = try FeatureMaps.grid(probe, layer: "dense1") }
        XCTAssert(vector?.contains("not feature maps") == true && vector?.contains("conv1") == true, vector ?? "")
        let range = assertThrowsCNNError { _ = try Saliency.compute(probe, image: [Float](repeating: 0, count: 20), classIndex: 3) }
        XCTAssert(range?.contains("class 3 is out of range") == true, range ?? "")
        let notConv = assertThrowsCNNError { _ = try LayerFilters.grid(graph: graph, parameters: probe.parameters, layer: "relu1") }
        XCTAssert(notConv?.contains("convolution layers: conv1") == true, notConv ?? "")
    }

    func testClassModelRaisesTheClassScore() throws {
        let graph = try tinyModel()
        let probe = try ModelProbe(graph: graph, parameters: ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 3))
        let result = try ClassModel.optimize(probe, classIndex: 1, steps: 20, learningRate: 0.05, l2: 0.01)
        XCTAssertGreaterThan(result.scores.last!, result.scores.first! + 0.1)
    }

    /// Plain cross-correlation in Double with zero padding and stride.
    private func directConvolution(_ x: [Float], height h: Int, width w: Int, kernel k: ClassicKernel, stride s: Int, padding p: Int)
        -> [Double] {
        let oh = (h + 2 * p - k.rows) / s + 1, ow = (w + 2 * p - k.columns) / s + 1
        var out: [Double] = []
        for i in 0..<oh {
            for j in 0..<ow {
                var sum = 0.0
                for u in 0..<k.rows {
                    for v in 0..<k.columns {
                        let (y, xx) = (i * s + u - p, j * s + v - p)
                        if y >= 0, y < h, xx >= 0, xx < w { sum += Double(k.weights[u * k.columns + v]) * Double(x[y * w + xx]) }
                    }
                }
                out.append(sum)
            }
        }
        return out
    }

    func testClassicFiltersMatchDirectConvolution() throws {
        var rng = SeededGenerator.fresh()
        let (c, h, w) = (2, 9, 11)
        let image = rng.floats(c * h * w, in: 0...1)
        let kernels = try ClassicFilters.standard(sigma: 0.8) + [ClassicKernel.parse("1, 2, -1; 0, 0.5, 3", name: "user")]
        for backend in backends {
            for (stride, padding) in [(1, 0), (2, 1), (3, 2)] {
                let geometry = try FilterGeometry(stride: stride, padding: padding)
                for k in kernels {
                    let r = try ClassicFilters.apply(k, to: image, channels: c, width: w, height: h, geometry: geometry, backend: backend)
                    XCTAssertEqual(r.height, geometry.outputSize(input: h, kernel: k.rows))
                    XCTAssertEqual(r.width, geometry.outputSize(input: w, kernel: k.columns))
                    let expected = (0..<c).flatMap { ch in
                        directConvolution(Array(image[(ch * h * w)..<((ch + 1) * h * w)]), height: h, width: w, kernel: k,
                                          stride: stride, padding: padding)
                    }
                    assertClose(r.values, expected, tolerance: 1e-5)
                }
            }
        }
        XCTAssertEqual(try FilterGeometry(stride: 2, padding: 1).arithmetic(input: 28, kernel: 3), "floor((28 + 2*1 - 3)/2) + 1 = 14")
        XCTAssertEqual(try FilterGeometry(stride: 1, padding: 1).arithmetic(input: 28, kernel: 3), "(28 + 2*1 - 3)/1 + 1 = 28")
        XCTAssertEqual(try ClassicKernel.gaussian(sigma: 1).weights.reduce(0, +), 1, accuracy: 1e-5)
    }

    func testKernelTextErrorsNameTheProblem() {
        let ragged = assertThrowsCNNError { _ = try ClassicKernel.parse("1,2,3;4,5") }
        XCTAssert(ragged?.contains("not rectangular") == true && ragged?.contains("3, 2") == true, ragged ?? "")
        let word = assertThrowsCNNError { _ = try ClassicKernel.parse("1,x;3,4") }
        XCTAssert(word?.contains("'x' in row 1 is not a number") == true, word ?? "")
        let big = assertThrowsCNNError {
            _ = try ClassicFilters.apply(.sobelX, to: [0, 0, 0, 0], channels: 1, width: 2, height: 2,
                                         geometry: FilterGeometry(), backend: TestBackends.cpu)
        }
        XCTAssert(big?.contains("larger than the 2×2 image") == true, big ?? "")
    }

    func testConfusionMatrixScores() {
        var m = ConfusionMatrix(classes: 3)
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 0), (2, 2), (2, 2), (2, 1)] { m.add(truth: t, predicted: p) }
        XCTAssertEqual(m.counts, [[2, 1, 0], [1, 1, 0], [0, 1, 2]])
        XCTAssertEqual(m.precision(1), 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.recall(0), 2.0 / 3, accuracy: 1e-12)
        let recall2: Double = 2.0 / 3
        XCTAssertEqual(m.f1(2), 2 * recall2 / (1 + recall2), accuracy: 1e-12)
        XCTAssertEqual(m.correct, 5)
        let picture = m.heatmap(names: ["a", "b", "c"], title: "t")
        XCTAssertGreaterThan(picture.width, 3 * 28)
    }

    func testClassificationReportCountsWhatTheLogitsSay() throws {
        let graph = try Sequential(input: [1, 2, 2]) { Flatten(); Dense(6) }
        let params = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 5)
        let data = ArrayBatchSource.synthetic(count: 37, shape: [1, 2, 2], classes: 6, batchSize: 8, seed: 2)
        let report = try ClassificationReport.evaluate(graph: graph, parameters: params, data: data,
                                                       classNames: (0..<6).map { "c\($0)" }, keepMistakes: 4)
        let classifier = try ModelProbe(graph: graph, parameters: params, batch: 1)
        var correct = 0, inTop5 = 0, loss = 0.0
        for batch in data.batches(epoch: 0, skipping: 0) {
            for s in 0..<batch.count {
                let logits = try classifier.forward(Array(batch.images[(s * 4)..<((s + 1) * 4)])).doubles
                let label = Int(batch.labels[s])
                if logits.indices.max(by: { logits[$0] < logits[$1] }) == label { correct += 1 }
                if logits.filter({ $0 > logits[label] }).count < 5 { inTop5 += 1 }
                loss += log(logits.map(exp).reduce(0, +)) - logits[label]
            }
        }
        XCTAssertEqual(report.samples, 37)
        XCTAssertEqual(report.top1, Double(correct) / 37, accuracy: 1e-12)
        XCTAssertEqual(report.top5, Double(inTop5) / 37, accuracy: 1e-12)
        XCTAssertEqual(report.loss, loss / 37, accuracy: 1e-4)
        XCTAssertEqual(report.mistakes.count, min(4, 37 - correct))
        XCTAssert(zip(report.mistakes, report.mistakes.dropFirst()).allSatisfy { $0.confidence >= $1.confidence })
        let json = try JSONSerialization.jsonObject(with: report.json(model: "m")) as! [String: Any]
        XCTAssertEqual((json["confusion"] as! [[Int]]).joined().reduce(0, +), 37)
    }

    func testCanvasWritesADecodablePNG() throws {
        var canvas = Canvas(width: 40, height: 12)
        canvas.draw(text: "Ab 3×4", x: 1, y: 2, color: .red)
        let decoded = try ImageDecoder.decode(canvas.pngData(), name: "canvas")
        XCTAssertEqual(decoded.pixels, canvas.pixels)
        XCTAssert(canvas.pixels.contains(220), "the text was drawn")
    }
}

/// ResNet-18 (random weights, batch norm frozen on its running statistics): the CPU and OpenCL
/// backends draw the same saliency, guided-backprop and Grad-CAM maps.
final class ResNetVisualizationTests: XCTestCase {
    func testBackendsAgreeOnResNet18() throws {
        guard let openCL = TestBackends.openCL else { throw XCTSkip("no OpenCL device") }
        var rng = SeededGenerator.fresh()
        let graph = try ModelZoo.build("resnet18", input: [3, 64, 64], classes: 10)
        let x = rng.floats(graph.inputShape.count)
        let weights = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: rng.next()).read()
        var results: [(saliency: [Float], guided: [Float], cam: [Float], layer: String)] = []
        for backend in [TestBackends.cpu, openCL] as [any Backend] {
            let store = try ParameterStore(graph: graph, backend: backend, seed: 0, initialize: false)
            try store.write(weights)
            let probe = try ModelProbe(graph: graph, parameters: store)
            let layer = try GradCAM.defaultLayer(of: probe.graph)
            let s = try Saliency.compute(probe, image: x, classIndex: 2)
            let g = try Saliency.compute(ModelProbe(graph: graph, parameters: store, guided: true), image: x, classIndex: 2)
            let cam = try GradCAM.compute(probe, image: x, layer: layer, classIndex: 2)
            results.append((s.gradient, g.gradient, cam.raw, layer))
            XCTAssertEqual(cam.layerWidth, 2, "the last block of ResNet-18 at 64² is 2×2")
        }
        XCTAssertEqual(results[0].layer, results[1].layer)
        // Input gradients pass a ReLU only where its input (and, guided, its gradient) is
        // positive: a value within float rounding of zero (the backends' convolution solvers sum
        // in different orders) can pass on one backend and not on the other, and one unit of
        // the last block (512 × 2 × 2) sees the whole 64² image: flipping it moves the saliency
        // map by about 1/√2048 ≈ 2.2% of its norm (seed 28111069315037: 2.1%, where the maps
        // otherwise agree to ~10⁻⁶). So the maps are compared as wholes, their difference's norm
        // within 5% of the map's, not pixel by pixel (each kernel is held to 10⁻⁵ by the op tests).
        func normError(_ a: [Float], _ b: [Float]) -> Double {
            let diff = zip(a, b).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
            return (diff / max(b.reduce(0.0) { $0 + pow(Double($1), 2) }, 1e-30)).squareRoot()
        }
        XCTAssertLessThan(normError(results[1].saliency, results[0].saliency), 5e-2, "saliency, seed \(rng.seed)")
        XCTAssertLessThan(normError(results[1].guided, results[0].guided), 5e-2, "guided backprop, seed \(rng.seed)")
        assertClose(results[1].cam, results[0].cam.map(Double.init), tolerance: 1e-3)
    }
}
