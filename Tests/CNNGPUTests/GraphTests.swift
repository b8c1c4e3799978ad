@testable import CNNGPU
import XCTest

final class GraphTests: XCTestCase {
    func testLeNet5ParameterCountsMatchThePublishedModels() throws {
        XCTAssertEqual(try ModelZoo.build("lenet5").parameterCount, 61_706)
        XCTAssertEqual(try ModelZoo.build("lenet5_keras").parameterCount, 1_199_882)
        XCTAssertEqual(try LeNet5(input: [1, 32, 32]).parameterCount, 61_706)
    }

    func testShapeErrorNamesLayerAndProducer() throws {
        let message = assertThrowsCNNError({
            _ = try Sequential(input: [1, 28, 28]) {
                Conv2D(6, kernel: 5); MaxPool2D(2)
                Conv2D(16, kernel: 5); MaxPool2D(2)
                Dense(120, inputFeatures: 400)
            }
        })
        XCTAssertEqual(message, "dense1 expects 400 inputs, gets 256 from pool2 (16×4×4)")
    }

    func testDAGWithResidualAndConcat() throws {
        let b = GraphBuilder(input: [3, 8, 8])
        let c1 = b.add(Conv2D(4, kernel: 3, padding: .same), b.input)
        let c2 = b.add(Conv2D(4, kernel: 3, padding: .same), c1)
        let sum = b.add(Add(), c1, c2)
        let cat = b.add(Concat(), sum, c1)
        let out = b.add(Dense(10), b.add(GlobalAvgPool(), cat))
        let g = try b.build(output: out)
        XCTAssertEqual(g.outputShape, [10])
        XCTAssertEqual(g.nodes.first { $0.name == "concat1" }?.shape, [8, 8, 8])
        XCTAssertEqual(g.consumers(of: 1).count, 3)   // conv1 feeds conv2, add1 and concat1
        XCTAssertEqual(g.parameterCount, (4 * 3 * 9 + 4) + (4 * 4 * 9 + 4) + (8 * 10 + 10))
    }

    func testBadModelsAreClearErrors() {
        XCTAssertEqual(assertThrowsCNNError({
            let b = GraphBuilder(input: [3, 8, 8])
            _ = try b.build(output: b.add(Add(), b.add(Conv2D(4, kernel: 3), b.input), b.input))
        }), "add1 needs inputs of one shape, gets 4×6×6, 3×8×8 from conv1 (4×6×6), input (3×8×8)")
        XCTAssertNotNil(assertThrowsCNNError({ _ = try ModelZoo.build("resnet9000") }))
        XCTAssertNotNil(assertThrowsCNNError({ _ = try Sequential(input: [1, 4, 4]) { Conv2D(2, kernel: 5) } }))
        XCTAssertNotNil(assertThrowsCNNError({
            let b = GraphBuilder(input: [4])
            let d = b.add(Dense(3), b.input, name: "head")
            _ = try b.build(output: b.add(Dense(3), d, name: "head"))
        }))
    }

    func testInitializersAreSeededAndScaled() {
        var g1 = SplitMix64(seed: 7), g2 = SplitMix64(seed: 7)
        let a = Initializer.heNormal.values(shape: [64, 32, 3, 3], generator: &g1)
        XCTAssertEqual(a, Initializer.heNormal.values(shape: [64, 32, 3, 3], generator: &g2))
        let variance = a.reduce(0) { $0 + Double($1 * $1) } / Double(a.count)
        XCTAssertEqual(variance, 2.0 / 288, accuracy: 0.1 * 2.0 / 288)
        var g3 = SplitMix64(seed: 1)
        let t = Initializer.heTruncatedNormal.values(shape: [256, 256], generator: &g3)
        let bound = 2 * (2.0 / 256).squareRoot() / 0.8796256610342398
        XCTAssertTrue(t.allSatisfy { abs(Double($0)) <= bound + 1e-6 })
        var g4 = SplitMix64(seed: 2)
        let u = Initializer.glorotUniform.values(shape: [100, 50], generator: &g4)
        XCTAssertTrue(u.allSatisfy { abs(Double($0)) <= (6.0 / 150).squareRoot() })
    }

