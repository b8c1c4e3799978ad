/// Collects the layers of a `Sequential` model.
@resultBuilder
public enum LayerListBuilder {
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    public static func buildEither(first: [any Layer]) -> [any Layer] { first }
    public static func buildEither(second: [any Layer]) -> [any Layer] { second }
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}

/// A chain of layers, each feeding the next:
///
/// ```swift
/// let lenet = try Sequential(input: [1, 28, 28]) {
///     Conv2D(6, kernel: 5, padding: .same); ReLU(); MaxPool2D(2)
///     Conv2D(16, kernel: 5); ReLU(); MaxPool2D(2)
///     Flatten(); Dense(120); ReLU(); Dense(84); ReLU(); Dense(10)
/// }
/// ```
public func Sequential(input: TensorShape, @LayerListBuilder _ layers: () -> [any Layer]) throws -> Graph {
    let builder = GraphBuilder(input: input)
    var x = builder.input
    let list = layers()
    guard !list.isEmpty else { throw CNNError.invalidModel("a Sequential model needs at least one layer") }
    for layer in list { x = builder.add(layer, x) }
    return try builder.build(output: x)
}
