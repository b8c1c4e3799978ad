import Foundation

/// A hand-made convolution kernel, as courses show before any learning: Sobel, Gaussian, …
///
/// ```swift
/// let k = try ClassicKernel.parse("0,-1,0;-1,5,-1;0,-1,0", name: "sharpen")
/// ```
public struct ClassicKernel: Sendable, Equatable {
    /// How the output's values become grey levels (the caption and the console say which).
    public enum Display: Sendable, Equatable {
        /// Kernels whose weights sum to 1 (blurs, sharpen, emboss): flat regions keep their
        /// brightness, so output values are clamped to [0, 1], like the input.
        case clamp
        /// Signed responses (edges): −m → black, 0 → mid-grey, +m → white, m = max |value|.
        case symmetric
        /// Non-negative responses (gradient magnitude): 0 → black, the maximum → white.
        case magnitude
    }

    public var name: String
    public var rows: Int
    public var columns: Int
    /// Row-major, `rows · columns` values.
    public var weights: [Float]
    public var display: Display

    public init(name: String, rows: Int, columns: Int, weights: [Float], display: Display? = nil) throws {
        guard rows > 0, columns > 0, weights.count == rows * columns else {
            throw CNNError.invalidArgument("kernel '\(name)': \(rows)×\(columns) needs \(rows * columns) weights, got \(weights.count)")
        }
        guard weights.allSatisfy(\.isFinite) else {
            throw CNNError.invalidArgument("kernel '\(name)' has a weight that is not a finite number")
        }
        self.name = name; self.rows = rows; self.columns = columns; self.weights = weights
        self.display = display ?? (abs(weights.reduce(0, +) - 1) < 1e-4 ? .clamp : .symmetric)
    }

    /// Parses rows separated by ";" and weights by "," ("0,-1,0;-1,5,-1;0,-1,0").
    /// - Throws: naming the text when a weight is not a number or the rows differ in length.
    public static func parse(_ text: String, name: String = "custom") throws -> ClassicKernel {
        let rowTexts = text.split(separator: ";", omittingEmptySubsequences: false)
        var rows: [[Float]] = []
        for (r, rowText) in rowTexts.enumerated() {
            let cells = rowText.split(separator: ",", omittingEmptySubsequences: false)
            rows.append(try cells.map { cell in
                let t = cell.trimmingCharacters(in: .whitespaces)
                guard let v = Float(t), v.isFinite else {
                    throw CNNError.invalidArgument("kernel \"\(text)\": '\(t)' in row \(r + 1) is not a number. "
                        + "Write rows separated by ';' and weights by ',', e.g. \"0,-1,0;-1,5,-1;0,-1,0\"")
                }
                return v
            })
        }
        let widths = rows.map(\.count)
        guard let first = widths.first, widths.allSatisfy({ $0 == first }) else {
            throw CNNError.invalidArgument("kernel \"\(text)\" is not rectangular: its rows have "
                + widths.map(String.init).joined(separator: ", ") + " weights. Give every row the same number")
        }
        return try ClassicKernel(name: name, rows: rows.count, columns: first, weights: rows.flatMap { $0 })
    }

    public static let sobelX = try! ClassicKernel(name: "sobel-x", rows: 3, columns: 3, weights: [-1, 0, 1, -2, 0, 2, -1, 0, 1])
    public static let sobelY = try! ClassicKernel(name: "sobel-y", rows: 3, columns: 3, weights: [-1, -2, -1, 0, 0, 0, 1, 2, 1])
    public static let prewittX = try! ClassicKernel(name: "prewitt-x", rows: 3, columns: 3, weights: [-1, 0, 1, -1, 0, 1, -1, 0, 1])
    public static let prewittY = try! ClassicKernel(name: "prewitt-y", rows: 3, columns: 3, weights: [-1, -1, -1, 0, 0, 0, 1, 1, 1])
    public static let laplacian = try! ClassicKernel(name: "laplacian", rows: 3, columns: 3, weights: [0, 1, 0, 1, -4, 1, 0, 1, 0])
    public static let sharpen = try! ClassicKernel(name: "sharpen", rows: 3, columns: 3, weights: [0, -1, 0, -1, 5, -1, 0, -1, 0])
    /// Weights sum to 1, so flat regions keep their brightness and edges turn into relief.
    public static let emboss = try! ClassicKernel(name: "emboss", rows: 3, columns: 3, weights: [-2, -1, 0, -1, 1, 1, 0, 1, 2])

    /// A `size`×`size` mean.
    public static func box(size: Int = 3) throws -> ClassicKernel {
        guard size > 0 else { throw CNNError.invalidArgument("a box blur needs a positive size, got \(size)") }
        return try ClassicKernel(name: "box-\(size)x\(size)", rows: size, columns: size,
                                 weights: [Float](repeating: 1 / Float(size * size), count: size * size), display: .clamp)
    }

    /// A normalized Gaussian of deviation `sigma`, truncated at ±3σ (an odd size, at least 3).
    public static func gaussian(sigma: Double) throws -> ClassicKernel {
        guard sigma > 0, sigma.isFinite, sigma <= 50 else {
            throw CNNError.invalidArgument("--sigma must be a positive number of pixels up to 50, got \(sigma)")
        }
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        let taps = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        var weights: [Double] = []
        for a in taps { for b in taps { weights.append(a * b) } }
        let total = weights.reduce(0, +)
        let size = 2 * radius + 1
        return try ClassicKernel(name: "gaussian-sigma\(String(format: "%g", sigma))", rows: size, columns: size,
                                 weights: weights.map { Float($0 / total) }, display: .clamp)
    }
}

