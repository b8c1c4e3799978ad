/// Building blocks the zoo's DAG models share, named as torchvision names its modules so a
/// model's parameters come out as torchvision's `state_dict` keys.
extension GraphBuilder {
    /// A bias-free convolution whose weight starts as `weights`, and its batch norm (γ 1, β 0),
    /// nodes named `conv` and `bn`.
    func convBatchNorm(_ x: NodeID, _ filters: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                       epsilon: Float = 1e-5, weights: Initializer, conv: String, bn: String) -> NodeID {
        let c = add(Conv2D(filters, kernel: kernel, stride: stride, padding: .explicit(Padding2D(padding)), bias: false,
                           weightInitializer: weights), x, name: conv)
        return add(BatchNorm(epsilon: epsilon), c, name: bn)
    }
}

/// Re-throws a model's build error with the input sizes the model accepts.
func withInputSizeHint<T>(_ hint: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch CNNError.invalidModel(let message) {
        throw CNNError.invalidModel(message + ". " + hint)
    }
}
