/// What `cnn-gpu bench` measures and how hard: the calibration sizes, the op problems, the
/// model configurations, and how many samples each gets.
///
/// The op shapes are those of ResNet-50 (the 7×7/2 stem, then the 1×1-3×3-1×1 bottleneck of
/// each stage at 56², 28², 14², 7²) and VGG-16 (the second 3×3 layer of each block), plus the
/// pooling, batch-norm and ReLU layers around them. `quick` keeps the same shapes at batch 1,
/// halves VGG's resolutions and runs the models at small batches (and resolutions, where a model
/// allows), so that both devices of a 2-core machine finish in under two minutes.
public struct BenchmarkSuite {
    /// Which half of the suite to run (`--suite`).
    public enum Part: String, CaseIterable, Sendable {
        case ops, models, all
    }

    public var name: String
    public var quick: Bool
    /// m = n = k of the calibration SGEMM.
    public var calibrationGEMMSize: Int
    /// Elements of the calibration copy.
    public var calibrationCopyElements: Int
    /// Timed samples per benchmark (after one untimed warm-up run).
    public var repeats: Int
    /// Seconds of samples a slow benchmark gets: fewer samples (at least two) when one run is long.
    public var budgetSeconds: Double
    /// Short ops repeat within a sample until it lasts this long.
    public var minimumSampleSeconds: Double
    var ops: [OpBenchmark]
    public var models: [ModelBenchmark]

    /// The suite `cnn-gpu bench` runs.
    public static func standard(_ part: Part = .all, quick: Bool = false) throws -> BenchmarkSuite {
        BenchmarkSuite(name: quick ? "quick" : "full", quick: quick,
                       calibrationGEMMSize: quick ? 1024 : 2048, calibrationCopyElements: quick ? 1 << 23 : 1 << 25,
                       repeats: quick ? 3 : 5, budgetSeconds: quick ? 4 : 60, minimumSampleSeconds: quick ? 0.005 : 0.02,
                       ops: part == .models ? [] : try standardOps(quick: quick),
                       models: part == .ops ? [] : standardModels(quick: quick))
    }

    /// The ops and models whose name contains `text` (`bench --only`).
    public func only(_ text: String) -> BenchmarkSuite {
        var s = self
        s.ops = ops.filter { $0.name.contains(text) }
        s.models = models.filter { $0.model.contains(text) }
        return s
    }

