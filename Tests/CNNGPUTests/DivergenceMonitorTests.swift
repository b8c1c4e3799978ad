@testable import CNNGPU
import Foundation
import XCTest

final class DivergenceMonitorTests: XCTestCase {
    func testLossFarAboveTheFirstStopsAndNormalNoiseDoesNot() throws {
        var monitor = DivergenceMonitor()
        // A real run: ln(10) at first, noisy, falling; an early spike to a few times the start is fine.
        for (step, loss) in [2.30, 2.9, 6.5, 1.2, 0.8, 0.9, 0.4].enumerated() {
            XCTAssertNoThrow(try monitor.check(loss: Float(loss), step: step + 1, epoch: 1, lastGoodCheckpoint: nil))
        }
        let url = URL(fileURLWithPath: "/runs/x/checkpoint.safetensors")
        XCTAssertThrowsError(try monitor.check(loss: 2e16, step: 8, epoch: 1, lastGoodCheckpoint: url)) { error in
            guard let stop = error as? TrainingDiverged else { return XCTFail("\(error)") }
            XCTAssertEqual(stop.step, 8)
            XCTAssertEqual(stop.limit, 230, accuracy: 0.01)
            XCTAssertTrue(stop.description.contains("--lr") && stop.description.contains(url.path), stop.description)
        }
    }

    func testASmallFirstLossDoesNotMakeOrdinaryLossesLookDiverged() throws {
        var monitor = DivergenceMonitor()
        try monitor.check(loss: 0.001, step: 1, epoch: 1, lastGoodCheckpoint: nil)   // a resumed, well-trained run
        XCTAssertNoThrow(try monitor.check(loss: 3, step: 2, epoch: 1, lastGoodCheckpoint: nil))
        XCTAssertThrowsError(try monitor.check(loss: 1e6, step: 3, epoch: 1, lastGoodCheckpoint: nil)) { error in
            XCTAssertTrue("\(error)".contains("No checkpoint was saved"), "\(error)")
        }
    }
}
