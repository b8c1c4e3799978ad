/// Bounds on sizes that come from users and files, checked before anything is built from them,
/// so a typo or a hostile value (`--batch-size 9223372036854775807`, a 4-billion-pixel side) is
/// refused with a message instead of overflowing an `Int` or asking for terabytes.
///
/// They are far above any real use: ImageNet models train at 224², large batches are a few
/// thousand, and a sample of 2^31 values is 8 GiB on its own.
public enum InputLimits {
    public static let maxBatchSize = 65_536
    /// The largest side of an input image or feature map, in pixels.
    public static let maxImageSide = 65_536
    /// The most values in one input sample (C·H·W).
    public static let maxSampleElements = 1 << 31
    public static let maxEpochs = 1_000_000
    public static let maxClasses = 1_000_000

    /// Checks a batch size given by `flag`.
    public static func checkBatchSize(_ value: Int, flag: String = "--batch-size") throws {
        try CheckedSize.inRange(value, 1...maxBatchSize, flag)
    }

    /// Checks an input shape (C×H×W or features) given by `flag`: every size positive, each side
    /// at most `maxImageSide`, and at most `maxSampleElements` values in all.
    public static func checkSampleShape(_ dims: [Int], flag: String) throws {
        for d in dims { try CheckedSize.inRange(d, 1...maxImageSide, "each size of \(flag)") }
        _ = try CheckedSize.product(dims, limit: maxSampleElements, what: "\(flag) (values per sample)")
    }
}
