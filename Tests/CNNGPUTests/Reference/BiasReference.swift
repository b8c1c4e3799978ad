import CNNGPU

/// Bias add and per-axis sum in Double, by their definitions on `[outer, axis, inner]`.
enum BiasReference {
    static func addBias(_ s: AxisShape, bias: [Double], y: [Double]) -> [Double] {
        var out = y
        for o in 0..<s.outer {
            for a in 0..<s.axis {
                for i in 0..<s.inner { out[(o * s.axis + a) * s.inner + i] += bias[a] }
            }
        }
        return out
    }

    static func reduceSum(_ s: AxisShape, x: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: s.axis)
        for o in 0..<s.outer {
            for a in 0..<s.axis {
                for i in 0..<s.inner { out[a] += x[(o * s.axis + a) * s.inner + i] }
            }
        }
        return out
    }
}
