/// Sizes computed from untrusted input (file headers, command-line flags) with overflow
/// reported as an error instead of a trap: a hostile `[2^32, 2^32]` shape must be refused with
/// a message, not crash the process.
public enum CheckedSize {
    /// The product of `factors`, or nil if it overflows `Int` or a factor is negative.
    public static func product<S: Sequence>(_ factors: S) -> Int? where S.Element == Int {
        var total = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            guard !overflow else { return nil }
            total = p
        }
        return total
    }

    /// The product of `factors`, or an error naming `what` when it overflows or exceeds `limit`.
    public static func product<S: Sequence>(_ factors: S, limit: Int = .max, what: String) throws -> Int where S.Element == Int {
        let list = Array(factors)
        guard let total = product(list), total <= limit else {
            let shown = list.map(String.init).joined(separator: "×")
            throw CNNError.invalidArgument("\(what): \(shown) is too large"
                + (limit == .max ? " (the product overflows 64-bit integers)" : " (more than \(limit))"))
        }
        return total
    }

    /// `value` if it lies in `range`, else an error saying which flag or field is wrong and what is allowed.
    @discardableResult
    public static func inRange(_ value: Int, _ range: ClosedRange<Int>, _ what: String, hint: String = "") throws -> Int {
        guard range.contains(value) else {
            throw CNNError.invalidArgument("\(what) must be between \(range.lowerBound) and \(range.upperBound), got \(value)"
                + (hint.isEmpty ? "" : ". \(hint)"))
        }
        return value
    }
}
