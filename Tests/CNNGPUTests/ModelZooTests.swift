@testable import CNNGPU
import Foundation
import XCTest

/// The model zoo: parameter counts, names and shapes against torchvision, the input sizes each
/// model accepts, and a forward pass and training step of every model on both backends.
final class ModelZooTests: XCTestCase {
    /// torchvision's trainable parameter counts at 1000 classes, 3×224×224
    /// (`sum(p.numel() for p in model.parameters())`).
    static let torchvisionCounts: [(String, Int)] = [
        ("alexnet", 61_100_840),
        ("vgg11", 132_863_336), ("vgg13", 133_047_848), ("vgg16", 138_357_544), ("vgg19", 143_667_240),
        ("vgg11_bn", 132_868_840), ("vgg13_bn", 133_053_736), ("vgg16_bn", 138_365_992), ("vgg19_bn", 143_678_248),
        ("googlenet", 6_624_904),
        ("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
        ("resnet101", 44_549_160), ("resnet152", 60_192_808),
        ("densenet121", 7_978_856),
    ]

    func testParameterCountsMatchTorchvision() throws {
        for (name, expected) in Self.torchvisionCounts {
            let graph = try ModelZoo.build(name, classes: 1000)
            XCTAssertEqual(graph.parameterCount, expected, name)
            XCTAssertEqual(graph.inputShape, [3, 224, 224], name)
            XCTAssertEqual(graph.outputShape, [1000], name)
        }
    }

    func testEveryModelIsRegisteredWithItsDefaultInput() throws {
        for (name, _) in Self.torchvisionCounts {
            XCTAssertEqual(try ModelZoo.entry(name).defaultInput, [3, 224, 224], name)
        }
    }

    /// Every trainable parameter of resnet18, in torchvision's `state_dict` order (running
    /// statistics and `num_batches_tracked` left out).
    static let resnet18Parameters: [(String, [Int])] = [
        ("conv1.weight", [64, 3, 7, 7]),
        ("bn1.weight", [64]),
        ("bn1.bias", [64]),
        ("layer1.0.conv1.weight", [64, 64, 3, 3]),
        ("layer1.0.bn1.weight", [64]),
        ("layer1.0.bn1.bias", [64]),
        ("layer1.0.conv2.weight", [64, 64, 3, 3]),
        ("layer1.0.bn2.weight", [64]),
        ("layer1.0.bn2.bias", [64]),
        ("layer1.1.conv1.weight", [64, 64, 3, 3]),
        ("layer1.1.bn1.weight", [64]),
        ("layer1.1.bn1.bias", [64]),
        ("layer1.1.conv2.weight", [64, 64, 3, 3]),
        ("layer1.1.bn2.weight", [64]),
        ("layer1.1.bn2.bias", [64]),
        ("layer2.0.conv1.weight", [128, 64, 3, 3]),
        ("layer2.0.bn1.weight", [128]),
        ("layer2.0.bn1.bias", [128]),
        ("layer2.0.conv2.weight", [128, 128, 3, 3]),
        ("layer2.0.bn2.weight", [128]),
        ("layer2.0.bn2.bias", [128]),
        ("layer2.0.downsample.0.weight", [128, 64, 1, 1]),
        ("layer2.0.downsample.1.weight", [128]),
        ("layer2.0.downsample.1.bias", [128]),
        ("layer2.1.conv1.weight", [128, 128, 3, 3]),
        ("layer2.1.bn1.weight", [128]),
        ("layer2.1.bn1.bias", [128]),
        ("layer2.1.conv2.weight", [128, 128, 3, 3]),
        ("layer2.1.bn2.weight", [128]),
        ("layer2.1.bn2.bias", [128]),
        ("layer3.0.conv1.weight", [256, 128, 3, 3]),
        ("layer3.0.bn1.weight", [256]),
        ("layer3.0.bn1.bias", [256]),
        ("layer3.0.conv2.weight", [256, 256, 3, 3]),
        ("layer3.0.bn2.weight", [256]),
        ("layer3.0.bn2.bias", [256]),
        ("layer3.0.downsample.0.weight", [256, 128, 1, 1]),
        ("layer3.0.downsample.1.weight", [256]),
        ("layer3.0.downsample.1.bias", [256]),
        ("layer3.1.conv1.weight", [256, 256, 3, 3]),
        ("layer3.1.bn1.weight", [256]),
        ("layer3.1.bn1.bias", [256]),
        ("layer3.1.conv2.weight", [256, 256, 3, 3]),
        ("layer3.1.bn2.weight", [256]),
        ("layer3.1.bn2.bias", [256]),
        ("layer4.0.conv1.weight", [512, 256, 3, 3]),
        ("layer4.0.bn1.weight", [512]),
        ("layer4.0.bn1.bias", [512]),
        ("layer4.0.conv2.weight", [512, 512, 3, 3]),
        ("layer4.0.bn2.weight", [512]),
        ("layer4.0.bn2.bias", [512]),
        ("layer4.0.downsample.0.weight", [512, 256, 1, 1]),
        ("layer4.0.downsample.1.weight", [512]),
        ("layer4.0.downsample.1.bias", [512]),
        ("layer4.1.conv1.weight", [512, 512, 3, 3]),
        ("layer4.1.bn1.weight", [512]),
        ("layer4.1.bn1.bias", [512]),
        ("layer4.1.conv2.weight", [512, 512, 3, 3]),
        ("layer4.1.bn2.weight", [512]),
        ("layer4.1.bn2.bias", [512]),
        ("fc.weight", [1000, 512]),
        ("fc.bias", [1000]),
    ]

    func testResNet18ParameterNamesAndShapesMatchTorchvision() throws {
        let graph = try ModelZoo.build("resnet18", classes: 1000)
        let actual = trainableParameters(graph)
        XCTAssertEqual(actual.map(\.0), Self.resnet18Parameters.map(\.0))
        XCTAssertEqual(actual.map(\.1), Self.resnet18Parameters.map(\.1))
        XCTAssertEqual(Self.resnet18Parameters.reduce(0) { $0 + $1.1.reduce(1, *) }, 11_689_512)
        // Batch norm's running statistics are buffers named as torchvision's.
        let buffers = Set(graph.nodes.flatMap { node in node.parameters.filter { !$0.trainable }.map { "\(node.name).\($0.name)" } })
        XCTAssertTrue(buffers.isSuperset(of: ["bn1.running_mean", "bn1.running_var", "layer4.1.bn2.running_var",
                                              "layer2.0.downsample.1.running_mean"]))
        XCTAssertEqual(buffers.count, 20 * 2)
    }

    /// The parameter store names entries "<node>.<param>", which the zoo's node names turn into
    /// torchvision's keys.
    func testParameterStoreUsesTorchvisionKeys() throws {
        let graph = try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 10)
        let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
        let names = Set(store.entries.map(\.name))
        for key in ["conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                    "layer2.0.downsample.1.bias", "fc.weight", "fc.bias"] {
            XCTAssertTrue(names.contains(key), key)
        }
    }

