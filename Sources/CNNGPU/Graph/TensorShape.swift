/// The shape of one sample (no batch axis): `[C, H, W]` for images, `[F]` for features.
public struct TensorShape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    /// Elements per sample.
    public var count: Int { dims.reduce(1, *) }
    public var rank: Int { dims.count }

    /// Channels, height and width of an image-shaped tensor.
    var chw: (c: Int, h: Int, w: Int)? { rank == 3 ? (dims[0], dims[1], dims[2]) : nil }

    public var description: String { dims.map(String.init).joined(separator: "×") }
}
