// Trains a small residual network, defined in this package (ResidualNet.swift), for one epoch
// on Fashion-MNIST, saves its weights, loads them into a `Classifier` as an application would,
// and predicts a few test images.
//
//     swift run -c release ResidualFashionMNIST [--device cpu|auto|opencl[:N]] [--train-images N]
//
// (from this folder; scripts/run-example.sh builds and runs it as CI does).
//
// Fashion-MNIST comes from Debian's dataset-fashion-mnist package (the repository's
// scripts/setup.sh installs it). Exits with status 1 if the network did not learn.
import CNNGPU
import Foundation

/// Writes a line unbuffered, as the trainer writes its progress, so that a log keeps the order.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let options: ExampleOptions
do { options = try ExampleOptions(CommandLine.arguments.dropFirst()) } catch {
    FileHandle.standardError.write(Data("error: \(error)\n\(ExampleOptions.usage)\n".utf8))
    exit(2)
}

do {
    var train = try FashionMNIST.load(split: .train)
    let test = try FashionMNIST.load(split: .test)
    if let n = options.trainImages { train = try train.subset(0..<min(n, train.count)) }
    let normalization = ChannelNormalization.fashionMNIST

    let graph = try residualNet(classes: test.classes)
    say(graph.summary(title: "residual network (user-defined)"))
    let device = try options.device.open()
    say("device: \(device.backend.info.name) (\(device.reason))")

    var config = TrainingConfig()
    config.epochs = 1
    config.batchSize = 64
    let steps = train.count / config.batchSize
    config.schedule = LearningRateSchedule(base: 0.05, shape: .cosine(totalSteps: steps, minimum: 0))
    let trainer = try Trainer(graph: graph, backend: device.backend, config: config)
    let history = try trainer.fit(
        train: try BatchLoader(dataset: train, batchSize: config.batchSize, seed: config.seed,
                               normalization: normalization, dropLast: true),
        validation: try BatchLoader(dataset: test, batchSize: 256, shuffle: false, normalization: normalization))
    let accuracy = history.last?.validationAccuracy ?? 0

    // An application loads saved weights into a Classifier: export, then load as it would.
    let weights = FileManager.default.temporaryDirectory
        .appendingPathComponent("residual-fashion-mnist-\(ProcessInfo.processInfo.processIdentifier).safetensors")
    try ModelWeights.export(trainer.parameters, to: weights)
    let classifier = try Classifier(graph: graph, weights: weights, backend: device.backend)
    try? FileManager.default.removeItem(at: weights)   // read once, by the line above

    // The same preprocessing as in training: the loader normalizes, without shuffling.
    let shown = try BatchLoader(dataset: test.subset(0..<options.predictions), batchSize: options.predictions,
                                shuffle: false, normalization: normalization).batch(0, epoch: 0)
    let size = graph.inputShape.count
    let samples = (0..<shown.count).map { Array(shown.images[$0 * size..<($0 + 1) * size]) }
    var right = 0
    for (i, probabilities) in try classifier.probabilities(of: samples).enumerated() {
        let predicted = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        let truth = Int(shown.labels[i])
        right += predicted == truth ? 1 : 0
        let name = test.className(Int32(predicted)).padding(toLength: 11, withPad: " ", startingAt: 0)
        say(String(format: "test image %2d: predicted %@ %5.1f%%   true %@", i, name,
                     Double(probabilities[predicted]) * 100, test.className(Int32(truth))))
    }
    say(String(format: "%d of %d shown images right; test accuracy %.2f%% (%d test images) after one epoch on %d training images",
                 right, shown.count, accuracy * 100, test.count, train.count))
    // Ten classes: chance is 10%. A network that learned anything is far above the bar.
    guard accuracy >= options.minimumAccuracy else {
        FileHandle.standardError.write(Data(String(format: "error: test accuracy %.2f%% is below %.0f%%: the network did not learn\n",
                                                    accuracy * 100, options.minimumAccuracy * 100).utf8))
        exit(1)
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