    func testSampleKeysOfEveryFamily() throws {
        let samples: [String: [(String, [Int])]] = [
            "alexnet": [("features.0.weight", [64, 3, 11, 11]), ("features.3.bias", [192]),
                        ("features.10.weight", [256, 256, 3, 3]), ("classifier.1.weight", [4096, 9216]),
                        ("classifier.4.weight", [4096, 4096]), ("classifier.6.bias", [1000])],
            "vgg16": [("features.0.weight", [64, 3, 3, 3]), ("features.28.weight", [512, 512, 3, 3]),
                      ("classifier.0.weight", [4096, 25088]), ("classifier.3.bias", [4096]),
                      ("classifier.6.weight", [1000, 4096])],
            "vgg11_bn": [("features.0.weight", [64, 3, 3, 3]), ("features.1.weight", [64]), ("features.26.bias", [512]),
                         ("features.25.weight", [512, 512, 3, 3]), ("classifier.0.weight", [4096, 25088])],
            "vgg19_bn": [("features.49.weight", [512, 512, 3, 3]), ("features.50.bias", [512])],
            "googlenet": [("conv1.conv.weight", [64, 3, 7, 7]), ("conv1.bn.weight", [64]), ("conv3.conv.weight", [192, 64, 3, 3]),
                          ("inception3a.branch1.conv.weight", [64, 192, 1, 1]),
                          ("inception3a.branch2.1.conv.weight", [128, 96, 3, 3]),
                          ("inception3a.branch3.1.conv.weight", [32, 16, 3, 3]),
                          ("inception4e.branch4.1.bn.bias", [128]),
                          ("inception5b.branch1.conv.weight", [384, 832, 1, 1]), ("fc.weight", [1000, 1024])],
            "resnet50": [("conv1.weight", [64, 3, 7, 7]), ("layer1.0.conv1.weight", [64, 64, 1, 1]),
                         ("layer1.0.conv3.weight", [256, 64, 1, 1]), ("layer1.0.downsample.0.weight", [256, 64, 1, 1]),
                         ("layer2.0.conv2.weight", [128, 128, 3, 3]), ("layer4.2.bn3.weight", [2048]),
                         ("fc.weight", [1000, 2048])],
            "resnet152": [("layer3.35.conv2.weight", [256, 256, 3, 3]), ("layer2.7.bn1.bias", [128])],
            "densenet121": [("features.conv0.weight", [64, 3, 7, 7]), ("features.norm0.weight", [64]),
                            ("features.denseblock1.denselayer1.norm1.weight", [64]),
                            ("features.denseblock1.denselayer1.conv1.weight", [128, 64, 1, 1]),
                            ("features.denseblock1.denselayer1.conv2.weight", [32, 128, 3, 3]),
                            ("features.denseblock3.denselayer24.norm1.bias", [992]),
                            ("features.transition1.norm.weight", [256]), ("features.transition1.conv.weight", [128, 256, 1, 1]),
                            ("features.transition3.conv.weight", [512, 1024, 1, 1]),
                            ("features.norm5.weight", [1024]), ("classifier.weight", [1000, 1024])],
        ]
        for (model, keys) in samples {
            let parameters = Dictionary(uniqueKeysWithValues: trainableParameters(try ModelZoo.build(model, classes: 1000)))
            for (key, shape) in keys { XCTAssertEqual(parameters[key], shape, "\(model) \(key)") }
        }
    }

