/// Checks for batch normalization and LRN beyond the shared ones.
extension OpValidation {
    func batchNorm(_ op: String, _ s: AxisShape, full: KeyValuePairs<String, any DeviceBuffer>,
                   perChannel: KeyValuePairs<String, any DeviceBuffer>, epsilon: Float? = nil,
                   momentum: Float? = nil) throws {
        try axis(op, s, full: full, perAxis: perChannel)
        if let epsilon, !(epsilon >= 0 && epsilon.isFinite) {
            throw CNNError.invalidArgument("\(op): epsilon must be a finite value ≥ 0, got \(epsilon)")
        }
        if let momentum {
            guard momentum >= 0, momentum <= 1 else {
                throw CNNError.invalidArgument("\(op): momentum must be in [0, 1], got \(momentum)")
            }
            // The unbiased variance of the running statistics divides by M − 1 (as PyTorch,
            // which refuses "more than 1 value per channel" too).
            guard s.outer * s.inner > 1 else {
                throw CNNError.invalidShape(op: op, detail: "training needs more than 1 value per channel, "
                    + "got batch \(s.outer) × \(s.inner) per channel; use a larger batch or inference mode")
            }
        }
    }

    func lrnParameters(_ p: LRNParameters, _ op: String) throws {
        guard p.alpha.isFinite, p.beta.isFinite, p.k.isFinite else {
            throw CNNError.invalidArgument("\(op): alpha, beta and k must be finite, got \(p)")
        }
    }
}