/// Stride and zero padding of a classic filter, and the output-size arithmetic courses teach.
public struct FilterGeometry: Sendable, Equatable {
    public var stride: Int
    public var padding: Int

    public init(stride: Int = 1, padding: Int = 0) throws {
        guard stride > 0 else { throw CNNError.invalidArgument("--stride must be positive, got \(stride)") }
        guard padding >= 0 else { throw CNNError.invalidArgument("--padding must be zero or positive, got \(padding)") }
        self.stride = stride; self.padding = padding
    }

    /// ⌊(n + 2p − f) / s⌋ + 1.
    public func outputSize(input n: Int, kernel f: Int) -> Int { (n + 2 * padding - f) / stride + 1 }

    /// "(28 + 2·1 − 3)/1 + 1 = 28" (with ⌊⌋ when the division is not exact).
    public func arithmetic(input n: Int, kernel f: Int) -> String {
        let numerator = n + 2 * padding - f
        let exact = numerator % stride == 0
        return "\(exact ? "(" : "floor((")\(n) + 2*\(padding) - \(f))/\(stride)\(exact ? "" : ")") + 1 = \(outputSize(input: n, kernel: f))"
    }
}

/// A filter's response on the device: `channels` planes of `height`×`width`.
public struct FilterResponse: Sendable {
    public var kernel: ClassicKernel
    public var channels: Int
    public var width: Int
    public var height: Int
    /// CHW.
    public var values: [Float]
}

public enum ClassicFilters {
    /// The standard set, in the order the contact sheet shows them.
    public static func standard(sigma: Double = 1) throws -> [ClassicKernel] {
        [.sobelX, .sobelY, .prewittX, .prewittY, try .gaussian(sigma: sigma), try .box(size: 3), .laplacian, .sharpen, .emboss]
    }

    /// Cross-correlates each of the `channels` planes of `image` (CHW, `height`×`width`) with
    /// `kernel` through the backend's convolution op (as a CNN layer computes it: no kernel
    /// flip), each plane on its own as one sample of a batch.
    /// - Throws: naming the sizes when the kernel, with the padding, is larger than the image.
    public static func apply(_ kernel: ClassicKernel, to image: [Float], channels: Int, width: Int, height: Int,
                             geometry: FilterGeometry, backend: any Backend) throws -> FilterResponse {
        guard image.count == channels * width * height else {
            throw CNNError.invalidArgument("a \(channels)×\(height)×\(width) image needs \(channels * width * height) values, got \(image.count)")
        }
        guard kernel.rows <= height + 2 * geometry.padding, kernel.columns <= width + 2 * geometry.padding else {
            throw CNNError.invalidArgument("kernel '\(kernel.name)' (\(kernel.rows)×\(kernel.columns)) is larger than the "
                + "\(height)×\(width) image with padding \(geometry.padding): use a smaller kernel or more --padding")
        }
        let d = try Conv2DDescriptor(batch: channels, inChannels: 1, inH: height, inW: width, outChannels: 1,
                                     kernelH: kernel.rows, kernelW: kernel.columns,
                                     strideH: geometry.stride, strideW: geometry.stride, padding: Padding2D(geometry.padding))
        let x = try backend.makeBuffer(image)
        let w = try backend.makeBuffer(kernel.weights)
        let y = try backend.allocate(d.outputCount, dtype: .float32)
        try backend.convolutionForward(d, x: x, weight: w, bias: nil, y: y)
        return FilterResponse(kernel: kernel, channels: channels, width: d.outW, height: d.outH,
                              values: try backend.download(y, count: d.outputCount))
    }

    /// √(gx² + gy²) of two responses of the same size (Sobel x and y).
    public static func magnitude(_ gx: FilterResponse, _ gy: FilterResponse, name: String = "sobel-magnitude") throws -> FilterResponse {
        let k = try ClassicKernel(name: name, rows: gx.kernel.rows, columns: gx.kernel.columns,
                                  weights: gx.kernel.weights, display: .magnitude)
        return FilterResponse(kernel: k, channels: gx.channels, width: gx.width, height: gx.height,
                              values: zip(gx.values, gy.values).map { ($0 * $0 + $1 * $1).squareRoot() })
    }

    /// The luma of a CHW RGB tensor (ITU-R 601 weights, as PIL's `convert("L")`).
    public static func grayscale(_ rgb: [Float], width: Int, height: Int) -> [Float] {
        let n = width * height
        return (0..<n).map { 0.299 * rgb[$0] + 0.587 * rgb[n + $0] + 0.114 * rgb[2 * n + $0] }
    }

    /// The scaling `response` is shown with (see `ClassicKernel.Display`).
    public static func scaling(of response: FilterResponse) -> DisplayScaling {
        switch response.kernel.display {
        case .clamp: return DisplayScaling(low: 0, high: 1)
        case .symmetric: return DisplayScaling(symmetric: response.values)
        case .magnitude: return DisplayScaling(low: 0, high: max(response.values.max() ?? 1, .leastNormalMagnitude))
        }
    }

    /// The response as a picture (grey for one channel, colour for three), values clamped after scaling.
    public static func picture(of response: FilterResponse) -> Canvas {
        Canvas(chw: response.values, channels: response.channels, width: response.width, height: response.height,
               scaling: scaling(of: response))
    }
}