    /// torchvision's `len(model.state_dict())` less the `num_batches_tracked` entries: every
    /// parameter and running statistic of every model has a torchvision name.
    func testStateDictSizes() throws {
        let expected = ["alexnet": 16, "vgg16": 32, "vgg16_bn": 32 + 13 * 4, "googlenet": 57 * 5 + 2,
                        "resnet18": 20 * 5 + 2, "resnet50": 53 * 5 + 2, "densenet121": 120 * 1 + 121 * 4 + 2]
        for (model, count) in expected {
            let graph = try ModelZoo.build(model, classes: 1000)
            XCTAssertEqual(graph.nodes.reduce(0) { $0 + $1.parameters.count }, count, model)
        }
    }

    func testHeadsFollowTheNumberOfClasses() throws {
        for (name, _) in Self.torchvisionCounts {
            XCTAssertEqual(try ModelZoo.build(name, classes: 37).outputShape, [37], name)
        }
        let r18 = try ModelZoo.build("resnet18", classes: 10)
        XCTAssertEqual(r18.parameterCount, 11_689_512 - 990 * 513)
    }

    /// Each zoo model starts as torchvision builds it from scratch (its `_initialize_weights`, or
    /// PyTorch's defaults where it sets none), checked on the values a parameter store draws.
    func testZooModelsStartAsTorchvisionInitializesThem() throws {
        func he(fan: Int) -> Double { (2.0 / Double(fan)).squareRoot() }
        func pytorchBound(fanIn: Int) -> Double { 1 / Double(fanIn).squareRoot() }

        // ResNet: convolutions N(0, 2/fan-out); fc weight and bias PyTorch's default.
        let resnet = try initialValuesCheckingBatchNorms(ModelZoo.build("resnet18", input: [3, 32, 32], classes: 10))
        assertZeroMeanDeviation(resnet["conv1.weight"]!, he(fan: 64 * 49), "resnet18 conv1")
        assertZeroMeanDeviation(resnet["layer3.0.downsample.0.weight"]!, he(fan: 256), "resnet18 downsample")
        assertUniform(resnet["fc.weight"]!, bound: pytorchBound(fanIn: 512), "resnet18 fc.weight")
        assertUniform(resnet["fc.bias"]!, bound: pytorchBound(fanIn: 512), "resnet18 fc.bias")

        // VGG: convolutions N(0, 2/fan-out) with bias 0; linear layers N(0, 0.01²) with bias 0.
        let vgg = try initialValuesCheckingBatchNorms(VGG(.vgg11, batchNorm: true, classes: 10, hiddenUnits: 64))
        assertZeroMeanDeviation(vgg["features.4.weight"]!, he(fan: 128 * 9), "vgg11_bn features.4")
        XCTAssertTrue(vgg["features.4.bias"]!.allSatisfy { $0 == 0 })
        assertZeroMeanDeviation(vgg["classifier.0.weight"]!, 0.01, "vgg11_bn classifier.0")
        XCTAssertTrue(vgg["classifier.6.bias"]!.allSatisfy { $0 == 0 })

        // AlexNet: PyTorch's defaults, U(±1/√fan-in) for every weight and bias.
        let alexnet = try initialValuesCheckingBatchNorms(AlexNet(classes: 10, hiddenUnits: 64))
        assertUniform(alexnet["features.0.weight"]!, bound: pytorchBound(fanIn: 3 * 121), "alexnet features.0.weight")
        assertUniform(alexnet["features.0.bias"]!, bound: pytorchBound(fanIn: 3 * 121), "alexnet features.0.bias")
        assertUniform(alexnet["classifier.1.weight"]!, bound: pytorchBound(fanIn: 9216), "alexnet classifier.1.weight")
        assertUniform(alexnet["classifier.6.bias"]!, bound: pytorchBound(fanIn: 64), "alexnet classifier.6.bias")

        // GoogLeNet: convolutions and fc weight N(0, 0.01²) (truncated at ±2, i.e. never); fc bias PyTorch's.
        let googlenet = try initialValuesCheckingBatchNorms(ModelZoo.build("googlenet", input: [3, 32, 32], classes: 10))
        assertZeroMeanDeviation(googlenet["conv1.conv.weight"]!, 0.01, "googlenet conv1")
        assertZeroMeanDeviation(googlenet["inception5b.branch1.conv.weight"]!, 0.01, "googlenet inception5b")
        assertZeroMeanDeviation(googlenet["fc.weight"]!, 0.01, "googlenet fc.weight")
        assertUniform(googlenet["fc.bias"]!, bound: pytorchBound(fanIn: 1024), "googlenet fc.bias")

        // DenseNet: convolutions N(0, 2/fan-in); classifier weight PyTorch's default, bias 0.
        let densenet = try initialValuesCheckingBatchNorms(ModelZoo.build("densenet121", input: [3, 32, 32], classes: 10))
        assertZeroMeanDeviation(densenet["features.conv0.weight"]!, he(fan: 3 * 49), "densenet121 conv0")
        assertZeroMeanDeviation(densenet["features.denseblock4.denselayer16.conv2.weight"]!, he(fan: 128 * 9),
                                "densenet121 denselayer16.conv2")
        assertUniform(densenet["classifier.weight"]!, bound: pytorchBound(fanIn: 1024), "densenet121 classifier.weight")
        XCTAssertTrue(densenet["classifier.bias"]!.allSatisfy { $0 == 0 })

        // LeNet-5 keeps the layers' own defaults (its recorded accuracies start from them): He
        // normal convolutions, Glorot uniform dense layers, zero biases.
        let lenet = try initialValuesCheckingBatchNorms(ModelZoo.build("lenet5"))
        assertZeroMeanDeviation(lenet["conv2.weight"]!, he(fan: 6 * 25), "lenet5 conv2")
        assertUniform(lenet["dense1.weight"]!, bound: (6.0 / (400 + 120)).squareRoot(), "lenet5 dense1")
        XCTAssertTrue(lenet["conv1.bias"]!.allSatisfy { $0 == 0 } && lenet["dense1.bias"]!.allSatisfy { $0 == 0 })
    }