    /// A suite of a few small problems and LeNet-5, which runs in seconds (the tests use it).
    public static func tiny() throws -> BenchmarkSuite {
        let conv = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 12, inW: 12, outChannels: 8,
                                        kernelH: 3, kernelW: 3, padding: Padding2D(1))
        let pool = try Pool2DDescriptor(batch: 2, channels: 8, inH: 12, inW: 12, windowH: 2, windowW: 2,
                                        strideH: 2, strideW: 2, mode: .max)
        return BenchmarkSuite(
            name: "tiny", quick: true, calibrationGEMMSize: 128, calibrationCopyElements: 1 << 16,
            repeats: 2, budgetSeconds: 1, minimumSampleSeconds: 0,
            ops: [.gemm(m: 64, n: 64, k: 64)] + OpBenchmark.convolution("tiny 3×3", conv)
                + OpBenchmark.maxPool("tiny pool", pool)
                + OpBenchmark.batchNorm("tiny bn", batch: 2, channels: 8, spatial: 144)
                + OpBenchmark.relu("tiny relu", count: 2304, shape: "N2 C8 12²"),
            models: [ModelBenchmark(model: "lenet5", input: [1, 28, 28], batches: [4])])
    }

    private static func standardOps(quick: Bool) throws -> [OpBenchmark] {
        let n = quick ? 1 : 4
        func conv(_ name: String, _ c: Int, _ k: Int, _ size: Int, kernel: Int, stride: Int = 1) throws -> [OpBenchmark] {
            OpBenchmark.convolution(name, try Conv2DDescriptor(
                batch: n, inChannels: c, inH: size, inW: size, outChannels: k, kernelH: kernel, kernelW: kernel,
                strideH: stride, strideW: stride, padding: Padding2D(kernel / 2)))
        }
        var ops = (quick ? [256, 512, 1024] : [256, 512, 1024, 2048]).map { OpBenchmark.gemm(m: $0, n: $0, k: $0) }
        ops += try conv("resnet50 stem 7×7/2", 3, 64, 224, kernel: 7, stride: 2)
        // The batch-8 layers the CPU convolution notes compare against oneDNN and PyTorch
        // (Benchmarks/NOTES-cpu-convolution.md); the quick suite keeps batch 1.
        func conv8(_ name: String, _ c: Int, _ k: Int, _ size: Int, kernel: Int, stride: Int = 1) throws -> [OpBenchmark] {
            OpBenchmark.convolution(name + " batch 8", try Conv2DDescriptor(
                batch: 8, inChannels: c, inH: size, inW: size, outChannels: k, kernelH: kernel, kernelW: kernel,
                strideH: stride, strideW: stride, padding: Padding2D(kernel / 2)))
        }
        if !quick {
            ops += try conv8("resnet50 3×3 64→64 56²", 64, 64, 56, kernel: 3)
            ops += try conv8("resnet50 1×1 256→64 56²", 256, 64, 56, kernel: 1)
            ops += try conv8("resnet50 3×3 256→256 14²", 256, 256, 14, kernel: 3)
            ops += try conv8("resnet50 3×3 512→512 7²", 512, 512, 7, kernel: 3)
            ops += try conv8("resnet50 stem 7×7/2 3→64 224²", 3, 64, 224, kernel: 7, stride: 2)
        }
        for (stage, (width, size)) in [(64, 56), (128, 28), (256, 14), (512, 7)].enumerated() {
            let res = "resnet50 res\(stage + 2)"
            ops += try conv("\(res) 1×1 reduce", width * 4, width, size, kernel: 1)
            ops += try conv("\(res) 3×3", width, width, size, kernel: 3)
            ops += try conv("\(res) 1×1 expand", width, width * 4, size, kernel: 1)
        }
        for (block, (width, size)) in [(64, 224), (128, 112), (256, 56), (512, 28), (512, 14)].enumerated() {
            let s = quick ? size / 2 : size
            ops += try conv("vgg16 conv\(block + 1)_2 3×3" + (quick ? " @\(s)²" : ""), width, width, s, kernel: 3)
        }
        ops += OpBenchmark.maxPool("resnet50 stem pool 3×3/2", try Pool2DDescriptor(
            batch: n, channels: 64, inH: 112, inW: 112, windowH: 3, windowW: 3, strideH: 2, strideW: 2,
            padding: Padding2D(1), mode: .max))
        ops += OpBenchmark.maxPool("vgg16 pool2 2×2/2", try Pool2DDescriptor(
            batch: n, channels: 128, inH: 112, inW: 112, windowH: 2, windowW: 2, strideH: 2, strideW: 2, mode: .max))
        ops += OpBenchmark.batchNorm("resnet50 res2 bn", batch: n, channels: 256, spatial: 56 * 56)
        ops += OpBenchmark.batchNorm("resnet50 res4 bn", batch: n, channels: 1024, spatial: 14 * 14)
        ops += OpBenchmark.relu("resnet50 stem relu", count: n * 64 * 112 * 112, shape: "N\(n) C64 112²")
        return ops
    }

    private static func standardModels(quick: Bool) -> [ModelBenchmark] {
        if quick {
            // Measured on PoCL on the 2-core machine: a VGG-16 forward pass at 224² runs 8 s and
            // an AlexNet training step 5 s, too long for two minutes; the full suite has them.
            // VGG-16 at its smallest size, 32², still runs its 25088-wide classifier.
            return [
                ModelBenchmark(model: "lenet5", input: [1, 28, 28], batches: [64]),
                ModelBenchmark(model: "alexnet", input: [3, 224, 224], batches: [1], training: false),
                ModelBenchmark(model: "vgg16", input: [3, 32, 32], batches: [1], training: false),
                ModelBenchmark(model: "googlenet", input: [3, 64, 64], batches: [2]),
                ModelBenchmark(model: "resnet50", input: [3, 32, 32], batches: [2]),
            ]
        }
        return [
            ModelBenchmark(model: "lenet5", input: [1, 28, 28], batches: [1, 64, 256]),
            ModelBenchmark(model: "alexnet", input: [3, 224, 224], batches: [1, 16]),
            ModelBenchmark(model: "vgg16", input: [3, 224, 224], batches: [1, 8]),
            ModelBenchmark(model: "googlenet", input: [3, 224, 224], batches: [1, 8]),
            ModelBenchmark(model: "resnet50", input: [3, 112, 112], batches: [8]),
            ModelBenchmark(model: "resnet50", input: [3, 224, 224], batches: [1, 8]),
        ]
    }
}

/// A model of the zoo at one resolution and some batch sizes; each runs inference and (unless
/// told not to) a training step.
public struct ModelBenchmark: Sendable {
    /// A `ModelZoo` name; one the zoo does not have is skipped with a note.
    public var model: String
    public var input: TensorShape
    public var batches: [Int]
    /// Output classes: 10 for the MNIST models, 1000 (ImageNet) for the others.
    public var classes: Int
    /// Whether to time a training step as well as inference.
    public var training: Bool

    public init(model: String, input: TensorShape, batches: [Int], classes: Int? = nil, training: Bool = true) {
        self.model = model; self.input = input; self.batches = batches
        self.classes = classes ?? (model.hasPrefix("lenet") ? 10 : 1000)
        self.training = training
    }
}
