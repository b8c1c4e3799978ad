/// The shape of one sample (no batch axis): `[C, H, W]` for images, `[F]` for features.
/// The element type travels with the shape through shape inference and the planner, which
/// sizes every buffer from it (Float32 throughout today; half precision will be explicit).
public struct TensorShape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Int]
    public var dtype: DType

    public init(_ dims: [Int], dtype: DType = .float32) { self.dims = dims; self.dtype = dtype }
    public init(arrayLiteral elements: Int...) { self.dims = elements; self.dtype = .float32 }

    /// Bytes per sample.
    public var byteCount: Int { count * dtype.byteSize }

    /// Elements per sample.
    public var count: Int { dims.reduce(1, *) }
    public var rank: Int { dims.count }

    /// Channels, height and width of an image-shaped tensor.
    var chw: (c: Int, h: Int, w: Int)? { rank == 3 ? (dims[0], dims[1], dims[2]) : nil }

    public var description: String { dims.map(String.init).joined(separator: "×") }
}