    func testInputSizesEachModelAccepts() throws {
        for model in ["resnet18", "resnet50", "googlenet", "densenet121"] {
            for side in [32, 64, 96, 128, 227] {
                XCTAssertEqual(try ModelZoo.build(model, input: [3, side, side], classes: 10).outputShape, [10], "\(model) \(side)")
            }
        }
        for side in [1, 8, 15] {
            XCTAssertNoThrow(try ModelZoo.build("resnet18", input: [3, side, side]), "resnet18 \(side)")
        }
        // The smallest sizes the zoo states: every pool must still have an input at least as large as its window.
        for entry in ModelZoo.entries {
            let (channels, smallest) = (entry.defaultInput.dims[0], entry.minimumSide)
            XCTAssertNoThrow(try ModelZoo.build(entry.name, input: [channels, smallest, smallest]), entry.name)
            guard smallest > 1 else { continue }
            let message = assertThrowsCNNError({ _ = try ModelZoo.build(entry.name, input: [channels, smallest - 1, smallest - 1]) },
                                               entry.name)
            if ["googlenet", "densenet121", "alexnet"].contains(entry.name) || entry.name.hasPrefix("vgg") {
                XCTAssertTrue(message?.contains("\(smallest) pixels a side or more") ?? false, message ?? "")
            }
        }
        XCTAssertNoThrow(try DenseNet(blocks: [2, 2, 2], input: [3, 13, 13]))
        XCTAssertNotNil(assertThrowsCNNError({ _ = try DenseNet(blocks: [2, 2, 2], input: [3, 12, 12]) }))
        // VGG and AlexNet take any size from their smallest up, as torchvision's do.
        for (model, sides) in [("vgg11", [33, 64, 100, 223, 224, 256, 300, 448]), ("alexnet", [64, 100, 222, 224, 255, 300, 447])] {
            for side in sides {
                XCTAssertEqual(try ModelZoo.build(model, input: [3, side, side], classes: 10).outputShape, [10], "\(model) \(side)")
            }
        }
        XCTAssertNoThrow(try ModelZoo.build("vgg16", input: [3, 64, 96]), "vgg16 64×96")
        let message = assertThrowsCNNError({ _ = try ModelZoo.build("alexnet", input: [3, 224, 62]) }, "alexnet 224×62")
        XCTAssertTrue(message?.contains("63 pixels a side or more") ?? false, message ?? "")
    }

