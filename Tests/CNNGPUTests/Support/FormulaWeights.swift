import CNNGPU
import Foundation

/// Weights computed from a tensor's name and shape, bit for bit as scripts/torchvision-reference.py
/// computes them, so a test can rebuild the exact weights that PyTorch ran with instead of
/// storing them (VGG's alone are half a gigabyte).
enum FormulaWeights {
    /// `count` values in [−1, 1), each mapped by `transform`: a SplitMix64 stream seeded with
    /// the FNV-1a hash of `name`, the top 24 bits of each draw (exact in Float and Double).
    static func uniform(_ name: String, count: Int, _ transform: (Double) -> Double = { $0 }) -> [Float] {
        var generator = SplitMix64(seed: fnv1a(name))
        return [Float](unsafeUninitializedCapacity: count) { out, n in
            for i in 0..<count { out[i] = Float(transform(Double(generator.next() >> 40) / Double(1 << 24) * 2 - 1)) }
            n = count
        }
    }

    /// The value of each element of parameter `name`: He uniform for weights of rank ≥ 2, values
    /// near batch norm's neutral ones for vectors.
    static func values(_ name: String, shape: [Int]) -> [Float] {
        let count = shape.reduce(1, *)
        if shape.count >= 2 {
            let bound = (6.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()
            return uniform(name, count: count) { $0 * bound }
        }
        if name.hasSuffix("running_var") { return uniform(name, count: count) { 1 + $0 / 2 } }
        if name.hasSuffix("running_mean") || name.hasSuffix("bias") { return uniform(name, count: count) { $0 / 10 } }
        return uniform(name, count: count) { 1 + $0 / 4 }
    }

    /// The script's input images: `batch` samples of `sampleCount` values 2u.
    static func input(batch: Int, sampleCount: Int) -> [[Float]] {
        let u = uniform("input", count: batch * sampleCount) { $0 * 2 }
        return (0..<batch).map { i in Array(u[(i * sampleCount)..<((i + 1) * sampleCount)]) }
    }

    /// A safetensors file holding every parameter of `graph` filled by the formula.
    static func file(for graph: Graph) -> SafeTensors {
        var file = SafeTensors(metadata: ["format": "pt"])
        for node in graph.nodes {
            for spec in node.parameters {
                let name = "\(node.name).\(spec.name)"
                file.tensors[name] = .init(shape: spec.shape, values: values(name, shape: spec.shape))
            }
        }
        return file
    }

    private static func fnv1a(_ name: String) -> UInt64 {
        name.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}
