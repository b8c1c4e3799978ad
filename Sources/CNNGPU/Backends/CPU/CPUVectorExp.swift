/// exp on 16 floats at once, for the CPU backend's softmax: Swift's `exp` is a scalar libm
/// call per element, which kept a 512×1000 softmax at 1.2 GB/s. Cephes' expf: e^x = 2^n·e^r
/// with n = round(x·log2 e) and |r| ≤ ln 2 / 2, e^r from a degree-7 polynomial (within 2 ulp of
/// libm over the normal floats). Inputs below −87.3 (where e^x leaves the normal floats) give 0,
/// above 88.3 +∞ (e^x itself overflows from 88.72; softmax only passes x ≤ 0), and NaN stays NaN.
enum VectorExp {
    static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var clamped = x
        clamped.replace(with: -87.3, where: x .< -87.3)
        clamped.replace(with: 88.3, where: x .> 88.3)
        // Round to nearest by adding and removing 1.5·2²³ (SSE2 has no rounding instruction, and
        // SIMD's `rounded` became a call per lane): the sum's low mantissa bits hold the integer.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        // ln 2 split in two so that n·ln 2 is subtracted without rounding away r's low bits.
        var r = clamped - n * 0.693_359_375
        r = r + n * 2.121_944_40e-4
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_91e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * (r * r) + r + 1
        // 2^n built from its exponent bits; n ∈ [−126, 127] after the clamp.
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD16<Float>.self)
        var result = p * scale
        result.replace(with: 0, where: x .< -87.3)
        result.replace(with: Float.infinity, where: x .> 88.3)
        result.replace(with: x, where: x .!= x)
        return result
    }

    /// Σ e^(x[i] − shift) over n floats, storing each term in y when y is given.
    static func sumOfExponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float,
                                  storingInto y: UnsafeMutablePointer<Float>?) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            let e = exp(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - shift)
            if let y { UnsafeMutableRawPointer(y + i).storeBytes(of: e, as: SIMD16<Float>.self) }
            acc += e
            i += 16
        }
        if i < n {
            // The tail through one padded vector, so it gets the same formula as the rest.
            var v = SIMD16<Float>(repeating: -.infinity)
            for k in 0..<(n - i) { v[k] = x[i + k] - shift }
            let e = exp(v)
            for k in 0..<(n - i) { y?[i + k] = e[k] }
            acc += e
        }
        return acc.sum()
    }

    /// The largest of n ≥ 1 floats (NaNs ignored unless x[0] is one, as a scalar scan).
    static func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = x[0]
        var i = 1
        if n >= 17 {
            var lanes = UnsafeRawPointer(x + 1).loadUnaligned(as: SIMD16<Float>.self)
            i = 17
            while i + 16 <= n {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
                lanes.replace(with: v, where: v .> lanes)
                i += 16
            }
            for k in 0..<16 where lanes[k] > m { m = lanes[k] }
        }
        while i < n { if x[i] > m { m = x[i] }; i += 1 }
        return m
    }
}