    func testAdaptiveAveragePoolTakesAnyInputSize() throws {
        let pool = AdaptiveAvgPool2D(7, 7)
        for (h, w) in [(1, 1), (5, 9), (7, 7), (8, 8), (13, 14), (14, 14)] {
            XCTAssertEqual(try pool.outputShape(for: [[512, h, w]]), [512, 7, 7], "\(h)×\(w)")
        }
        XCTAssertThrowsError(try AdaptiveAvgPool2D(0, 7).outputShape(for: [[512, 7, 7]])) { error in
            let message = (error as? ShapeError)?.message ?? ""
            XCTAssertTrue(message.contains("0×7"), message)
        }
    }

    /// The layer in a plan, forward and backward, against the Double reference: divisible,
    /// uneven, smaller than the output, and the identity (a copy).
    func testAdaptiveAveragePoolLayerMatchesReferenceOnBothBackends() throws {
        var rng = SeededGenerator.fresh()
        let (batch, channels) = (2, 3)
        for (h, w) in [(4, 6), (5, 7), (1, 2), (2, 3)] {
            let graph = try Sequential(input: [channels, h, w]) { AdaptiveAvgPool2D(2, 3); Flatten() }
            let shape = AdaptiveShape(planes: batch * channels, inH: h, inW: w, outH: 2, outW: 3)
            let x = rng.floats(shape.inputCount), dy = rng.floats(shape.outputCount)
            for backend in TestBackends.all {
                let label = "\(backend.info.backend) \(h)×\(w) seed \(rng.seed)"
                let store = try ParameterStore(graph: graph, backend: backend, seed: 0)
                let plan = try Plan(graph: graph, parameters: store, batch: batch, training: false)
                try backend.upload(x, to: plan.input)
                try Executor(plan: plan).forward(training: false)
                assertClose(try backend.download(plan.output), PoolingReference.adaptiveAverageForward(shape, x.doubles), label)
                // Backward on the layer itself: a plan does not compute the gradient of its input.
                let dyb = try backend.makeBuffer(dy), dx = try backend.allocate(shape.inputCount, dtype: .float32)
                try backend.fill(dx, value: .nan)  // every element must be written
                let context = LayerContext(backend: backend, batch: batch, inputShapes: [[channels, h, w]],
                                           outputShape: [channels, 2, 3], inputs: [plan.input], output: plan.output,
                                           parameters: [], state: [], training: true, seed: 0)
                try AdaptiveAvgPool2D(2, 3).backward(context, GradientContext(outputGradient: dyb, inputGradients: [dx],
                                                                              parameterGradients: []))
                assertClose(try backend.download(dx), PoolingReference.adaptiveAverageBackward(shape, dy: dy.doubles), label)
            }
        }
    }

