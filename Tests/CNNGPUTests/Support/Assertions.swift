import XCTest
import CNNGPU

/// Relative error of `actual` against `expected`: the largest absolute difference divided by
/// the largest magnitude in `expected` (a norm-wise measure, robust where sums cancel).
func relativeError(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count, "size mismatch: \(actual.count) vs \(expected.count)")
    var diff = 0.0, scale = 0.0
    for (a, e) in zip(actual, expected) {
        diff = max(diff, abs(Double(a) - e))
        scale = max(scale, abs(e))
    }
    return diff / max(scale, 1e-12)
}

/// Fails unless `actual` matches `expected` to `tolerance` relative error (see `relativeError`).
func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double = 1e-4,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(message()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    let err = relativeError(actual, expected)
    if !(err <= tolerance) {
        let worst = zip(actual, expected).enumerated().max { abs(Double($0.1.0) - $0.1.1) < abs(Double($1.1.0) - $1.1.1) }!
        XCTFail("\(message()): relative error \(err) > \(tolerance); worst at [\(worst.offset)]: "
            + "got \(worst.element.0), expected \(worst.element.1)", file: file, line: line)
    }
}

func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Double = 1e-4,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual, expected.map(Double.init), tolerance: tolerance, message(), file: file, line: line)
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
