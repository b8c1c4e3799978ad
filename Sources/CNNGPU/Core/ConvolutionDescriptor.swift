/// Padding of a 2-D window op: explicit per side, so asymmetric and "same" padding are the
/// same thing to every kernel.
public struct Padding2D: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }

    /// The same padding on every side.
    public init(_ all: Int) { self.init(top: all, bottom: all, left: all, right: all) }

    /// Symmetric padding, `h` above and below, `w` left and right.
    public init(h: Int, w: Int) { self.init(top: h, bottom: h, left: w, right: w) }

    public static let zero = Padding2D(0)

    /// TensorFlow's "same": output size is ceil(input / stride); the odd pixel goes to the
    /// bottom/right side.
    public static func same(inputH: Int, inputW: Int, kernelH: Int, kernelW: Int,
                            strideH: Int = 1, strideW: Int = 1,
                            dilationH: Int = 1, dilationW: Int = 1) -> Padding2D {
        func split(_ input: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
            let out = (input + s - 1) / s
            let extent = (k - 1) * d + 1
            let total = max(0, (out - 1) * s + extent - input)
            return (total / 2, total - total / 2)
        }
        let (t, b) = split(inputH, kernelH, strideH, dilationH)
        let (l, r) = split(inputW, kernelW, strideW, dilationW)
        return Padding2D(top: t, bottom: b, left: l, right: r)
    }

    public var description: String {
        top == bottom && left == right && top == left ? "\(top)" : "(t\(top),b\(bottom),l\(left),r\(right))"
    }
}

/// The full problem of a 2-D convolution in NCHW with weights in OIHW (`[outC, inC/groups, kH,
/// kW]`), the layout PyTorch uses. One descriptor drives forward, backward-data,
/// backward-filter and the transposed convolution.
public struct Conv2DDescriptor: Equatable, Hashable, Sendable {
    public var batch: Int
    public var inChannels: Int
    public var inH: Int, inW: Int
    public var outChannels: Int
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padding: Padding2D
    public var dilationH: Int, dilationW: Int
    public var groups: Int

    public init(batch: Int, inChannels: Int, inH: Int, inW: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padding: Padding2D = .zero, dilationH: Int = 1, dilationW: Int = 1,
                groups: Int = 1) throws {
        self.batch = batch; self.inChannels = inChannels; self.inH = inH; self.inW = inW
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padding = padding
        self.dilationH = dilationH; self.dilationW = dilationW; self.groups = groups
        try validate()
    }

    public var outH: Int { (inH + padding.top + padding.bottom - (kernelH - 1) * dilationH - 1) / strideH + 1 }
    public var outW: Int { (inW + padding.left + padding.right - (kernelW - 1) * dilationW - 1) / strideW + 1 }

    public var inputCount: Int { batch * inChannels * inH * inW }
    public var outputCount: Int { batch * outChannels * outH * outW }
    public var weightCount: Int { outChannels * (inChannels / groups) * kernelH * kernelW }
    /// Multiply-adds × 2 of the forward pass (the same for each backward pass).
    public var flops: Double {
        2 * Double(batch) * Double(outChannels * outH * outW) * Double((inChannels / groups) * kernelH * kernelW)
    }

    func validate() throws {
        func fail(_ s: String) -> CNNError { .invalidShape(op: "conv2d", detail: s) }
        for (name, v) in [("batch", batch), ("inChannels", inChannels), ("height", inH), ("width", inW),
                          ("outChannels", outChannels), ("kernelH", kernelH), ("kernelW", kernelW),
                          ("strideH", strideH), ("strideW", strideW), ("dilationH", dilationH),
                          ("dilationW", dilationW), ("groups", groups)] where v <= 0 {
            throw fail("\(name) must be positive, got \(v)")
        }
        if [padding.top, padding.bottom, padding.left, padding.right].contains(where: { $0 < 0 }) {
            throw fail("padding must not be negative, got \(padding)")
        }
        if inChannels % groups != 0 || outChannels % groups != 0 {
            throw fail("groups (\(groups)) must divide input channels (\(inChannels)) and output channels (\(outChannels))")
        }
        let extentH = (kernelH - 1) * dilationH + 1, extentW = (kernelW - 1) * dilationW + 1
        if extentH > inH + padding.top + padding.bottom || extentW > inW + padding.left + padding.right {
            throw fail("kernel \(kernelH)×\(kernelW) (dilation \(dilationH)×\(dilationW)) is larger than the padded input "
                + "\(inH + padding.top + padding.bottom)×\(inW + padding.left + padding.right)")
        }
    }
}

/// A transposed convolution ("deconvolution"), the upsampling layer of autoencoders and U-Net,
/// in PyTorch's convention: input `[N, inC, H, W]`, weight `[inC, outC/groups, kH, kW]`.
/// It is the adjoint of an ordinary convolution, so it runs on the same kernels: its forward
/// pass is that convolution's backward-data pass. `conv` is the convolution whose input is this
/// op's output.
public struct ConvTranspose2DDescriptor: Equatable, Hashable, Sendable {
    public let conv: Conv2DDescriptor
    public let outputPadding: (h: Int, w: Int)

    public static func == (a: Self, b: Self) -> Bool {
        a.conv == b.conv && a.outputPadding == b.outputPadding
    }
    public func hash(into h: inout Hasher) {
        h.combine(conv); h.combine(outputPadding.h); h.combine(outputPadding.w)
    }

    public init(batch: Int, inChannels: Int, inH: Int, inW: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padding: Padding2D = .zero, outputPaddingH: Int = 0, outputPaddingW: Int = 0,
                dilationH: Int = 1, dilationW: Int = 1, groups: Int = 1) throws {
        func fail(_ s: String) -> CNNError { .invalidShape(op: "conv_transpose2d", detail: s) }
        guard inH > 0, inW > 0, strideH > 0, strideW > 0, dilationH > 0, dilationW > 0, kernelH > 0, kernelW > 0 else {
            throw fail("sizes, strides and dilations must be positive")
        }
        guard outputPaddingH >= 0, outputPaddingW >= 0,
              outputPaddingH < max(strideH, dilationH), outputPaddingW < max(strideW, dilationW) else {
            throw fail("output padding must be smaller than the stride or the dilation")
        }
        let outH = (inH - 1) * strideH - padding.top - padding.bottom + dilationH * (kernelH - 1) + outputPaddingH + 1
        let outW = (inW - 1) * strideW - padding.left - padding.right + dilationW * (kernelW - 1) + outputPaddingW + 1
        guard outH > 0, outW > 0 else { throw fail("the output would be \(outH)×\(outW)") }
        // Output padding adds rows/columns at the bottom/right that the adjoint conv never reads.
        let conv = try Conv2DDescriptor(
            batch: batch, inChannels: outChannels, inH: outH, inW: outW, outChannels: inChannels,
            kernelH: kernelH, kernelW: kernelW, strideH: strideH, strideW: strideW,
            padding: padding, dilationH: dilationH, dilationW: dilationW, groups: groups)
        guard conv.outH == inH, conv.outW == inW else {
            throw fail("inconsistent sizes: the adjoint convolution maps \(outH)×\(outW) to \(conv.outH)×\(conv.outW), not \(inH)×\(inW)")
        }
        self.conv = conv
        self.outputPadding = (outputPaddingH, outputPaddingW)
    }

    public var inputCount: Int { conv.outputCount }
    public var outputCount: Int { conv.inputCount }
    public var weightCount: Int { conv.weightCount }
    public var outH: Int { conv.inH }
    public var outW: Int { conv.inW }
}
