import CCPUKernels

/// Pooling on the host, parallel over the N·C planes, the 2-D windows in Sources/CCPUKernels/
/// pooling.c. Within a plane the backward passes add each output's gradient into its window in
/// a fixed order (average pooling's grouped by output row, max pooling's by passes of
/// non-overlapping windows of each output row), so the results do not change from run to run.
/// Adaptive pooling's backward is a gather, as its OpenCL kernel is, and adds the same
/// dy / window-size terms in the same order.
extension CPUBackend: PoolingOps {
    /// Max and average pooling forward run in Sources/CCPUKernels/pooling.c (16 outputs in vector
    /// lanes, AVX-512, AVX2 or baseline code as the processor allows), whole planes per worker.
    public func encodePoolingForward(_ d: Pool2DDescriptor, x: any DeviceBuffer, y: any DeviceBuffer,
                                     indices: (any DeviceBuffer)?) throws {
        let g = PoolGeometry(d)
        let xp = ptr(x), yp = ptr(y), ip = indices.map(intPtr)
        let mode = d.mode, geometry = g.kernelGeometry, masks = d.masksNonPositiveWinners
        let scratchCount = withUnsafePointer(to: geometry) { cnn_pool_scratch_floats($0) }
        parallelFor(d.batch * d.channels, grain: g.planeGrain) { planes in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            let first = planes.lowerBound, count = planes.count
            let x = xp + first * g.inPlane, y = yp + first * g.outPlane
            withUnsafePointer(to: geometry) { geometry in
                if mode == .max, masks, let ip {
                    cnn_max_pool_forward_masking_non_positive(geometry, x, y, ip + first * g.outPlane, count, scratch)
                } else if mode == .max {
                    cnn_max_pool_forward(geometry, x, y, ip.map { $0 + first * g.outPlane }, count, scratch)
                } else {
                    cnn_average_pool_forward(geometry, x, y, mode == .averageIncludingPadding ? 1 : 0, count, scratch)
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
        let includePadding: Int32 = d.mode == .averageIncludingPadding ? 1 : 0, geometry = g.kernelGeometry
        let scratchCount = withUnsafePointer(to: geometry) { cnn_average_pool_backward_scratch_floats($0) }
        let small2x2 = withUnsafePointer(to: geometry) { cnn_max_pool_small_2x2_applies($0) != 0 }
        parallelFor(d.batch * d.channels, grain: g.planeGrain) { planes in
            let first = planes.lowerBound, dy = dyp + first * g.outPlane, dx = dxp + first * g.inPlane
            if let ip, small2x2 {
                withUnsafePointer(to: geometry) {
                    cnn_max_pool_backward_small_2x2($0, dy, ip + first * g.outPlane, dx, planes.count)
                }
                return
            }
            if let ip {
                withUnsafePointer(to: geometry) { cnn_max_pool_backward($0, dy, ip + first * g.outPlane, dx, planes.count) }
                return
            }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            withUnsafePointer(to: geometry) { cnn_average_pool_backward($0, dy, dx, includePadding, planes.count, scratch) }
        }
    }

    public func encodeGlobalAveragePoolForward(planes: Int, spatial: Int, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y)
        // Sources/CCPUKernels/global_average_pool.c: RowReduction's blocks, 16 lanes summed in
        // four shuffles, in AVX-512, AVX2 or SSE2 (RowReduction here, SSE2 only: half the speed).
        parallelFor(planes, grain: max(1, 16_384 / spatial)) { range in
            cnn_global_average_pool_forward(xp + range.lowerBound * spatial, yp + range.lowerBound, range.count, spatial)
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

/// A pooling descriptor's sizes as plain integers.
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
    var outPlane: Int { outH * outW }

    /// The geometry as Sources/CCPUKernels/pooling.c takes it.
    var kernelGeometry: cnn_pool_geometry {
        cnn_pool_geometry(inH: inH, inW: inW, outH: outH, outW: outW, windowH: windowH, windowW: windowW,
                          strideH: strideH, strideW: strideW, top: top, left: left, bottom: bottom, right: right)
    }

    /// Planes per parallel chunk: enough work per chunk to amortize the thread hand-off.
    var planeGrain: Int { max(1, 16_384 / max(1, outPlane * windowH * windowW + inPlane)) }
}
