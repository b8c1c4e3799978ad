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
            let scratch = PoolScratch(width: g.outW)
            defer { scratch.deallocate() }
            for p in planes {
                let x = xp + p * g.inPlane, y = yp + p * g.outPlane
                if mode == .max {
                    // Where the caller wants no indices, they are still tracked, a row at a time.
                    let rowIndices = ip != nil
                    maxPoolPlane(g, x, y, ip.map { $0 + p * g.outPlane } ?? scratch.outputIndices,
                                 rowIndices: rowIndices, scratch: scratch)
                } else {
                    averagePoolPlane(g, x, y, includePadding: mode == .averageIncludingPadding, scratch: scratch)
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
        let includePadding = d.mode == .averageIncludingPadding
        parallelFor(d.batch * d.channels, grain: g.planeGrain) { planes in
            let scratch = PoolScratch(width: g.outW)
            defer { scratch.deallocate() }
            for p in planes {
                let plane = dxp + p * g.inPlane, dy = dyp + p * g.outPlane
                plane.update(repeating: 0, count: g.inPlane)
                if let ip {
                    let winners = ip + p * g.outPlane
                    for o in 0..<g.outPlane {
                        // A corrupt index must not write outside the plane.
                        let i = Int(winners[o])
                        if i >= 0 && i < g.inPlane { plane[i] += dy[o] }
                    }
                } else {
                    averagePoolBackwardPlane(g, dy, plane, includePadding: includePadding, shares: scratch.values)
                }
            }
        }
    }

    /// Max pooling of one plane; NaN wins and the first maximum is kept, as in PyTorch. An output
    /// row is built from its window's input rows in order: the first row's horizontal maxima go
    /// straight to the output row, each later row's to scratch and are merged in (a later row
    /// wins only when strictly larger or NaN), which is the row-major rule of one window scan.
    /// `indices` is the plane's index array, or one scratch row reused for every output row.
    private func maxPoolPlane(_ g: PoolGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                              _ indices: UnsafeMutablePointer<Int32>, rowIndices: Bool, scratch: PoolScratch) {
        let outW = g.outW
        for oh in 0..<g.outH {
            let (h0, h1) = g.rows(oh)
            let yRow = y + oh &* outW, iRow = rowIndices ? indices + oh &* outW : indices
            rowMaxima(g, x, row: h0, yRow, iRow)
            guard h0 &+ 1 < h1 else { continue }
            let v = scratch.values, i = scratch.indices
            for ih in (h0 &+ 1)..<h1 {
                rowMaxima(g, x, row: ih, v, i)
                // The last vector overlaps the one before rather than leaving a scalar tail,
                // whose data-dependent branches cost more than the repeat (a merge is idempotent).
                var ow = 0
                while ow < outW && outW >= 16 {
                    ow = min(ow, outW &- 16)
                    let row = Lanes.load(v + ow, stride: 1)
                    var best = Lanes.load(yRow + ow, stride: 1), winners = Lanes.loadIndices(iRow + ow)
                    let wins = (row .> best) .| (row .!= row)
                    best.replace(with: row, where: wins)
                    winners.replace(with: Lanes.loadIndices(i + ow), where: wins)
                    Lanes.store(best, yRow + ow)
                    Lanes.storeIndices(winners, iRow + ow)
                    ow &+= 16
                }
                if outW >= 16 { continue }
                while ow < outW {
                    if v[ow] > yRow[ow] || v[ow].isNaN { yRow[ow] = v[ow]; iRow[ow] = i[ow] }
                    ow &+= 1
                }
            }
        }
    }

    /// Each output's maximum over its columns of input row `ih`, with the winner's flat index in
    /// the plane. Outputs whose window is clipped by the image edge go one by one; the interior
    /// ones take the window offset outermost, so the inner loop is a sweep with a constant
    /// stride, specialized for strides 1 and 2 so that the compiler vectorizes it. Index
    /// arithmetic wraps: sizes were validated, and overflow checks would only cost time.
    @inline(__always)
    private func rowMaxima(_ g: PoolGeometry, _ x: UnsafePointer<Float>, row ih: Int,
                           _ m: UnsafeMutablePointer<Float>, _ index: UnsafeMutablePointer<Int32>) {
        let rowStart = ih &* g.inW
        let (lo, hi) = g.interiorColumns
        for ow in g.edgeColumns {
            let (w0, w1) = g.columns(ow)
            var best = -Float.infinity, winner = rowStart &+ w0
            for iw in w0..<w1 {
                let v = x[rowStart &+ iw]
                let wins = v > best || v.isNaN
                best = wins ? v : best
                winner = wins ? rowStart &+ iw : winner
            }
            m[ow] = best
            index[ow] = Int32(truncatingIfNeeded: winner)
        }
        guard lo < hi else { return }
        // 16 outputs at a time in vector lanes (compares and selects, no branches: the data
        // decides a scalar loop's branches, and it mispredicted about half of them). The last
        // vector overlaps the one before (recomputing outputs is harmless); rows with fewer
        // than 16 interior outputs go one by one.
        @inline(__always) func interior(stride: Int) {
            let start = rowStart &- g.left
            let offsets = Lanes.offsets &* Int32(truncatingIfNeeded: stride)
            var ow = lo
            while ow < hi && hi &- lo >= 16 {
                ow = min(ow, hi &- 16)
                let e = start &+ ow &* stride
                var best = Lanes.load(x + e, stride: stride)
                var winners = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: e)) &+ offsets
                for kw in 1..<max(g.windowW, 1) {
                    let v = Lanes.load(x + (e &+ kw), stride: stride)
                    let wins = (v .> best) .| (v .!= v)
                    best.replace(with: v, where: wins)
                    winners.replace(with: SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: e &+ kw)) &+ offsets, where: wins)
                }
                Lanes.store(best, m + ow)
                Lanes.storeIndices(winners, index + ow)
                ow &+= 16
            }
            if hi &- lo >= 16 { return }
            while ow < hi {
                let e = start &+ ow &* stride
                var best = x[e], winner = e
                for kw in 1..<max(g.windowW, 1) where x[e &+ kw] > best || x[e &+ kw].isNaN {
                    best = x[e &+ kw]; winner = e &+ kw
                }
                m[ow] = best
                index[ow] = Int32(truncatingIfNeeded: winner)
                ow &+= 1
            }
        }
        switch g.strideW {
        case 1: interior(stride: 1)
        case 2: interior(stride: 2)
        default: interior(stride: g.strideW)
        }
    }

    /// Average pooling of one plane: each output row is the sum of its window rows' horizontal
    /// sums (the first written, the rest added from scratch), divided by the window's divisor.
    private func averagePoolPlane(_ g: PoolGeometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                  includePadding: Bool, scratch: PoolScratch) {
        let outW = g.outW
        let divisors = scratch.divisors
        for oh in 0..<g.outH {
            let (h0, h1) = g.rows(oh)
            let yRow = y + oh &* outW
            rowSums(g, x, row: h0, yRow)
            if h0 &+ 1 < h1 {
                let s = scratch.values
                for ih in (h0 &+ 1)..<h1 {
                    rowSums(g, x, row: ih, s)
                    for ow in 0..<outW { yRow[ow] += s[ow] }
                }
            }
            for ow in 0..<outW { divisors[ow] = g.divisor(oh, ow, includePadding: includePadding) }
            for ow in 0..<outW { yRow[ow] /= divisors[ow] }
        }
    }

    /// Each output's sum over its columns of input row `ih`; the same split as `rowMaxima`.
    @inline(__always)
    private func rowSums(_ g: PoolGeometry, _ x: UnsafePointer<Float>, row ih: Int, _ s: UnsafeMutablePointer<Float>) {
        let rowStart = ih &* g.inW
        let (lo, hi) = g.interiorColumns
        for ow in g.edgeColumns {
            let (w0, w1) = g.columns(ow)
            var sum: Float = 0
            for iw in w0..<w1 { sum += x[rowStart &+ iw] }
            s[ow] = sum
        }
        guard lo < hi else { return }
        @inline(__always) func interior(stride: Int) {
            let start = rowStart &- g.left
            var ow = lo
            while ow &+ 16 <= hi {
                let e = start &+ ow &* stride
                var sum = Lanes.load(x + e, stride: stride)
                for kw in 1..<max(g.windowW, 1) { sum += Lanes.load(x + (e &+ kw), stride: stride) }
                Lanes.store(sum, s + ow)
                ow &+= 16
            }
            while ow < hi {
                let e = start &+ ow &* stride
                var sum = x[e]
                for kw in 1..<max(g.windowW, 1) { sum += x[e &+ kw] }
                s[ow] = sum
                ow &+= 1
            }
        }
        switch g.strideW {
        case 1: interior(stride: 1)
        case 2: interior(stride: 2)
        default: interior(stride: g.strideW)
        }
    }

    /// Average pooling's backward pass on one plane (zeroed by the caller): each output row's
    /// shares dy / divisor are added to its window, a window row and a window column at a time,
    /// so the inner loop is a strided sweep. Columns go from the window's last offset to its
    /// first, so every input pixel receives its outputs' shares in ascending output order, as
    /// the OpenCL gather adds them.
    private func averagePoolBackwardPlane(_ g: PoolGeometry, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                          includePadding: Bool, shares: UnsafeMutablePointer<Float>) {
        let outW = g.outW
        let (lo, hi) = g.interiorColumns
        for oh in 0..<g.outH {
            let (h0, h1) = g.rows(oh)
            for ow in 0..<outW { shares[ow] = dy[oh &* outW &+ ow] / g.divisor(oh, ow, includePadding: includePadding) }
            for ih in h0..<h1 {
                let rowStart = ih &* g.inW
                @inline(__always) func interior(stride: Int) {
                    let start = rowStart &- g.left
                    for kw in (0..<g.windowW).reversed() {
                        for ow in lo..<hi { dx[start &+ kw &+ ow &* stride] += shares[ow] }
                    }
                }
                // Edge outputs before the interior ones and after: ascending output order.
                for ow in g.edgeColumns where ow < lo {
                    let (w0, w1) = g.columns(ow)
                    for iw in w0..<w1 { dx[rowStart &+ iw] += shares[ow] }
                }
                if lo < hi {
                    switch g.strideW {
                    case 1: interior(stride: 1)
                    case 2: interior(stride: 2)
                    default: interior(stride: g.strideW)
                    }
                }
                for ow in g.edgeColumns where ow >= hi {
                    let (w0, w1) = g.columns(ow)
                    for iw in w0..<w1 { dx[rowStart &+ iw] += shares[ow] }
                }
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
        let lo = min((left + strideW - 1) / strideW, outW)
        let hi = max(inW + left >= windowW ? min(outW, (inW + left - windowW) / strideW + 1) : 0, 0)
        interiorColumns = (lo, hi)
        edgeColumns = Array(0..<lo) + Array(max(hi, lo)..<outW)
    }

    /// The outputs `lo..<hi` along a row whose window needs no clipping to the image.
    let interiorColumns: (Int, Int)
    /// The outputs along a row whose window the image edge clips: those before and after
    /// `interiorColumns`, in ascending order (every output when there is no interior).
    let edgeColumns: [Int]

    var inPlane: Int { inH * inW }
    var outPlane: Int { outH * outW }
    /// Planes per parallel chunk: enough work per chunk to amortize the thread hand-off.
    var planeGrain: Int { max(1, 16_384 / max(1, outPlane * windowH * windowW + inPlane)) }

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

/// One worker's rows of scratch for pooling a plane: a row of values and indices for the window
/// row being merged, the divisors of an average row, and an index row for max pooling whose
/// caller wants no indices.
private struct PoolScratch {
    let values: UnsafeMutablePointer<Float>
    let divisors: UnsafeMutablePointer<Float>
    let indices: UnsafeMutablePointer<Int32>
    let outputIndices: UnsafeMutablePointer<Int32>

    init(width: Int) {
        values = .allocate(capacity: width); divisors = .allocate(capacity: width)
        indices = .allocate(capacity: width); outputIndices = .allocate(capacity: width)
    }

    func deallocate() {
        values.deallocate(); divisors.deallocate(); indices.deallocate(); outputIndices.deallocate()
    }
}

/// Loads and stores of 16 lanes for the pooling loops. A stride-2 load is two vector loads
/// and shuffles; other strides are 16 scalar loads into the lanes, which the compiler emits
/// without a loop once the stride is a constant.
private enum Lanes {
    static let offsets = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, stride: Int) -> SIMD16<Float> {
        if stride == 1 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
        if stride == 2 {
            // Lanes 0–7: the even floats of p[0 ..< 16]; lanes 8–15: the odd lanes of p[15 ..< 31],
            // that is p[16], p[18] … p[30]. Two vector loads and shuffles, nothing read past p[30].
            let low = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
            let high = UnsafeRawPointer(p + 15).loadUnaligned(as: SIMD16<Float>.self)
            return SIMD16(lowHalf: low.evenHalf, highHalf: high.oddHalf)
        }
        var v = SIMD16<Float>()
        for k in 0..<16 { v[k] = p[k &* stride] }
        return v
    }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>, stride: Int) -> SIMD16<Float> { load(UnsafePointer(p), stride: stride) }

    @inline(__always)
    static func loadIndices(_ p: UnsafeMutablePointer<Int32>) -> SIMD16<Int32> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int32>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func storeIndices(_ v: SIMD16<Int32>, _ p: UnsafeMutablePointer<Int32>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Int32>.self)
    }
}
