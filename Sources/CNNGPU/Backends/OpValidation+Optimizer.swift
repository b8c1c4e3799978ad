/// Argument checks of the optimizer updates (`OptimizerOps`), shared by every backend. The
/// hyper-parameter ranges are PyTorch's, so a configuration PyTorch rejects is rejected here.
extension OpValidation {
    func sgdUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                   velocity: (any DeviceBuffer)?) throws {
        let op = "sgd_update"
        try nonNegative(op, ["learningRate": p.learningRate, "momentum": p.momentum, "weightDecay": p.weightDecay])
        guard p.dampening.isFinite else {
            throw CNNError.invalidArgument("\(op): dampening must be finite, got \(p.dampening)")
        }
        if p.nesterov, p.momentum <= 0 || p.dampening != 0 {
            throw CNNError.invalidArgument("\(op): Nesterov momentum needs momentum > 0 and dampening 0 "
                + "(got momentum \(p.momentum), dampening \(p.dampening))")
        }
        try elementwise(op, count: count, ["weights": weights, "gradients": gradients])
        if let velocity {
            try buffer(velocity, op, "velocity", count: count)
        } else if p.momentum > 0 {
            throw CNNError.invalidArgument("\(op): momentum \(p.momentum) needs a velocity buffer of \(count) "
                + "elements (allocate it once per parameter, zero-filled, and pass it on every step)")
        }
    }

    func adamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                    m: any DeviceBuffer, v: any DeviceBuffer) throws {
        let op = "adam_update"
        guard p.step >= 1 else {
            throw CNNError.invalidArgument("\(op): step is 1-based (the number of updates including this one), got \(p.step)")
        }
        try nonNegative(op, ["learningRate": p.learningRate, "epsilon": p.epsilon, "weightDecay": p.weightDecay])
        for (name, beta) in [("beta1", p.beta1), ("beta2", p.beta2)] where !(beta >= 0 && beta < 1) {
            throw CNNError.invalidArgument("\(op): \(name) must be in [0, 1), got \(beta)")
        }
        try elementwise(op, count: count, ["weights": weights, "gradients": gradients, "m": m, "v": v])
    }

    func rmspropUpdate(_ p: RMSpropParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                       square: any DeviceBuffer, momentum: (any DeviceBuffer)?) throws {
        let op = "rmsprop_update"
        try nonNegative(op, ["learningRate": p.learningRate, "alpha": p.alpha, "epsilon": p.epsilon,
                             "momentum": p.momentum, "weightDecay": p.weightDecay])
        guard p.alpha <= 1 else { throw CNNError.invalidArgument("\(op): alpha must be in [0, 1], got \(p.alpha)") }
        try elementwise(op, count: count, ["weights": weights, "gradients": gradients, "square": square])
        if let momentum {
            try buffer(momentum, op, "momentum", count: count)
        } else if p.momentum > 0 {
            throw CNNError.invalidArgument("\(op): momentum \(p.momentum) needs a momentum buffer of \(count) "
                + "elements (allocate it once per parameter, zero-filled, and pass it on every step)")
        }
    }

    private func nonNegative(_ op: String, _ values: KeyValuePairs<String, Float>) throws {
        for (name, x) in values where !(x >= 0 && x.isFinite) {
            throw CNNError.invalidArgument("\(op): \(name) must be a finite number ≥ 0, got \(x)")
        }
    }
}
