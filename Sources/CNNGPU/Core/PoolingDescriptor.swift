public enum PoolingMode: String, Sendable, Hashable {
    case max
    /// Average over the window including padded zeros (PyTorch's `count_include_pad=True`).
    case averageIncludingPadding
    /// Average over the window's pixels inside the image only.
    case averageExcludingPadding
}

/// A 2-D pooling problem in NCHW.
public struct Pool2DDescriptor: Equatable, Hashable, Sendable {
    public var batch: Int, channels: Int, inH: Int, inW: Int
    public var windowH: Int, windowW: Int
    public var strideH: Int, strideW: Int
    public var padding: Padding2D
    public var mode: PoolingMode
    /// Max pooling of a ReLU's output whose backward pass the pool takes over: a window whose
    /// maximum is not positive (ReLU's gradient is zero there) records winner −1 in `indices`,
    /// so the backward pass, which skips such winners, writes the gradient already masked by
    /// ReLU and the ReLU backward op is dropped from the plan.
    public var masksNonPositiveWinners: Bool

    public init(batch: Int, channels: Int, inH: Int, inW: Int, windowH: Int, windowW: Int,
                strideH: Int, strideW: Int, padding: Padding2D = .zero, mode: PoolingMode,
                masksNonPositiveWinners: Bool = false) throws {
        self.batch = batch; self.channels = channels; self.inH = inH; self.inW = inW
        self.windowH = windowH; self.windowW = windowW; self.strideH = strideH; self.strideW = strideW
        self.padding = padding; self.mode = mode; self.masksNonPositiveWinners = masksNonPositiveWinners
        func fail(_ s: String) -> CNNError { .invalidShape(op: "pool2d", detail: s) }
        for (name, v) in [("batch", batch), ("channels", channels), ("height", inH), ("width", inW),
                          ("windowH", windowH), ("windowW", windowW), ("strideH", strideH),
                          ("strideW", strideW)] where v <= 0 {
            throw fail("\(name) must be positive, got \(v)")
        }
        if [padding.top, padding.bottom, padding.left, padding.right].contains(where: { $0 < 0 }) {
            throw fail("padding must not be negative")
        }
        // As in PyTorch: padding at most half the window, so every window sees a real pixel.
        if padding.top * 2 > windowH || padding.bottom * 2 > windowH || padding.left * 2 > windowW || padding.right * 2 > windowW {
            throw fail("padding \(padding) must be at most half the window \(windowH)×\(windowW)")
        }
        if masksNonPositiveWinners && mode != .max {
            throw fail("only max pooling can mask non-positive winners (mode \(mode))")
        }
        if windowH > inH + padding.top + padding.bottom || windowW > inW + padding.left + padding.right {
            throw fail("window \(windowH)×\(windowW) is larger than the padded input")
        }
    }

    public var outH: Int { (inH + padding.top + padding.bottom - windowH) / strideH + 1 }
    public var outW: Int { (inW + padding.left + padding.right - windowW) / strideW + 1 }
    public var inputCount: Int { batch * channels * inH * inW }
    public var outputCount: Int { batch * channels * outH * outW }
}
