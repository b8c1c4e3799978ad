import Foundation

/// A linear chart axis whose ends and ticks fall on round values: steps of 1, 2 or 5 × 10^k,
/// about `target` of them (the training curves and the benchmark chart share it).
struct ChartAxis {
    let lo: Double, hi: Double, step: Double
    let ticks: [Double]

    init(lo: Double, hi: Double, integer: Bool, target: Int = 5) {
        var lo = lo.isFinite ? lo : 0, hi = hi.isFinite ? hi : 1
        if hi - lo < 1e-12 { (lo, hi) = (lo - max(abs(lo) * 0.1, 0.5), hi + max(abs(hi) * 0.1, 0.5)) }
        var step = ChartAxis.roundStep((hi - lo) / Double(target))
        if integer { step = max(1, step.rounded()) }
        let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
        let count = Int(((last - first) / step).rounded())
        self.step = step
        self.lo = first
        self.hi = last
        ticks = (0...count).map { first + Double($0) * step }
    }

    /// The smallest of 1, 2, 5 × 10^k at least `raw`.
    static func roundStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * magnitude >= raw * (1 - 1e-9) { return m * magnitude }
        return 10 * magnitude
    }

    /// A tick value as a person writes it: 0.2, 0.05, 1.5e-05, 120 (rounded to the step first,
    /// so float noise never shows as 0.30000000000000004).
    func label(_ v: Double) -> String {
        String(format: "%g", (v / step).rounded() * step + 0)
    }
}

/// A log-scale axis from the power of ten at or below the smallest value to the one at or above
/// the largest, a tick at each power: for values that span orders of magnitude.
struct LogChartAxis {
    let lo: Double, hi: Double
    let ticks: [Double]

    init(lo: Double, hi: Double) {
        let a = floor(log10(max(lo, 1e-30))), b = max(ceil(log10(max(hi, 1e-30))), a + 1)
        self.lo = pow(10, a); self.hi = pow(10, b)
        ticks = (0...Int(b - a)).map { pow(10, a + Double($0)) }
    }

    /// Where `v` falls, from 0 (lo) to 1 (hi).
    func position(_ v: Double) -> Double { (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) }

    func label(_ v: Double) -> String { String(format: "%g", v) }
}
