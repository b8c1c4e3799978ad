/// Pooling on the host, parallel over the N·C planes. Within a plane the backward passes add
/// each output's gradient into its window in ascending output order: the same order in which
/// the OpenCL gathers sum, and deterministic. Adaptive pooling's backward is a gather, as its
/// OpenCL kernel is, and adds the same dy / window-size terms in the same order.
extension CPUBackend: PoolingOps {
    public func encodePoolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                                     indices: (any DeviceBuffer)?) throws {
        let g = PoolGeometry(d)
        let xp = ptr(x), yp = ptr(y), ip = indices.map(intPtr)
        let mode = d.mode
        parallelFor(d.batch * d.channels, grain: g.planeGrain) { planes in
            // Where the caller wants no indices, the max kernel still tracks them in a row.
            let scratch = UnsafeMutablePointer<Int32>.allocate(capacity: g.outW)
            defer { scratch.deallocate() }
            for p in planes {
                let x = xp + p * g.inPlane, y = yp + p * g.outPlane
                if mode == .max {
                    maxPoolPlane(g, x, y, ip.map { $0 + p * g.outPlane }, scratch: scratch)
                } else {
                    averagePoolPlane(g, x, y, includePadding: mode == .averageIncludingPadding)
                }
            }
        }
    }

    public func encodePoolingBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, indices: (any DeviceBuffer)?,
                                      dx: any DeviceBuffer) throws {
        let g = PoolGeometry(d)
        let dyp = ptr(dy), dxp = ptr(dx)
        // Average pooling ignores indices a caller may pass anyway.
        let ip = d.mode == .max ? indices.map(intPtr) : nil
        parallelFor(d.batch * d.channels, grain: g.planeGrain) { planes in
            for p in planes {
                let plane = dxp + p * g.inPlane
                plane.update(repeating: 0, count: g.inPlane)
                for oh in 0..<g.outH {
                    let (h0, h1) = g.rows(oh)
                    for ow in 0..<g.outW {
                        let o = p * g.outPlane + oh * g.outW + ow
                        if let ip {
                            // A corrupt index must not write outside the plane.
                            let i = Int(ip[o])
                            if i >= 0 && i < g.inPlane { plane[i] += dyp[o] }
                        } else {
                            let (w0, w1) = g.columns(ow)
                            let share = dyp[o] / g.divisor(oh, ow, includePadding: d.mode == .averageIncludingPadding)
                            for ih in h0..<h1 {
                                for iw in w0..<w1 { plane[ih * g.inW + iw] += share }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Max pooling of one plane; NaN wins and the first maximum is kept, as in PyTorch. Outputs
    /// whose window lies inside the row are done a row at a time with the window offset
    /// outermost, so consecutive outputs are independent (no compare-select chain per window)
    /// and the inner loop is a plain strided sweep; the few clipped edge windows go one by one.
    /// Both visit a window in row-major order, so ties resolve the same way. Index arithmetic
    /// wraps: sizes were validated, and overflow checks would only cost time.
    private func maxPoolPlane(_ g: PoolGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                              _ indices: UnsafeMutablePointer<Int32>?, scratch: UnsafeMutablePointer<Int32>) {
        if g.isUnpadded2x2 { return maxPool2x2Plane(g, x, y, indices ?? scratch, rowIndices: indices != nil) }
        let inW = g.inW, outW = g.outW, strideW = g.strideW
        let (lo, hi) = g.interiorColumns
        for oh in 0..<g.outH {
            let (h0, h1) = g.rows(oh)
            let yRow = y + oh * outW, iRow = indices.map { $0 + oh * outW } ?? scratch
            for ow in 0..<outW where ow < lo || ow >= hi {
                let (w0, w1) = g.columns(ow)
                var best = -Float.infinity, index = h0 &* inW &+ w0
                var row = h0 &* inW
                for _ in h0..<h1 {
                    for iw in w0..<w1 {
                        let v = x[row &+ iw]
                        let wins = v > best || v.isNaN
                        best = wins ? v : best
                        index = wins ? row &+ iw : index
                    }
                    row &+= inW
                }
                yRow[ow] = best
                iRow[ow] = Int32(truncatingIfNeeded: index)
            }
            guard lo < hi else { continue }
            for ow in lo..<hi {
                yRow[ow] = -.infinity
                iRow[ow] = Int32(truncatingIfNeeded: h0 &* inW &+ ow &* strideW &- g.left)
            }
            var row = h0 &* inW
            for _ in h0..<h1 {
                for kw in 0..<g.windowW {
                    let start = row &- g.left &+ kw  // element of output 0 at this window offset
                    for ow in lo..<hi {
                        let e = start &+ ow &* strideW
                        let v = x[e]
                        let wins = v > yRow[ow] || v.isNaN
                        yRow[ow] = wins ? v : yRow[ow]
                        iRow[ow] = wins ? Int32(truncatingIfNeeded: e) : iRow[ow]
                    }
                }
                row &+= inW
            }
        }
    }

    /// The 2×2, stride-2, unpadded window of LeNet and VGG: four loads and compares per output
    /// in one pass, instead of a read-modify-write of the output row per window offset. Same
    /// rule as the general loop: scan in row-major order, a larger value or a NaN takes over.
    private func maxPool2x2Plane(_ g: PoolGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                 _ indices: UnsafeMutablePointer<Int32>, rowIndices: Bool) {
        let inW = g.inW, outW = g.outW
        for oh in 0..<g.outH {
            let top = 2 &* oh &* inW
            let iRow = rowIndices ? indices + oh &* outW : indices
            for ow in 0..<outW {
                let e0 = top &+ 2 &* ow
                var best = x[e0], index = e0
                @inline(__always) func consider(_ e: Int) {
                    let v = x[e]
                    let wins = v > best || v.isNaN
                    best = wins ? v : best
                    index = wins ? e : index
                }
                consider(e0 &+ 1); consider(e0 &+ inW); consider(e0 &+ inW &+ 1)
                y[oh &* outW &+ ow] = best
                iRow[ow] = Int32(truncatingIfNeeded: index)
            }
        }
    }

    private func averagePoolPlane(_ g: PoolGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                  includePadding: Bool) {
        let inW = g.inW
        for oh in 0..<g.outH {
            let (h0, h1) = g.rows(oh)
            for ow in 0..<g.outW {
                let (w0, w1) = g.columns(ow)
                var sum: Float = 0
                var row = h0 &* inW
                for _ in h0..<h1 {
                    for iw in w0..<w1 { sum += x[row &+ iw] }
                    row &+= inW
                }
                y[oh &* g.outW &+ ow] = sum / g.divisor(oh, ow, includePadding: includePadding)
            }
        }
    }

    public func encodeGlobalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y)
        parallelFor(planes, grain: max(1, 16_384 / spatial)) { range in
            for p in range {
                yp[p] = Float(RowReduction.sum(xp + p * spatial, spatial) / Double(spatial))
            }
        }
    }

    public func encodeGlobalAveragePoolBackward(planes: Int, spatial: Int, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let dyp = ptr(dy), dxp = ptr(dx)
        parallelFor(planes, grain: max(1, 16_384 / spatial)) { range in
            for p in range {
                (dxp + p * spatial).update(repeating: dyp[p] / Float(spatial), count: spatial)
            }
        }
    }

    public func encodeAdaptiveAveragePoolForward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                                 x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let rows = AdaptiveAxis(input: inH, output: outH), columns = AdaptiveAxis(input: inW, output: outW)
        let xp = ptr(x), yp = ptr(y)
        parallelFor(planes, grain: AdaptiveAxis.planeGrain(rows, columns)) { range in
            for p in range {
                let x = xp + p * inH * inW, y = yp + p * outH * outW
                for oh in 0..<outH {
                    let windowRows = rows.windows[oh]
                    for ow in 0..<outW {
                        let windowColumns = columns.windows[ow]
                        var sum: Float = 0
                        for ih in windowRows {
                            for iw in windowColumns { sum += x[ih * inW + iw] }
                        }
                        y[oh * outW + ow] = sum / Float(windowRows.count * windowColumns.count)
                    }
                }
            }
        }
    }

    public func encodeAdaptiveAveragePoolBackward(planes: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                                                  dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let rows = AdaptiveAxis(input: inH, output: outH), columns = AdaptiveAxis(input: inW, output: outW)
        let dyp = ptr(dy), dxp = ptr(dx)
        parallelFor(planes, grain: AdaptiveAxis.planeGrain(rows, columns)) { range in
            // Each output's share of its gradient, dy / window size, computed once per plane.
            let shares = UnsafeMutablePointer<Float>.allocate(capacity: outH * outW)
            defer { shares.deallocate() }
            for p in range {
                let dy = dyp + p * outH * outW, dx = dxp + p * inH * inW
                for oh in 0..<outH {
                    for ow in 0..<outW {
                        shares[oh * outW + ow] = dy[oh * outW + ow] / Float(rows.windows[oh].count * columns.windows[ow].count)
                    }
                }
                for ih in 0..<inH {
                    let coveringRows = rows.covering[ih]
                    for iw in 0..<inW {
                        let coveringColumns = columns.covering[iw]
                        var sum: Float = 0
                        for oh in coveringRows {
                            for ow in coveringColumns { sum += shares[oh * outW + ow] }
                        }
                        dx[ih * inW + iw] = sum
                    }
                }
            }
        }
    }
}

/// Adaptive pooling along one axis of `input` pixels pooled to `output` cells, as PyTorch
/// defines it: cell o averages pixels ⌊o·input/output⌋ ..< ⌈(o+1)·input/output⌉. Pixel i lies in
/// the windows of cells ⌊i·output/input⌋ ..< ⌈(i+1)·output/input⌉, the same bounds with the two
/// sizes swapped (o's window starts at or before i iff o·input < (i+1)·output, and ends after
/// i iff (o+1)·input > i·output), which is what the backward gather walks.
private struct AdaptiveAxis {
    /// The input pixels of each output cell.
    let windows: [Range<Int>]
    /// The output cells whose window holds each input pixel.
    let covering: [Range<Int>]

    init(input: Int, output: Int) {
        windows = (0..<output).map { Self.span($0, scale: input, over: output) }
        covering = (0..<input).map { Self.span($0, scale: output, over: input) }
    }

    /// ⌊k·scale/over⌋ ..< ⌈(k+1)·scale/over⌉.
    private static func span(_ k: Int, scale: Int, over: Int) -> Range<Int> {
        (k * scale / over)..<(((k + 1) * scale + over - 1) / over)
    }

    /// Planes per parallel chunk. A plane costs one step per (input pixel, covering output)
    /// pair, forward and backward alike: the product of both axes' pair counts.
    static func planeGrain(_ rows: AdaptiveAxis, _ columns: AdaptiveAxis) -> Int {
        let pairs = rows.windows.reduce(0) { $0 + $1.count } * columns.windows.reduce(0) { $0 + $1.count }
        return max(1, 16_384 / pairs)
    }
}

/// A pooling descriptor's sizes as plain integers, with each window clipped to the input.
private struct PoolGeometry {
    let inH: Int, inW: Int, outH: Int, outW: Int
    let windowH: Int, windowW: Int, strideH: Int, strideW: Int
    let top: Int, left: Int, bottom: Int, right: Int

    init(_ d: Pool2DDescriptor) {
        inH = d.inH; inW = d.inW; outH = d.outH; outW = d.outW
        windowH = d.windowH; windowW = d.windowW; strideH = d.strideH; strideW = d.strideW
        top = d.padding.top; left = d.padding.left; bottom = d.padding.bottom; right = d.padding.right
    }

    var inPlane: Int { inH * inW }
    var isUnpadded2x2: Bool {
        windowH == 2 && windowW == 2 && strideH == 2 && strideW == 2 && top == 0 && left == 0 && bottom == 0 && right == 0
    }
    var outPlane: Int { outH * outW }
    /// Planes per parallel chunk: enough work per chunk to amortize the thread hand-off.
    var planeGrain: Int { max(1, 16_384 / max(1, outPlane * windowH * windowW + inPlane)) }

    /// The outputs `lo..<hi` along a row whose window needs no clipping to the image.
    var interiorColumns: (Int, Int) {
        let lo = (left + strideW - 1) / strideW
        let hi = inW + left >= windowW ? min(outW, (inW + left - windowW) / strideW + 1) : 0
        return (min(lo, outW), max(hi, 0))
    }

    /// The input rows of output row `oh`, clipped to the image: `h0..<h1`.
    func rows(_ oh: Int) -> (Int, Int) {
        (max(oh * strideH - top, 0), min(oh * strideH - top + windowH, inH))
    }

    func columns(_ ow: Int) -> (Int, Int) {
        (max(ow * strideW - left, 0), min(ow * strideW - left + windowW, inW))
    }

    /// PyTorch's divisor: the window clipped to the padded input, or to the image when padding
    /// is excluded.
    func divisor(_ oh: Int, _ ow: Int, includePadding: Bool) -> Float {
        if includePadding {
            let h0 = oh * strideH - top, w0 = ow * strideW - left
            return Float((min(h0 + windowH, inH + bottom) - h0) * (min(w0 + windowW, inW + right) - w0))
        }
        let (h0, h1) = rows(oh), (w0, w1) = columns(ow)
        return Float((h1 - h0) * (w1 - w0))
    }
}
