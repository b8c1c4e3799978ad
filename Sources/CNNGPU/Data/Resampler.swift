/// One axis of PIL's bilinear resampling (`ImagingResample`'s `precompute_coeffs`): output
/// pixel `o` of a `length → output` resize averages the input pixels under a triangle of
/// half-width max(length / output, 1) centred on `(o + 0.5) · length / output`, clipped to
/// the region. Only the outputs in `window` are prepared (a center crop needs no others).
struct ResampleAxis {
    /// Per window position: first input pixel (absolute, region start included) and tap count.
    var first: [Int]
    var count: [Int]
    /// Per window position, `taps` weights (zero past `count`), summing to 1.
    var weights: [Float]
    var taps: Int

    init(start: Int, length: Int, output: Int, window: Range<Int>) {
        let scale = Double(length) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        taps = Int(support.rounded(.up)) * 2 + 1
        first = []; count = []
        weights = [Float](repeating: 0, count: window.count * taps)
        for (slot, o) in window.enumerated() {
            let center = (Double(o) + 0.5) * scale
            let lower = max(Int(center - support + 0.5), 0)
            let upper = min(Int(center + support + 0.5), length)
            var raw = [Double](repeating: 0, count: upper - lower)
            for x in lower..<upper { raw[x - lower] = max(0, 1 - abs((Double(x) - center + 0.5) / filterScale)) }
            let total = raw.reduce(0, +)
            for k in raw.indices { weights[slot * taps + k] = Float(total > 0 ? raw[k] / total : 0) }
            first.append(start + lower)
            count.append(upper - lower)
        }
    }
}

/// Separable resampling of an 8-bit RGB image into a normalized CHW Float tensor.
enum Resampler {
    /// Horizontal pass over the input rows the vertical pass needs, then the vertical pass;
    /// `flip` mirrors the output columns; each channel `c` ends as `value · scale[c] + bias[c]`.
    static func resample(_ image: RGBImage, horizontal: ResampleAxis, vertical: ResampleAxis, flip: Bool,
                         scale: [Float], bias: [Float], into out: UnsafeMutablePointer<Float>) {
        let outWidth = horizontal.first.count, outHeight = vertical.first.count
        let rowLow = vertical.first.min()!
        let rowHigh = zip(vertical.first, vertical.count).map { $0 + $1 }.max()!
        let columnLow = horizontal.first.min()!
        let columnHigh = zip(horizontal.first, horizontal.count).map { $0 + $1 }.max()!
        let rowValues = outWidth * 3
        var rows = [Float](repeating: 0, count: (rowHigh - rowLow) * rowValues)
        // One input row as Float, so each byte is converted once rather than once per tap.
        var line = [Float](repeating: 0, count: (columnHigh - columnLow) * 3)
        var accumulator = [Float](repeating: 0, count: rowValues)
        let plane = outWidth * outHeight
        image.pixels.withUnsafeBufferPointer { pixels in
        rows.withUnsafeMutableBufferPointer { rows in
        line.withUnsafeMutableBufferPointer { line in
        accumulator.withUnsafeMutableBufferPointer { accumulator in
        horizontal.weights.withUnsafeBufferPointer { hWeights in
        horizontal.first.withUnsafeBufferPointer { hFirst in
        horizontal.count.withUnsafeBufferPointer { hCount in
        vertical.weights.withUnsafeBufferPointer { vWeights in
            let line = line.baseAddress!
            for y in rowLow..<rowHigh {
                let source = pixels.baseAddress! + (y * image.width + columnLow) * 3
                for i in 0..<(columnHigh - columnLow) * 3 { line[i] = Float(source[i]) }
                let target = rows.baseAddress! + (y - rowLow) * rowValues
                for x in 0..<outWidth {
                    let w = hWeights.baseAddress! + x * horizontal.taps
                    var p = line + (hFirst[x] - columnLow) * 3
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for k in 0..<hCount[x] {
                        r += w[k] * p[0]; g += w[k] * p[1]; b += w[k] * p[2]
                        p += 3
                    }
                    target[x * 3] = r; target[x * 3 + 1] = g; target[x * 3 + 2] = b
                }
            }
            let acc = accumulator.baseAddress!
            for y in 0..<outHeight {
                acc.update(repeating: 0, count: rowValues)
                let w = vWeights.baseAddress! + y * vertical.taps
                for k in 0..<vertical.count[y] {
                    let row = rows.baseAddress! + (vertical.first[y] - rowLow + k) * rowValues
                    let weight = w[k]
                    for i in 0..<rowValues { acc[i] += weight * row[i] }
                }
                for c in 0..<3 {
                    let target = out + c * plane + y * outWidth
                    let s = scale[c], t = bias[c]
                    for x in 0..<outWidth {
                        target[flip ? outWidth - 1 - x : x] = acc[x * 3 + c] * s + t
                    }
                }
            }
        }}}}}}}}
    }
}
