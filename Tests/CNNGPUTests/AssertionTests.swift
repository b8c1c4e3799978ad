import XCTest

/// The shared closeness check is what every op and model test rests on, so its own failure
/// cases are tested: a NaN or a missing value must never pass.
final class AssertionTests: XCTestCase {
    func testMatchingValuesPass() {
        XCTAssertNil(closenessFailure([1, 2, 3], [1, 2, 3.00001], tolerance: 1e-4))
        XCTAssertNil(closenessFailure([], [], tolerance: 1e-4))
        XCTAssertNil(closenessFailure([.infinity, 1], [.infinity, 1], tolerance: 1e-4))
    }

    func testNaNFails() {
        XCTAssertNotNil(closenessFailure([.nan, .nan], [1, 2], tolerance: 1e-4), "all-NaN output")
        XCTAssertNotNil(closenessFailure([1, .nan, 3], [1, 2, 3], tolerance: 1e-4), "one NaN among good values")
        XCTAssertNotNil(closenessFailure([1, 2], [1, .nan], tolerance: 1e-4), "NaN in the expected values")
        XCTAssertTrue(relativeError([.nan], [1]).isNaN)
    }

    func testCountMismatchFails() {
        let failure = closenessFailure([1, 2], [1, 2, 3], tolerance: 1e-4)
        XCTAssertNotNil(failure)
        XCTAssertTrue(failure?.contains("2 values, expected 3") ?? false, failure ?? "")
        XCTAssertNotNil(closenessFailure([], [1], tolerance: 1e-4))
    }

    func testUnmatchedInfinityAndLargeErrorsFail() {
        XCTAssertNotNil(closenessFailure([.infinity], [1], tolerance: 1e-4))
        XCTAssertNotNil(closenessFailure([1], [.infinity], tolerance: 1e-4))
        XCTAssertNotNil(closenessFailure([1, 2.1], [1, 2], tolerance: 1e-4))
    }

    /// A single output whose terms cancel is judged on the scale of its terms when one is given.
    func testExplicitScale() {
        XCTAssertNotNil(closenessFailure([1.0001e-3], [1e-3], tolerance: 1e-5))
        XCTAssertNil(closenessFailure([1.0001e-3], [1e-3], tolerance: 1e-5, scale: 1))
        XCTAssertNotNil(closenessFailure([1.1e-3], [1e-3], tolerance: 1e-5, scale: 1))
        XCTAssertNotNil(closenessFailure([.nan], [1e-3], tolerance: 1e-5, scale: 1))
    }

    func testFailureNamesTheSeed() {
        let failure = closenessFailure([0], [1], tolerance: 1e-4) ?? ""
        XCTAssertTrue(failure.contains("test seed \(SeededGenerator.sessionSeed)"), failure)
    }

    /// Two generators from one call site differ; the seed of the session decides both.
    func testFreshGeneratorsAreDistinctPerDraw() {
        var seeds: [UInt64] = []
        for _ in 0..<3 { seeds.append(SeededGenerator.fresh().seed) }
        XCTAssertEqual(Set(seeds).count, 3)
    }
}
