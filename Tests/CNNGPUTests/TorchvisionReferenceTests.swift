@testable import CNNGPU
import Foundation
import XCTest

/// Zoo models loaded with torchvision-named weights compute what torchvision computes.
///
/// scripts/torchvision-reference.py ran torchvision (CI has no PyTorch) with every state_dict
/// tensor filled from a formula of its name, and recorded the logits and each model's state_dict
/// keys in Fixtures/torchvision-reference.json. Here the same formula
/// (Support/FormulaWeights.swift) fills a safetensors file, the ordinary importer loads it, and
/// the evaluation-mode forward pass must give the recorded logits.
final class TorchvisionReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct Run: Decodable {
            let model: String
            let classes: Int
            let image_size: Int
            let batch: Int
            let float32_max_abs_diff: Double
            let logits: [[Double]]
        }
        struct Tensor: Decodable, Equatable {
            let shape: [Int]
            let dtype: String
        }
        let torch: String
        let torchvision: String
        let runs: [Run]
        let state_dicts: [String: [String: Tensor]]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let reference: Reference = {
        let url = fixtures.appendingPathComponent("torchvision-reference.json")
        do {
            return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read \(url.path): \(error)")
        }
    }()

    /// Every floating-point tensor of torchvision's state_dict is a parameter of ours with the
    /// same name and shape, and ours has no others; the integer ones are `num_batches_tracked`,
    /// which the importer skips.
    func testStateDictNamesAndShapesAreTorchvisions() throws {
        XCTAssertEqual(Set(Self.reference.state_dicts.keys),
                       Set(ModelZoo.names.filter { !$0.hasPrefix("lenet5") }), "every zoo model has a reference")
        for (model, tensors) in Self.reference.state_dicts.sorted(by: { $0.key < $1.key }) {
            let classes = tensors["fc.bias"]?.shape[0] ?? tensors["classifier.6.bias"]?.shape[0]
                ?? tensors["classifier.bias"]!.shape[0]
            let graph = try ModelZoo.build(model, classes: classes)
            let ours = Dictionary(uniqueKeysWithValues: graph.nodes.flatMap { node in
                node.parameters.map { ("\(node.name).\($0.name)", Reference.Tensor(shape: $0.shape, dtype: "float32")) }
            })
            let floating = tensors.filter { $0.value.dtype != "int64" }
            XCTAssertEqual(ours, floating, model)
            XCTAssertTrue(tensors.filter { $0.value.dtype == "int64" }.keys.allSatisfy { $0.hasSuffix(".num_batches_tracked") },
                          model)
        }
    }

    func testResNetsComputeWhatTorchvisionComputes() throws {
        for depth in [18, 34, 50, 101, 152] { try check("resnet\(depth)", on: TestBackends.cpu) }
    }

    func testGoogLeNetAndDenseNetComputeWhatTorchvisionComputes() throws {
        try check("googlenet", on: TestBackends.cpu)
        try check("densenet121", on: TestBackends.cpu)
    }

    /// AlexNet, and one VGG without batch norm and one with, drawn from the run's seed; all
    /// eight VGGs with CNNGPU_TEST_EXHAUSTIVE=1 (TestScope). Each VGG's weights are half a
    /// gigabyte made and read back: the eight took 100 s of CI's jobs (Benchmarks/NOTES-ci.md).
    func testAlexNetAndVGGsComputeWhatTorchvisionComputes() throws {
        for name in ["alexnet"] + TestScope.vggNames(salt: 2) {
            try check(name, on: TestBackends.cpu)
        }
    }

    /// The OpenCL backend, on one model of each family (the CPU and OpenCL backends are checked
    /// against each other op by op and model by model elsewhere).
    func testOpenCLComputesWhatTorchvisionComputes() throws {
        let openCL = try TestBackends.requireOpenCL()
        for name in ["resnet18", "googlenet", "densenet121", "alexnet"] { try check(name, on: openCL) }
    }

    /// Loads the formula weights into `model` at each recorded image size and compares the
    /// logits with torchvision's. The tolerance allows float32 rounding: a multiple of how far
    /// PyTorch's own float32 run was from its float64 reference, and a small share of the
    /// largest logit (deep ResNets with these weights reach large logits).
    func check(_ model: String, on backend: any Backend) throws {
        let runs = Self.reference.runs.filter { $0.model == model }
        XCTAssertFalse(runs.isEmpty, "no reference for \(model)")
        guard let first = runs.first else { return }
        let weights = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-torchvision-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: weights) }
        try FormulaWeights.file(for: ModelZoo.build(model, classes: first.classes)).write(to: weights)

        for run in runs {
            let input: TensorShape = [3, run.image_size, run.image_size]
            let graph = try ModelZoo.build(model, input: input, classes: run.classes)
            let classifier = try Classifier(graph: graph, weights: weights, backend: backend)
            let logits = try classifier.logits(of: FormulaWeights.input(batch: run.batch, sampleCount: input.count))
            let largest = run.logits.joined().map(abs).max()!
            let tolerance = max(20 * run.float32_max_abs_diff, 1e-5 * largest)
            let (ours, theirs) = (Array(logits.joined()), Array(run.logits.joined()))
            // `zip` stops at the shorter side: missing logits must fail, not shorten the check.
            XCTAssertEqual(ours.count, theirs.count, "\(model) at \(run.image_size)×\(run.image_size): logit count")
            var worst = ours.count == theirs.count ? 0.0 : .infinity
            for (a, b) in zip(ours, theirs) {
                // `max(x, .nan)` is `x`: a NaN logit must make the comparison fail.
                let d = abs(Double(a) - b)
                worst = d.isNaN ? .infinity : max(worst, d)
            }
            XCTAssertLessThanOrEqual(worst, tolerance,
                                     "\(model) at \(run.image_size)×\(run.image_size) on \(backend.info.backend): "
                                     + "logits differ from torchvision's by up to \(worst) (largest \(largest))")
            print("\(model) \(run.image_size)px \(backend.info.backend): max |Δ| \(worst), tolerance \(tolerance), largest \(largest)")
        }
    }
}