    func testCeilModeMaxPoolSizesMatchPyTorch() throws {
        // nn.MaxPool2d(k, s, ceil_mode=True) output sizes.
        for (size, window, stride, expected) in [(112, 3, 2, 56), (56, 3, 2, 28), (14, 2, 2, 7), (7, 2, 2, 4),
                                                 (7, 3, 2, 3), (8, 3, 2, 4), (2, 3, 2, 1), (1, 2, 2, 1), (3, 1, 2, 2)] {
            let pool = CeilModeMaxPool2D(window, stride: stride)
            XCTAssertEqual(try pool.outputShape(for: [[1, size, size]]), [1, expected, expected], "\(size) k\(window) s\(stride)")
        }
        // PyTorch refuses a window larger than the input, and so do we.
        XCTAssertThrowsError(try CeilModeMaxPool2D(3, stride: 2).outputShape(for: [[1, 1, 1]]))
    }

    // MARK: - A forward pass and a training step of every model on both backends

    // Every zoo model at full width, on small images so that a step takes seconds on PoCL.
    func testResNetsRunOnBothBackends() throws {
        // ResNet-18 also under the GPU policy: im2col + CLBlast convolutions through a whole model.
        try checkForwardAndStep("resnet18", try ModelZoo.build("resnet18", input: [3, 32, 32], classes: 10),
                                backends: TestBackends.withGPUPolicy)
        // 64² and batch 4: the last stage's batch norms see 16 values per channel, enough to be
        // well conditioned (at 32² and batch 2 they see 2, and rounding decides the backward pass).
        for depth in [34, 50, 101, 152] {
            try checkForwardAndStep("resnet\(depth)", try ModelZoo.build("resnet\(depth)", input: [3, 64, 64], classes: 10))
        }
    }

    func testGoogLeNetRunsOnBothBackends() throws {
        try checkForwardAndStep("googlenet", try ModelZoo.build("googlenet", input: [3, 32, 32], classes: 10),
                                backends: TestBackends.withGPUPolicy)
    }

