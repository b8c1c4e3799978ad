import CNNGPU
import XCTest

/// Linear warm-up composed with each schedule, as `--warmup-epochs` builds them: the rate climbs
/// to the base over the warm-up, and the schedule starts from its beginning after it.
final class LearningRateScheduleTests: XCTestCase {
    func testWarmupThenEverySchedule() {
        let warmup = 10, total = 50
        let schedules: [(String, LearningRateSchedule.Shape, (Int) -> Double)] = [
            ("constant", .constant, { _ in 0.1 }),
            ("step", .step(everySteps: 15, gamma: 0.5), { s in 0.1 * pow(0.5, Double(s / 15)) }),
            ("cosine", .cosine(totalSteps: total, minimum: 0), { s in 0.05 * (1 + cos(Double.pi * Double(s) / Double(total - warmup))) }),
        ]
        for (name, shape, after) in schedules {
            let schedule = LearningRateSchedule(base: 0.1, shape: shape, warmupSteps: warmup)
            for step in 0..<warmup {
                XCTAssertEqual(Double(schedule.rate(at: step)), 0.1 * Double(step + 1) / Double(warmup), accuracy: 1e-7, "\(name) \(step)")
            }
            for step in warmup..<total {
                XCTAssertEqual(Double(schedule.rate(at: step)), after(step - warmup), accuracy: 1e-7, "\(name) \(step)")
            }
        }
        // The warm-up's last step reaches the base rate exactly: no jump when the schedule takes over.
        XCTAssertEqual(LearningRateSchedule(base: 0.3, shape: .cosine(totalSteps: 40, minimum: 0), warmupSteps: 8).rate(at: 7), 0.3)
    }
}
