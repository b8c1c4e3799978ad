extension Dataset {
    /// The dataset with every image resized to `size`×`size` (bilinear, align-corners off as in
    /// torchvision) and its channels repeated up to `channels` (gray → RGB). Lets the ImageNet
    /// architectures of the zoo train on a small real dataset when no image folder is given.
    public func resized(to size: Int, channels: Int) throws -> Dataset {
        guard let (c, h, w) = sampleShape.chw, size > 0, channels >= c, channels % c == 0 else {
            throw CNNError.invalidArgument("\(name): cannot resize \(sampleShape) to \(channels)×\(size)×\(size)")
        }
        // Source coordinate and weights of each output row/column, computed once.
        func taps(_ n: Int) -> [(Int, Int, Float)] {
            (0..<size).map { o in
                let x = max(0, (Float(o) + 0.5) * Float(n) / Float(size) - 0.5)
                let lo = min(Int(x), n - 1)
                return (lo, min(lo + 1, n - 1), x - Float(lo))
            }
        }
        let rows = taps(h), cols = taps(w)
        let plane = size * size, outSample = channels * plane
        // Refused before allocating: a large --image-size times every image can exceed memory.
        let bytes = try CheckedSize.product([count, channels, size, size, MemoryLayout<Float>.size],
                                            what: "\(name) resized to \(channels)×\(size)×\(size)")
        guard bytes <= HostMemory.availableBytes else {
            throw CNNError.outOfMemory(requestedBytes: bytes, detail: "\(count) images of \(channels)×\(size)×\(size) "
                + "(\(name)) need more than the \(HostMemory.availableBytes >> 20) MiB this process may use: "
                + "use a smaller --image-size.")
        }
        var out = [Float](repeating: 0, count: count * outSample)
        out.withUnsafeMutableBufferPointer { dst in
            images.withUnsafeBufferPointer { src in
                for i in 0..<count {
                    for ch in 0..<c {
                        let s = src.baseAddress! + (i * c + ch) * h * w
                        let d = dst.baseAddress! + i * outSample + ch * plane
                        for (oy, (y0, y1, fy)) in rows.enumerated() {
                            for (ox, (x0, x1, fx)) in cols.enumerated() {
                                let top = s[y0 * w + x0] * (1 - fx) + s[y0 * w + x1] * fx
                                let bottom = s[y1 * w + x0] * (1 - fx) + s[y1 * w + x1] * fx
                                d[oy * size + ox] = top * (1 - fy) + bottom * fy
                            }
                        }
                    }
                    // Repeat the source channels (1 → 3 for gray images).
                    for ch in c..<channels {
                        let d = dst.baseAddress! + i * outSample
                        (d + ch * plane).update(from: d + (ch % c) * plane, count: plane)
                    }
                }
            }
        }
        return try Dataset(name: "\(name) at \(channels)×\(size)×\(size)", sampleShape: [channels, size, size],
                           classes: classes, classNames: classNames, images: out, labels: labels)
    }
}
