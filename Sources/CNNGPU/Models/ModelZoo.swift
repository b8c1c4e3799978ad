/// The models `cnn-gpu` knows by name.
public enum ModelZoo {
    public struct Entry {
        public let name: String
        public let summary: String
        /// The input it is designed for (used when the user gives none).
        public let defaultInput: TensorShape
        public let build: (_ input: TensorShape, _ classes: Int) throws -> Graph
    }

    public static let entries: [Entry] = [
        Entry(name: "lenet5", summary: "LeNet-5 (6c5-pool-16c5-pool-120-84-10), 61,706 parameters",
              defaultInput: [1, 28, 28], build: { try LeNet5(input: $0, classes: $1) }),
        Entry(name: "lenet5_keras", summary: "Keras' LeNet-inspired MNIST CNN (32c3-64c3-pool-128), 1,199,882 parameters",
              defaultInput: [1, 28, 28], build: { try LeNet5Keras(input: $0, classes: $1) }),
    ]

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> Entry {
        guard let e = entries.first(where: { $0.name == name.lowercased() }) else {
            throw CNNError.invalidArgument("unknown model '\(name)'. Known models: \(names.joined(separator: ", "))")
        }
        return e
    }

    /// Builds `name` for `input` (its default when nil) and `classes` outputs.
    public static func build(_ name: String, input: TensorShape? = nil, classes: Int = 10) throws -> Graph {
        let e = try entry(name)
        guard classes > 0 else { throw CNNError.invalidArgument("the number of classes must be positive, got \(classes)") }
        return try e.build(input ?? e.defaultInput, classes)
    }
}
