import XCTest
import CNNGPU

/// Relative error of `actual` against `expected`: the largest absolute difference divided by
/// `scale`, by default the largest magnitude in `expected` (a norm-wise measure, robust where
/// some sums cancel). Where every output may cancel (a single output of a few terms), pass the
/// largest sum of the terms' magnitudes, the scale float rounding works at. Any NaN on either
/// side makes it NaN, so no comparison against it passes.
func relativeError(_ actual: [Float], _ expected: [Double], scale: Double? = nil) -> Double {
    precondition(actual.count == expected.count, "size mismatch: \(actual.count) vs \(expected.count)")
    var diff = 0.0, largest = 0.0
    for (a, e) in zip(actual, expected) {
        let d = abs(Double(a) - e)
        // `max(x, .nan)` is `x`: NaN must be carried explicitly or it vanishes.
        if d.isNaN { return .nan }
        diff = max(diff, d)
        largest = max(largest, abs(e))
    }
    return diff / max(scale ?? largest, 1e-12)
}

/// Why `actual` does not match `expected` to `tolerance` relative error (see `relativeError`),
/// or nil when it does. A count mismatch, a NaN anywhere, or an infinity that is not matched
/// exactly is a mismatch. The seed of the shared test generator goes into the message so the
/// failure can be replayed (`CNNGPU_TEST_SEED`).
func closenessFailure(_ actual: [Float], _ expected: [Double], tolerance: Double, scale: Double? = nil) -> String? {
    let seed = "(test seed \(SeededGenerator.sessionSeed))"
    guard actual.count == expected.count else {
        return "\(actual.count) values, expected \(expected.count) \(seed)"
    }
    if let i = actual.indices.first(where: { actual[$0].isNaN || expected[$0].isNaN }) {
        return "NaN at [\(i)]: got \(actual[i]), expected \(expected[i]) \(seed)"
    }
    if let i = actual.indices.first(where: {
        (actual[$0].isInfinite || expected[$0].isInfinite) && Double(actual[$0]) != expected[$0]
    }) {
        return "infinity at [\(i)]: got \(actual[i]), expected \(expected[i]) \(seed)"
    }
    let finite = zip(actual, expected).filter { !$0.1.isInfinite }
    let err = relativeError(finite.map(\.0), finite.map(\.1), scale: scale)
    guard err > tolerance else { return nil }
    let worst = finite.enumerated().max { abs(Double($0.1.0) - $0.1.1) < abs(Double($1.1.0) - $1.1.1) }!
    return "relative error \(err) > \(tolerance); worst at [\(worst.offset)]: "
        + "got \(worst.element.0), expected \(worst.element.1) \(seed)"
}

/// Fails unless `actual` matches `expected` to `tolerance` relative error (see
/// `closenessFailure`: NaNs and count mismatches fail).
func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double = 1e-4, scale: Double? = nil,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    if let failure = closenessFailure(actual, expected, tolerance: tolerance, scale: scale) {
        XCTFail("\(message()): \(failure)", file: file, line: line)
    }
}

func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Double = 1e-4, scale: Double? = nil,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual, expected.map(Double.init), tolerance: tolerance, scale: scale, message(), file: file, line: line)
}

/// Fails unless `body` throws a `CNNError` (any case); returns its description for further checks.
@discardableResult
func assertThrowsCNNError(_ body: () throws -> Void, _ message: String = "",
                          file: StaticString = #filePath, line: UInt = #line) -> String? {
    do {
        try body()
        XCTFail("expected a CNNError: \(message)", file: file, line: line)
        return nil
    } catch let error as CNNError {
        return error.description
    } catch {
        XCTFail("expected a CNNError, got \(error): \(message)", file: file, line: line)
        return nil
    }
}

/// Fails unless `values` look drawn with mean 0 and standard deviation `std`: the mean within
/// four standard errors of 0, the deviation within `tolerance` of `std` (relative).
func assertZeroMeanDeviation(_ values: [Float], _ std: Double, tolerance: Double = 0.05,
                             _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    let n = Double(values.count)
    let mean = values.reduce(0.0) { $0 + Double($1) } / n
    let deviation = (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
    XCTAssertLessThan(abs(mean), 4 * std / n.squareRoot(), "\(message()): mean", file: file, line: line)
    XCTAssertEqual(deviation, std, accuracy: tolerance * std, "\(message()): standard deviation", file: file, line: line)
}

/// Fails unless `values` lie in [−bound, bound] and fill it as U(−bound, bound) does: with many
/// values, a deviation of bound/√3; with a few, at least one beyond half the bound.
func assertUniform(_ values: [Float], bound: Double, _ message: @autoclosure () -> String = "",
                   file: StaticString = #filePath, line: UInt = #line) {
    let largest = values.map(abs).max() ?? 0
    XCTAssertLessThanOrEqual(largest, Float(bound), "\(message()): beyond the bound", file: file, line: line)
    if values.count >= 1000 {
        assertZeroMeanDeviation(values, bound / 3.0.squareRoot(), message(), file: file, line: line)
    } else {
        XCTAssertGreaterThan(largest, Float(bound / 2), "\(message()): too narrow", file: file, line: line)
    }
}
