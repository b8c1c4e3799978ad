import CNNGPU

/// The example's few command-line options, parsed by hand to keep its dependencies to CNNGPU.
struct ExampleOptions {
    static let usage = "usage: ResidualFashionMNIST [--device cpu|auto|opencl[:N]] [--train-images N] [--predict N] [--min-accuracy PERCENT]"

    var device = DeviceSelection.cpu
    /// The first N training images (all 60,000 when nil), to bound the time of a CI run.
    var trainImages: Int?
    var predictions = 8
    var minimumAccuracy = 0.70

    init<S: Sequence>(_ arguments: S) throws where S.Element == String {
        var rest = Array(arguments)[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw CNNError.invalidArgument("\(flag) needs a value") }
            switch flag {
            case "--device": device = try DeviceSelection(parsing: value)
            case "--train-images": trainImages = try Self.positive(value, flag)
            case "--predict": predictions = min(try Self.positive(value, flag), 10_000)
            case "--min-accuracy":
                guard let p = Double(value), (0...100).contains(p) else {
                    throw CNNError.invalidArgument("--min-accuracy takes a percentage from 0 to 100, got '\(value)'")
                }
                minimumAccuracy = p / 100
            default: throw CNNError.invalidArgument("unknown option '\(flag)'")
            }
        }
    }

    private static func positive(_ value: String, _ flag: String) throws -> Int {
        guard let n = Int(value), n > 0 else { throw CNNError.invalidArgument("\(flag) takes a positive whole number, got '\(value)'") }
        return n
    }
}