    /// At 64², as the deeper ResNets: at 32² the last dense block is 1×1, its batch norms see 4
    /// values per channel, and float rounding decides the backward pass (seen on CI: 1.3% apart).
    func testDenseNet121RunsOnBothBackends() throws {
        try checkForwardAndStep("densenet121", try ModelZoo.build("densenet121", input: [3, 64, 64], classes: 10))
    }

    /// AlexNet at 224 (the adaptive pool is the identity) or at 64 (it spreads 1×1 features
    /// over 6×6 for the 9216-wide classifier), drawn from the run's seed; both with
    /// CNNGPU_TEST_EXHAUSTIVE=1. On PoCL each size compiles its own pooling programs: the two
    /// took 70 s of CI's jobs (Benchmarks/NOTES-ci.md).
    func testAlexNetRunsOnBothBackends() throws {
        for side in TestScope.exhaustive ? [224, 64] : [TestScope.pick([224, 64])] {
            try checkForwardAndStep("alexnet", try ModelZoo.build("alexnet", input: [3, side, side], classes: 10), batch: 2)
        }
    }

    /// VGGs at their smallest size, where the adaptive pool spreads 1×1 features over 7×7 for
    /// the 25088-wide classifier (138M parameters for VGG-16), and a narrow one at 100 pixels,
    /// where it pools 3×3 into 7×7 overlapping windows.
    ///
    /// One VGG without batch norm and one with, drawn from the run's seed; all eight with
    /// CNNGPU_TEST_EXHAUSTIVE=1 (TestScope). They differ only in how many of the same layers they
    /// stack (their sizes are checked against torchvision above), and the eight at full width
    /// took 5 minutes of CI's time on 2 cores.
    func testVGGsRunOnBothBackends() throws {
        for name in TestScope.vggNames() {
            try checkForwardAndStep(name, try ModelZoo.build(name, input: [3, 32, 32], classes: 10))
        }
        let narrow = VGGConfiguration([8, nil, 16, nil, 16, 16, nil, 32, nil, 32, nil])
        try checkForwardAndStep("narrow vgg_bn", try VGG(narrow, batchNorm: true, input: [3, 100, 100], classes: 10,
                                                         hiddenUnits: 64), batch: 2)
    }

    /// `graph`'s inference output for the `batch` images `x`, from the weights in `store`.
    private func inferenceOutput(_ graph: Graph, _ store: ParameterStore, x: [Float], batch: Int) throws -> [Float] {
        let backend = store.backend
        let plan = try Plan(graph: graph, parameters: store, batch: batch, training: false)
        try backend.upload(x, to: plan.input)
        try Executor(plan: plan).forward(training: false)
        return try backend.download(plan.output, count: batch * graph.outputShape.count)
    }

