/// Dropout and element-wise arithmetic on the host: one flat loop per op, split into
/// contiguous chunks across the workers. Outputs may alias inputs (each element is read
/// before it is written).
extension CPUBackend: ElementwiseOps {
    public func encodeDropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                                     y: any DeviceBuffer, mask: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y), mp = ptr(mask)
        // Same Float expression as the OpenCL host code, so the kept values match bit for bit.
        let keep: Float = 1 / (1 - probability)
        parallelFor(count, grain: 16_384) { r in
            for i in r {
                let m: Float = CounterRandom.uniform(seed: seed, index: i) >= probability ? keep : 0
                mp[i] = m
                yp[i] = xp[i] * m
            }
        }
    }

    /// The activation runs on each chunk right after its sum, while the chunk is in cache.
    public func encodeAdd(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer,
                          activation: Activation?) throws {
        let ap = ptr(a), bp = ptr(b), op = ptr(out)
        parallelFor(count, grain: 32_768) { r in
            var lo = r.lowerBound
            while lo < r.upperBound {
                let hi = min(r.upperBound, lo + 4096)
                for i in lo..<hi { op[i] = ap[i] + bp[i] }
                activation?.apply(op + lo, op + lo, hi - lo)
                lo = hi
            }
        }
    }

    public func encodeMultiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        let ap = ptr(a), bp = ptr(b), op = ptr(out)
        parallelFor(count, grain: 32_768) { r in for i in r { op[i] = ap[i] * bp[i] } }
    }

    public func encodeScale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        let xp = ptr(x), op = ptr(out)
        parallelFor(count, grain: 32_768) { r in for i in r { op[i] = alpha * xp[i] } }
    }

    public func encodeAxpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        let xp = ptr(x), yp = ptr(y)
        parallelFor(count, grain: 32_768) { r in for i in r { yp[i] += alpha * xp[i] } }
    }
}
