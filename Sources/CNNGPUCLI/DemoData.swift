import CNNGPU

/// What `train MODEL` uses when an ImageNet-sized zoo model gets no --data: Fashion-MNIST,
/// resized and repeated to three channels, cut to a few hundred steps, so that the run is real,
/// visibly learns, and ends in minutes on two cores. It says so, and how to train on images.
enum DemoData {
    static let trainImages = 9_600
    static let testImages = 2_000
    static let defaultSize = 32

    /// 32 pixels, or the model's smallest input rounded up to a multiple of 16 (AlexNet: 64).
    static func size(for entry: ModelZoo.Entry) -> Int {
        max(defaultSize, (entry.minimumSide + 15) / 16 * 16)
    }

    /// Epochs and SGD learning rate that make the stand-in run learn visibly (measured here).
    /// From torchvision's initialization 0.02 overshoots in the first steps of the batch-norm
    /// models (ResNet-50: 43–69% test accuracy by seed; 75% at 0.01). AlexNet, without batch
    /// norm and at PyTorch's default initialization, barely moves in one epoch at either rate
    /// (37% at 0.02), so it gets three at 0.02 (78%), about as long as one of ResNet-50's.
    static func schedule(for entry: ModelZoo.Entry) -> (epochs: Int, sgdRate: Float) {
        entry.name == "alexnet" ? (3, 0.02) : (1, 0.01)
    }

    static func load(for entry: ModelZoo.Entry, imageSize: Int?, batchSize: Int) throws -> (train: Dataset, test: Dataset, note: String) {
        let (model, size) = (entry.name, imageSize ?? Self.size(for: entry))
        let train = try FashionMNIST.load(split: .train).subset(0..<trainImages).resized(to: size, channels: 3)
        let test = try FashionMNIST.load(split: .test).subset(0..<testImages).resized(to: size, channels: 3)
        let note = """
            No --data given: \(model) trains on \(trainImages) Fashion-MNIST images resized to 3×\(size)×\(size) \
            (\(trainImages / batchSize) steps per epoch) and is tested on \(testImages), to show it learning in minutes.
            To train on your own images: cnn-gpu train \(model) --data DIR --image-size 224, with DIR/<class>/<image>.jpg \
            (or DIR/train/… and DIR/val/…).
            """
        return (train, test, note)
    }
}
