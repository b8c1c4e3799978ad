/// Dropout and element-wise arithmetic on the host: one flat loop per op, split into
/// contiguous chunks across the workers. Outputs may alias inputs (each element is read
/// before it is written).
extension CPUBackend: ElementwiseOps {
    public func dropoutForward(count: Int, probability: Float, seed: UInt64, x: any DeviceBuffer,
                               y: any DeviceBuffer, mask: any DeviceBuffer) throws {
        try validate.dropout(count: count, probability: probability, ["x": x, "y": y, "mask": mask])
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

    public func add(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.elementwise("add", count: count, ["a": a, "b": b, "out": out])
        let ap = ptr(a), bp = ptr(b), op = ptr(out)
        parallelFor(count, grain: 32_768) { r in for i in r { op[i] = ap[i] + bp[i] } }
    }

    public func multiply(count: Int, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.elementwise("multiply", count: count, ["a": a, "b": b, "out": out])
        let ap = ptr(a), bp = ptr(b), op = ptr(out)
        parallelFor(count, grain: 32_768) { r in for i in r { op[i] = ap[i] * bp[i] } }
    }

    public func scale(count: Int, alpha: Float, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        try validate.elementwise("scale", count: count, ["x": x, "out": out])
        let xp = ptr(x), op = ptr(out)
        parallelFor(count, grain: 32_768) { r in for i in r { op[i] = alpha * xp[i] } }
    }

    public func axpy(count: Int, alpha: Float, x: any DeviceBuffer, y: any DeviceBuffer) throws {
        try validate.elementwise("axpy", count: count, ["x": x, "y": y])
        let xp = ptr(x), yp = ptr(y)
        parallelFor(count, grain: 32_768) { r in for i in r { yp[i] += alpha * xp[i] } }
    }
}
