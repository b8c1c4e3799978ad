@testable import CNNGPU
import Foundation
import XCTest

/// Seeded mutation fuzzing of every parser, deterministic so it runs in CI: each target gets
/// `iterations` mutated inputs (1–4 stacked byte mutations of its seeds). A parser passes by
/// parsing or throwing; a trap ends the test process, and the target and iteration printed
/// last replay it. `scripts/fuzz.sh` runs the same parsers under libFuzzer for longer searches.
final class FuzzTests: XCTestCase {
    /// Per target; a few seconds for all seven. Longer local runs:
    /// `scripts/fuzz.sh` (libFuzzer), or raise this number.
    static let iterations = 10_000

    func testEveryParserSurvivesMutatedInputs() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-fuzz-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Mutated image headers may claim up to the default limit (537 MB); a small cap keeps
        // the run light while still exercising the refusal.
        let savedLimit = ImageDecoder.maxPixels
        ImageDecoder.maxPixels = 1 << 20
        defer { ImageDecoder.maxPixels = savedLimit }

        for (t, target) in try FuzzTarget.all(scratch: scratch).enumerated() {
            var mutator = SeededMutator(seed: 0xF022 + UInt64(t))
            var accepted = 0, refused = 0
            for seed in target.seeds { try target.run(seed) }   // the seeds themselves must parse
            for i in 0..<FuzzTests.iterations {
                let input = mutator.mutate(target.seeds[i % target.seeds.count])
                do { try target.run(input); accepted += 1 } catch let error as CNNError {
                    XCTAssertFalse(error.description.isEmpty, "\(target.name) #\(i): an empty message")
                    refused += 1
                } catch {
                    XCTFail("\(target.name) #\(i): an untyped error \(error)")
                }
            }
            print("fuzz \(target.name): \(FuzzTests.iterations) inputs, \(accepted) accepted, \(refused) refused with a message")
        }
    }
}
