@testable import CNNGPU
import Foundation

/// Small Fashion-MNIST-shaped datasets for the CLI tests: plain (ungzipped) IDX files named as
/// the real ones, `train-…` and `t10k-…`, so `--data DIR` reads them like the installed set.
enum TinyFashionMNIST {
    /// What the pixels show.
    enum Pattern {
        /// A bright band of three rows at the label's position on dim noise: a model learns it
        /// in a few steps, so tests can ask for accuracy.
        case classBand
        /// Uniform noise: nothing to learn, for tests that only watch the run.
        case noise
    }

    /// Writes `train` training and `test` test images of `side` (height, width) pixels (the
    /// test images of `testSide` when given), labels drawn first, then the pixels, from `seed`.
    static func write(in dir: URL, train: Int, test: Int, side: (Int, Int) = (28, 28), testSide: (Int, Int)? = nil,
                      pattern: Pattern = .classBand, seed: UInt64) throws {
        var g = SplitMix64(seed: seed)
        for (prefix, count, (h, w)) in [("train", train, side), ("t10k", test, testSide ?? side)] {
            let labels = (0..<count).map { _ in UInt8(g.next() % 10) }
            let pixels: [UInt8]
            switch pattern {
            case .classBand:
                pixels = labels.flatMap { label in (0..<h * w).map { $0 / w / 3 == Int(label) ? UInt8(200) : UInt8(g.next() % 60) } }
            case .noise:
                pixels = (0..<count * h * w).map { _ in UInt8(g.next() % 256) }
            }
            try writeIDX(in: dir, prefix: prefix, images: pixels, height: h, width: w, labels: labels)
        }
    }

    /// `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` holding `labels.count` images.
    static func writeIDX(in dir: URL, prefix: String, images: [UInt8], height: Int, width: Int, labels: [UInt8]) throws {
        try Data(try IDXFile(dims: [labels.count, height, width], bytes: images).encoded(magic: IDXFile.imagesMagic))
            .write(to: dir.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
        try Data(try IDXFile(dims: [labels.count], bytes: labels).encoded(magic: IDXFile.labelsMagic))
            .write(to: dir.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
    }
}
