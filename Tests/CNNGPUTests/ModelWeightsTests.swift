@testable import CNNGPU
import Foundation
import XCTest

final class ModelWeightsTests: XCTestCase {
    func model(classes: Int = 3) throws -> Graph {
        let b = GraphBuilder(input: [1, 8, 8])
        let c = b.add(Conv2D(4, kernel: 3), b.input, name: "features.0")
        let n = b.add(BatchNorm(), c, name: "features.1")
        let r = b.add(ReLU(), n)
        let f = b.add(Flatten(), b.add(MaxPool2D(2), r))
        return try b.build(output: b.add(Dense(classes), f, name: "fc"))
    }

    func temporaryFile(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-weights-\(UUID())-\(name)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A safetensors file written by hand, with any dtype: `[(name, dtype, shape, raw bytes)]`.
    func rawSafetensors(_ tensors: [(String, String, [Int], [UInt8])]) -> Data {
        var header: [String: Any] = [:], body = [UInt8](), offset = 0
        for (name, dtype, shape, bytes) in tensors {
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.count]]
            body += bytes; offset += bytes.count
        }
        let json = try! JSONSerialization.data(withJSONObject: header)
        var data = Data(withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) })
        data.append(json); data.append(contentsOf: body)
        return data
    }

    func testExportThenLoadRestoresEveryParameterByTorchvisionName() throws {
        let backend = TestBackends.cpu
        let a = try ParameterStore(graph: model(), backend: backend, seed: 1)
        let url = temporaryFile("a.safetensors")
        try ModelWeights.export(a, to: url)
        let names = Set(try SafeTensors.read(from: url).tensors.keys)
        XCTAssertEqual(names, ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                               "features.1.running_mean", "features.1.running_var", "fc.weight", "fc.bias"])
        for b in TestBackends.all {
            let other = try ParameterStore(graph: model(), backend: b, seed: 2)
            let report = try ModelWeights.load(url, into: other)
            XCTAssertEqual(report.loaded.count, 8)
            XCTAssertEqual(try other.read(), try a.read(), b.info.backend)
        }
    }

    func testMismatchesAreClearErrorsAndLoadNothing() throws {
        let backend = TestBackends.cpu
        let source = try ParameterStore(graph: model(), backend: backend, seed: 1)
        var file = SafeTensors(tensors: try source.read().mapValues { .init(shape: [$0.count], values: $0) })
        for e in source.entries { file.tensors[e.name]!.shape = e.spec.shape }
        let target = try ParameterStore(graph: model(), backend: backend, seed: 5)
        let before = try target.read()

        var missing = file
        missing.tensors["fc.bias"] = nil
        let missingURL = temporaryFile("missing.safetensors")
        try missing.write(to: missingURL)
        XCTAssertTrue(assertThrowsCNNError({ try ModelWeights.load(missingURL, into: target) })?.contains("fc.bias") ?? false)

        var reshaped = file
        reshaped.tensors["fc.weight"] = .init(shape: [4, 36], values: [Float](repeating: 0, count: 144))
        let reshapedURL = temporaryFile("shape.safetensors")
        try reshaped.write(to: reshapedURL)
        let message = assertThrowsCNNError({ try ModelWeights.load(reshapedURL, into: target) }) ?? ""
        XCTAssertTrue(message.contains("fc.weight") && message.contains("4×36") && message.contains("3×36"), message)

        let intURL = temporaryFile("int.safetensors")
        try rawSafetensors([("fc.bias", "I64", [3], [UInt8](repeating: 0, count: 24))]).write(to: intURL)
        XCTAssertTrue(assertThrowsCNNError({ try ModelWeights.load(intURL, into: target) })?.contains("I64") ?? false)

        let truncatedURL = temporaryFile("truncated.safetensors")
        let good = try file.encoded()
        try good.prefix(good.count - 10).write(to: truncatedURL)
        XCTAssertNotNil(assertThrowsCNNError({ try ModelWeights.load(truncatedURL, into: target) }))
        XCTAssertEqual(try target.read(), before, "a failed load must not change the model")
    }

    func testHalfPrecisionAndBFloat16AreConverted() throws {
        let half: [Float16] = [1.5, -2, 0.25]
        let bf16: [UInt16] = [0x3FC0, 0xC000, 0x3E80]   // 1.5, -2, 0.25
        let data = rawSafetensors([
            ("h", "F16", [3], half.withUnsafeBytes { Array($0) }),
            ("b", "BF16", [3], bf16.withUnsafeBytes { Array($0) }),
            ("n", "I64", [1], [UInt8](repeating: 0, count: 8)),
        ])
        let file = try SafeTensors.decode(data)
        XCTAssertEqual(file.tensors["h"]?.values, [1.5, -2, 0.25])
        XCTAssertEqual(file.tensors["b"]?.values, [1.5, -2, 0.25])
        XCTAssertNil(file.tensors["n"])
        XCTAssertEqual(file.dtypes["n"], "I64")
    }

    func testNewHeadAndFrozenBackbone() throws {
        for backend in TestBackends.all {
            let pretrained = try ParameterStore(graph: model(classes: 5), backend: backend, seed: 1)
            let url = temporaryFile("pre.safetensors")
            try ModelWeights.export(pretrained, to: url)
            var config = TrainingConfig()
            config.epochs = 1; config.batchSize = 8; config.initialWeights = url; config.replaceHead = true
            config.freezeThrough = "backbone"; config.modelName = "m"
            let trainer = try Trainer(graph: model(classes: 3), backend: backend, config: config,
                                      reporter: ProgressReporter(isTerminal: false, output: { _ in }))
            let start = try trainer.parameters.read()
            let loaded = try pretrained.read()
            XCTAssertEqual(start["features.0.weight"], loaded["features.0.weight"])
            try trainer.fit(train: ArrayBatchSource.synthetic(count: 32, shape: [1, 8, 8], classes: 3, batchSize: 8, seed: 4),
                            validation: nil)
            let end = try trainer.parameters.read()
            for name in ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias"] {
                XCTAssertEqual(end[name], start[name], "\(backend.info.backend): \(name) is frozen")
            }
            XCTAssertNotEqual(end["fc.weight"], start["fc.weight"], "\(backend.info.backend): the head trains")
            // Without replaceHead the different head is an error naming it.
            config.replaceHead = false
            let message = assertThrowsCNNError({
                _ = try Trainer(graph: self.model(classes: 3), backend: backend, config: config)
            }) ?? ""
            XCTAssertTrue(message.contains("fc.weight"), message)
            config.freezeThrough = "nope"; config.replaceHead = true
            XCTAssertTrue(assertThrowsCNNError({
                _ = try Trainer(graph: self.model(classes: 3), backend: backend, config: config,
                                reporter: ProgressReporter(isTerminal: false, output: { _ in }))
            })?.contains("features.0") ?? false)
        }
    }

    /// Files written by the `safetensors` library itself from a torchvision BasicBlock's
    /// state_dict (scripts/torchvision-reference.py), in float32 and bfloat16: integer
    /// `num_batches_tracked` scalars included, every value as the formula made it.
    func testReadsFilesWrittenByPyTorch() throws {
        let b = GraphBuilder(input: [8, 6, 6])
        var x = b.input
        for i in 1...2 {
            x = b.add(Conv2D(8, kernel: 3, padding: .explicit(Padding2D(1)), bias: false), x, name: "conv\(i)")
            x = b.add(ReLU(), b.add(BatchNorm(), x, name: "bn\(i)"))
        }
        let graph = try b.build(output: x)
        for (file, precision) in [("basicblock-f32", Float(0)), ("basicblock-bf16", 0x1p-8)] {
            let url = TorchvisionReferenceTests.fixtures.appendingPathComponent(file + ".safetensors")
            let read = try SafeTensors.read(from: url)
            XCTAssertEqual(read.metadata, ["format": "pt"])
            XCTAssertEqual(read.dtypes["bn1.num_batches_tracked"], "I64")
            XCTAssertEqual(read.dtypes["conv1.weight"], precision == 0 ? "F32" : "BF16")

            let store = try ParameterStore(graph: graph, backend: TestBackends.cpu, seed: 1)
            let report = try ModelWeights.load(url, into: store)
            XCTAssertEqual(report.loaded.count, 10, file)
            XCTAssertEqual(report.unused, [], file)
            for (name, values) in try store.read() {
                let shape = store.entries.first { $0.name == name }!.spec.shape
                let expected = FormulaWeights.values(name, shape: shape)
                for (v, e) in zip(values, expected) {
                    XCTAssertEqual(v, e, accuracy: precision * abs(e), "\(file): \(name)")
                }
            }
        }
    }
}
