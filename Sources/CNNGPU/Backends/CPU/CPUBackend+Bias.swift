/// Bias add and the per-axis sum of its gradient.
extension CPUBackend: BiasOps {
    public func encodeAddBias(_ shape: AxisShape, bias: any DeviceBuffer, y: any DeviceBuffer) throws {
        let (axis, inner) = (shape.axis, shape.inner)
        let yp = ptr(y), bp = ptr(bias)
        if inner == 1 {
            // Dense layers: each sample's row gets the whole bias vector, a loop the compiler
            // vectorizes; the general loop below spent an integer division per element here.
            parallelFor(shape.outer, grain: max(1, 16_384 / axis)) { samples in
                for o in samples {
                    let p = yp + o * axis
                    for a in 0..<axis { p[a] += bp[a] }
                }
            }
            return
        }
        parallelFor(shape.outer * axis, grain: max(1, 16_384 / inner)) { rows in
            for row in rows {
                let b = bp[row % axis], p = yp + row * inner
                for i in 0..<inner { p[i] += b }
            }
        }
    }

    /// Sums each contiguous run of `inner` in Float with vector accumulators, and the runs in
    /// Double, so long reductions keep their precision.
    public func encodeReduceSum(_ shape: AxisShape, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        let (outer, axis, inner) = (shape.outer, shape.axis, shape.inner)
        let xp = ptr(x), op = ptr(out)
        if inner == 1 {
            // Dense layers' bias gradient: rows added into Double accumulators in the same order
            // (ascending rows) as the general loop, which made a call and a strided load per element.
            parallelFor(axis, grain: max(1, 32_768 / outer)) { entries in
                let totals = UnsafeMutablePointer<Double>.allocate(capacity: entries.count)
                defer { totals.deallocate() }
                totals.initialize(repeating: 0, count: entries.count)
                for o in 0..<outer {
                    let row = xp + o * axis + entries.lowerBound
                    for k in 0..<entries.count { totals[k] += Double(row[k]) }
                }
                for k in 0..<entries.count { op[entries.lowerBound + k] = Float(totals[k]) }
            }
            return
        }
        parallelFor(axis, grain: max(1, 32_768 / (outer * inner))) { entries in
            for a in entries {
                var total = 0.0
                for o in 0..<outer { total += Double(contiguousSum(xp + (o * axis + a) * inner, inner)) }
                op[a] = Float(total)
            }
        }
    }
}

/// Σ p[0..<n] in two independent 16-lane accumulators: with one 8-lane accumulator each add
/// waited for the previous one, so a conv1-sized plane (784) took about 3× the time its loads
/// need (LeNet's conv1 bias gradient in the step: 18.1 → 13.8 µs at best, 21.0 → 16.5 median).
private func contiguousSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a = SIMD16<Float>(repeating: 0), b = SIMD16<Float>(repeating: 0)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 32 <= n {
        a += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        b += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
        i += 32
    }
    if i + 16 <= n {
        a += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var s = (a + b).sum()
    while i < n { s += p[i]; i += 1 }
    return s
}
