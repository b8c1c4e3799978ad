import Foundation

/// Optimizer updates from `Kernels/optimizer.cl`, in place, one work-item per parameter.
extension OpenCLBackend: OptimizerOps {
    public func sgdUpdate(_ p: SGDParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                          velocity: (any DeviceBuffer)?) throws {
        try validate.sgdUpdate(p, count: count, weights: weights, gradients: gradients, velocity: velocity)
        try validate.int32Indexable("sgd_update", ["count": count])
        if p.momentum > 0, let velocity {
            try launch("optimizer", "sgd_momentum_update", global: [count],
                       [.int(count), .float(p.learningRate), .float(p.momentum), .float(1 - p.dampening),
                        .float(p.weightDecay), .int(p.nesterov ? 1 : 0), .buffer(weights), .buffer(gradients),
                        .buffer(velocity)])
        } else {
            try launch("optimizer", "sgd_update", global: [count],
                       [.int(count), .float(p.learningRate), .float(p.weightDecay), .buffer(weights),
                        .buffer(gradients)])
        }
    }

    public func adamUpdate(_ p: AdamParameters, count: Int, weights: any DeviceBuffer, gradients: any DeviceBuffer,
                           m: any DeviceBuffer, v: any DeviceBuffer) throws {
        try validate.adamUpdate(p, count: count, weights: weights, gradients: gradients, m: m, v: v)
        try validate.int32Indexable("adam_update", ["count": count])
        let c = AdamCoefficients(p)
        try launch("optimizer", "adam_update", global: [count],
                   [.int(count), .float(p.beta1), .float(p.beta2), .float(p.epsilon), .float(c.stepSize),
                    .float(c.invSqrtBias2), .float(c.l2), .float(c.shrink), .buffer(weights), .buffer(gradients),
                    .buffer(m), .buffer(v)])
    }
}