    /// Runs an inference forward pass and one SGD step of `graph` on `batch` random images on
    /// every test backend from the same weights, and checks that the backends agree on the
    /// outputs and the loss (relative 1e-3) and the classifier's gradient (5e-3), and that every
    /// gradient and updated weight is finite.
    ///
    /// Gradients deeper in are checked finite and non-zero but not compared element-wise: at
    /// these small inputs the last stages' batch norms see a handful of values per channel, and
    /// their backward pass cancels so nearly that rounding decides the result. (GoogLeNet at
    /// 8×3×64×64 differs by 2% in inception4c between the CPU backend's own two convolution
    /// algorithms, by as much as between the backends, while the head agrees to 5e-5.)
    private func checkForwardAndStep(_ model: String, _ graph: Graph, batch: Int = 4,
                                     backends: [any Backend] = TestBackends.all,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let classes = graph.outputShape.count
        var rng = SeededGenerator.fresh(line: Int(line))
        let x = rng.floats(batch * graph.inputShape.count)
        let labels = rng.ints(batch, below: classes)
        let head = graph.nodes.count - 1
        var results: [(backend: String, output: [Float], loss: Float, headGradients: [Float])] = []
        for backend in backends {
            let start = Date()
            let store = try ParameterStore(graph: graph, backend: backend, seed: rng.seed)
            let output = try inferenceOutput(graph, store, x: x, batch: batch)

            let plan = try Plan(graph: graph, parameters: store, batch: batch, training: true)
            let step = try TrainingStep(plan: plan, optimizer: try Optimizer(.sgd(momentum: 0.9), parameters: store))
            let trainable = store.entries.filter(\.spec.trainable)
            // The gradients as the hook between backward and update sees them: the flat buffer,
            // read whole (VGG's holds 138M values); its padding differs between backends, so
            // comparisons go through each entry's range.
            var headGradients: [Float] = [], gradients: [Float] = []
            step.gradientHook = { flat in
                gradients = try backend.download(flat)
                headGradients = trainable.filter { $0.node == head }.flatMap { gradients[$0.offset..<($0.offset + $0.spec.count)] }
            }
            let loss = try step.run(images: x, labels: labels, learningRate: 0.01, seed: 7).loss
            let weights = try backend.download(store.weights)
            print(String(format: "%@ on %@: forward and training step at %d×%@ in %.2f s", model, backend.testName,
                         batch, graph.inputShape.description, Date().timeIntervalSince(start)))

            let name = "\(model) on \(backend.testName)"
            XCTAssertTrue(output.allSatisfy(\.isFinite), "\(name): output", file: file, line: line)
            XCTAssertTrue(loss.isFinite && loss > 0, "\(name): loss \(loss)", file: file, line: line)
            XCTAssertTrue(scan(weights, 0..<weights.count).finite, "\(name): weights", file: file, line: line)
            for entry in trainable {
                let g = scan(gradients, entry.offset..<(entry.offset + entry.spec.count))
                if !g.finite || !g.nonZero {
                    XCTFail("\(name): the gradient of \(entry.name) is not finite or all zero", file: file, line: line)
                }
            }
            results.append((backend.testName, output, loss, headGradients))
        }
        for other in results.dropFirst() {
            let reference = results[0]
            let context = "\(model): \(other.backend) against \(reference.backend), seed \(rng.seed)"
            assertClose(other.output, reference.output, tolerance: 1e-3, "\(context) output", file: file, line: line)
            XCTAssertEqual(Double(other.loss), Double(reference.loss), accuracy: 1e-3 * Double(reference.loss),
                           "\(context) loss", file: file, line: line)
            // The head's gradient comes from a training-mode forward pass whose batch norms see
            // few values per channel; DenseNet-121's 120 of them leave it about 1e-3 apart.
            assertClose(other.headGradients, reference.headGradients, tolerance: 5e-3, "\(context) classifier gradient",
                        file: file, line: line)
        }
    }

    /// The values a parameter store draws for `graph`, by name, after checking that every batch
    /// norm starts as torchvision's do: γ 1, β 0.
    private func initialValuesCheckingBatchNorms(_ graph: Graph, file: StaticString = #filePath,
                                                 line: UInt = #line) throws -> [String: [Float]] {
        let values = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1).read()
        for node in graph.nodes where node.layer is BatchNorm {
            XCTAssertTrue(values["\(node.name).weight"]!.allSatisfy { $0 == 1 }, node.name, file: file, line: line)
            XCTAssertTrue(values["\(node.name).bias"]!.allSatisfy { $0 == 0 }, node.name, file: file, line: line)
        }
        return values
    }

    private func trainableParameters(_ graph: Graph) -> [(String, [Int])] {
        graph.nodes.flatMap { node in node.parameters.filter(\.trainable).map { ("\(node.name).\($0.name)", $0.shape) } }
    }

    /// Whether every value of `values[range]` is finite, and whether any is non-zero: a plain
    /// loop over raw memory, fast enough in unoptimized test builds for VGG's 138M parameters.
    private func scan(_ values: [Float], _ range: Range<Int>) -> (finite: Bool, nonZero: Bool) {
        values.withUnsafeBufferPointer { p in
            var finite = true, nonZero = false
            var i = range.lowerBound
            while i < range.upperBound {
                finite = finite && p[i].isFinite
                nonZero = nonZero || p[i] != 0
                i += 1
            }
            return (finite, nonZero)
        }
    }
}
