@testable import CNNGPU
import Foundation

/// One parser under fuzzing: seed inputs and how to feed it one input. `run` must return or
/// throw for every input; a trap is the bug the harness exists to find.
struct FuzzTarget {
    var name: String
    var seeds: [[UInt8]]
    var run: ([UInt8]) throws -> Void

    /// Every parser that reads bytes from outside: dataset files, weights, checkpoints, images.
    static func all(scratch: URL) throws -> [FuzzTarget] {
        let images = try IDXFile(dims: [3, 4, 4], bytes: (0..<48).map { UInt8($0) }).encoded(magic: IDXFile.imagesMagic)
        let labels = try IDXFile(dims: [3], bytes: [1, 2, 3]).encoded(magic: IDXFile.labelsMagic)
        var cifar = [UInt8]()
        for record in 0..<2 {
            cifar.append(UInt8(record))
            for p in 0..<3072 { cifar.append(UInt8((p + record) % 256)) }
        }
        let checkpointURL = scratch.appendingPathComponent("checkpoint.safetensors")
        try Checkpoint(model: "m", epochsCompleted: 1, step: 4, seed: 1, optimizerStep: 4,
                       parameters: ["fc.weight": [1, 2, 3, 4], "fc.bias": [0.5, -0.5]],
                       parameterShapes: ["fc.weight": [2, 2], "fc.bias": [2]], optimizerState: [[0, 0, 0, 0, 0, 0]],
                       history: ["{\"epoch\":1}"], batchSize: 2, settings: "SGD").write(to: checkpointURL)
        let weights = try SafeTensors(tensors: ["a": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                                                "b": .init(shape: [1], values: [7])], metadata: ["format": "pt"]).encoded()
        let gradient = (0..<(12 * 10 * 3)).map { UInt8($0 % 251) }
        let jpeg = try ImageFiles.jpeg(gradient, width: 12, height: 10)
        let png = try ImageFiles.png(gradient, width: 12, height: 10)
        return [
            FuzzTarget(name: "idx", seeds: [images, labels, try Gzip.compress(images)]) { bytes in
                _ = try IDXFile(parsing: bytes, magic: bytes.count > 3 && bytes[3] == 1 ? IDXFile.labelsMagic : IDXFile.imagesMagic,
                                source: "fuzz")
            },
            FuzzTarget(name: "gzip", seeds: [try Gzip.compress(images), try Gzip.compress(Array(repeating: 0, count: 4096))]) { bytes in
                _ = try Gzip.decompress(bytes, source: "fuzz")
            },
            FuzzTarget(name: "cifar10", seeds: [cifar]) { bytes in _ = try CIFAR10.decode(bytes, source: "fuzz") },
            FuzzTarget(name: "safetensors", seeds: [[UInt8](weights)]) { bytes in
                _ = try SafeTensors.decode(Data(bytes), source: "fuzz")
            },
            FuzzTarget(name: "checkpoint", seeds: [[UInt8](try Data(contentsOf: checkpointURL))]) { bytes in
                let c = try Checkpoint.decode(Data(bytes), source: "fuzz")
                try Checkpoint.validateCounters(epochsCompleted: c.epochsCompleted, step: c.step, stepsPerEpoch: 4, source: nil)
            },
            FuzzTarget(name: "jpeg", seeds: [[UInt8](jpeg)]) { bytes in _ = try ImageDecoder.decode(Data(bytes), name: "fuzz.jpg") },
            FuzzTarget(name: "png", seeds: [[UInt8](png)]) { bytes in _ = try ImageDecoder.decode(Data(bytes), name: "fuzz.png") },
        ]
    }
}
