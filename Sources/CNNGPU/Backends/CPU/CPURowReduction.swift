/// Sums over contiguous rows for the CPU backend's reductions (global pooling, softmax). Each
/// block of `blockLength` elements is summed in 16 Float lanes (so the loop vectorizes) and
/// blocks are added in Double, which keeps the error of long rows (large H·W) small.
enum RowReduction {
    static let blockLength = 4096

    /// Σ p[i].
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        reduce(n) { i in load(p, i) } tail: { i in p[i] }
    }

    /// Σ a[i] · (b[i] − mean).
    static func productWithDeviations(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int,
                                      mean: Float) -> Double {
        let m = SIMD16<Float>(repeating: mean)
        return reduce(n) { i in load(a, i) * (load(b, i) - m) } tail: { i in a[i] * (b[i] - mean) }
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    private static func reduce(_ n: Int, _ lanes: (Int) -> SIMD16<Float>, tail: (Int) -> Float) -> Double {
        var total = 0.0
        var start = 0
        while start < n {
            let end = min(n, start + blockLength)
            var acc = SIMD16<Float>(repeating: 0)
            var i = start
            while i + 16 <= end { acc += lanes(i); i += 16 }
            var block = acc.sum()
            while i < end { block += tail(i); i += 1 }
            total += Double(block)
            start = end
        }
        return total
    }
}
