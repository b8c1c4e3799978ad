/// Which activation layers a plan folds into the op before them. An activation is fused when
/// it runs in place on its producer's output (its only consumer, and the producer's backward
/// pass does not need its pre-activation output) and the producer can apply it where it writes
/// (`Layer.epilogueFusion`): convolution + bias + activation, batch norm + ReLU, add + ReLU.
/// The fused activation's own forward op disappears; its backward op too when the producer's
/// backward applies it (batch norm + ReLU).
struct FusionDecisions {
    /// Producer node → the activation it applies on its output.
    var epilogue: [Int: Activation] = [:]
    /// Activation nodes whose forward (and backward) pass their producer runs.
    var absorbedForward: Set<Int> = []
    var absorbedBackward: Set<Int> = []
    /// Activation node → its producer, for naming the fused op in profiles.
    var producer: [Int: Int] = [:]
    /// Inference: batch-norm node → the convolution whose weights and bias it is folded into.
    /// The convolution then writes the batch norm's output (and applies its fused activation).
    var foldedInto: [Int: Int] = [:]
    /// Training: max-pool node → the in-place ReLU before it, whose backward pass the pool's
    /// backward applies (`Pool2DDescriptor.masksNonPositiveWinners`).
    var reluMaskingPools: [Int: Int] = [:]

    init() {}

    init(nodes: [Graph.Node], alias: [Int]) {
        for j in nodes.indices where alias[j] != j {
            guard let act = nodes[j].layer as? ActivationLayer else { continue }
            let i = alias[j]
            guard i > 0, alias[i] == i, epilogue[i] == nil, let producer = nodes[i].layer else { continue }
            switch producer.epilogueFusion(act.function) {
            case .none: continue
            case .forward:
                absorbedForward.insert(j)
            case .forwardAndBackward:
                absorbedForward.insert(j)
                absorbedBackward.insert(j)
            }
            epilogue[i] = act.function
            self.producer[j] = i
        }
    }
}

extension FusionDecisions {
    /// In inference, a batch norm right after a convolution (its only reader) is an affine map
    /// per output channel, so it folds into the convolution's weights and bias:
    /// w' = w·γ/√(var+ε), b' = (b − mean)·γ/√(var+ε) + β.
    mutating func foldBatchNorms(nodes: [Graph.Node], consumers: [Int: [Int]], retained: Set<String>) {
        for j in nodes.indices where nodes[j].layer is BatchNorm {
            let i = nodes[j].inputs[0]
            guard i > 0, nodes[i].layer is Conv2D, consumers[i] == [j], epilogue[i] == nil,
                  !retained.contains(nodes[i].name), !retained.contains(nodes[j].name) else { continue }
            foldedInto[j] = i
            absorbedForward.insert(j)
        }
    }
}

extension FusionDecisions {
    /// conv → ReLU → max-pool: the pool's gradient lands only on each window's maximum, where
    /// ReLU's mask is "maximum > 0", so the pool's backward can write ReLU's input gradient
    /// directly and ReLU's backward op (a pass over the whole pre-pool tensor) disappears.
    /// Applies when the ReLU runs in place (its input gradient is its output gradient's buffer)
    /// and the pool is its only reader (no other gradient adds in before the mask).
    mutating func foldReLUBackwardsIntoMaxPools(nodes: [Graph.Node], consumers: [Int: [Int]], alias: [Int]) {
        for k in nodes.indices {
            guard let pool = nodes[k].layer as? Pool2D, pool.mode == .max else { continue }
            let j = nodes[k].inputs[0]
            guard j > 0, alias[j] != j, consumers[j] == [k], !absorbedBackward.contains(j),
                  let relu = nodes[j].layer as? ActivationLayer, relu.function == .relu else { continue }
            reluMaskingPools[k] = j
            absorbedBackward.insert(j)
        }
    }
}

extension Activation {
    /// The lower-case name used in fused op kinds ("conv2d+bias+relu").
    var opName: String {
        switch self {
        case .relu: return "relu"
        case .leakyReLU: return "leakyrelu"
        case .elu: return "elu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        }
    }
}