    /// The schemes torchvision's models use, on large draws.
    func testTorchvisionInitializers() {
        var g = SplitMix64(seed: 5)
        // [32, 64, 3, 3]: fan-in 576, fan-out 288.
        let fanOut = Initializer.heNormalFanOut.values(shape: [32, 64, 3, 3], generator: &g)
        assertZeroMeanDeviation(fanOut, (2.0 / 288).squareRoot(), "He normal by fan-out")
        assertZeroMeanDeviation(Initializer.normal(std: 0.01).values(shape: [200, 100], generator: &g), 0.01, "normal")

        // The limit is absolute: std 1 and limit 1 keep N(0, 1) within ±1, whose variance is
        // 1 − 2φ(1) / (Φ(1) − Φ(−1)) = 0.29112.
        let truncated = Initializer.truncatedNormal(std: 1, limit: 1).values(shape: [20_000], generator: &g)
        XCTAssertTrue(truncated.allSatisfy { abs($0) <= 1 })
        assertZeroMeanDeviation(truncated, 0.29112.squareRoot(), "truncated at one deviation")
        // GoogLeNet's std 0.01 with limit 2 is a limit 200 deviations away: a plain N(0, 0.01²).
        let googLeNet = Initializer.truncatedNormal(std: 0.01, limit: 2).values(shape: [20_000], generator: &g)
        assertZeroMeanDeviation(googLeNet, 0.01, "GoogLeNet's truncated normal")

        // PyTorch's default: U(±1/√fan-in) for a weight [64, 25, 2, 2] (fan-in 100), and for a bias
        // given that weight's shape (its own length would give ±1/√64).
        assertUniform(Initializer.pytorchDefault.values(shape: [64, 25, 2, 2], generator: &g), bound: 0.1, "weight")
        let bias = Initializer.pytorchDefault.values(shape: [64], fanShape: [64, 25, 2, 2], generator: &g)
        assertUniform(bias, bound: 0.1, "bias")
        assertUniform(Initializer.pytorchDefault.values(shape: [5000], fanShape: [5000, 100], generator: &g),
                      bound: 0.1, "many biases")

        // Seeded like every initializer: the same seed, the same values.
        for initializer in [Initializer.heNormalFanOut, .normal(std: 0.5), .truncatedNormal(std: 1, limit: 1), .pytorchDefault] {
            var a = SplitMix64(seed: 9), b = SplitMix64(seed: 9)
            XCTAssertEqual(initializer.values(shape: [8, 4, 3, 3], generator: &a),
                           initializer.values(shape: [8, 4, 3, 3], generator: &b), "\(initializer)")
        }
    }
}

final class DatasetResizeTests: XCTestCase {
    func testResizeKeepsConstantsAndRepeatsChannels() throws {
        let image: [Float] = (0..<16).map { Float($0 % 4) / 3 }   // columns 0, 1/3, 2/3, 1
        let d = try Dataset(name: "t", sampleShape: [1, 4, 4], classes: 2, images: image + [Float](repeating: 0.5, count: 16),
                            labels: [0, 1])
        let r = try d.resized(to: 8, channels: 3)
        XCTAssertEqual(r.sampleShape, [3, 8, 8])
        XCTAssertEqual(r.labels, [0, 1])
        let second = Array(r.images[(3 * 64)...])
        XCTAssertTrue(second.allSatisfy { abs($0 - 0.5) < 1e-6 })
        let first = Array(r.images[0..<64])
        XCTAssertEqual(Array(r.images[64..<128]), first, "channels repeat")
        XCTAssertEqual(first[0], 0, accuracy: 1e-6)
        XCTAssertEqual(first[7], 1, accuracy: 1e-6)
        XCTAssertTrue(zip(first.dropFirst(), first).prefix(7).allSatisfy { $0 >= $1 }, "a ramp stays monotonic")
        XCTAssertNotNil(assertThrowsCNNError({ _ = try d.resized(to: 0, channels: 3) }))
    }
}
