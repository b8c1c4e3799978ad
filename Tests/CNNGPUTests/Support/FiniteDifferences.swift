/// Gradient of the scalar `Σ_j weights[j] · f(x)[j]` with respect to `x`, by central
/// differences in Double. With `weights` as the upstream gradient `dy`, this is what an op's
/// backward pass must return as `dx`.
func finiteDifferenceGradient(at x: [Double], weights: [Double], step: Double = 1e-5,
                              _ f: ([Double]) -> [Double]) -> [Double] {
    var point = x
    return (0..<x.count).map { i in
        let saved = point[i]
        point[i] = saved + step
        let plus = zip(f(point), weights).reduce(0) { $0 + $1.0 * $1.1 }
        point[i] = saved - step
        let minus = zip(f(point), weights).reduce(0) { $0 + $1.0 * $1.1 }
        point[i] = saved
        return (plus - minus) / (2 * step)
    }
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}
