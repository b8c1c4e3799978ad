/// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: 6c5 → pool → 16c5 → pool → 120 →
/// 84 → classes. On 28×28 inputs the first convolution pads by 2, so the classic 32×32
/// geometry (and its 61,706 parameters for 10 classes) is kept.
public func LeNet5(input: TensorShape = [1, 28, 28], classes: Int = 10) throws -> Graph {
    let padding: PaddingMode = input.dims.count == 3 && input.dims[1] == 28 ? .same : .valid
    return try Sequential(input: input) {
        Conv2D(6, kernel: 5, padding: padding); ReLU(); MaxPool2D(2)
        Conv2D(16, kernel: 5); ReLU(); MaxPool2D(2)
        Flatten()
        Dense(120); ReLU()
        Dense(84); ReLU()
        Dense(classes)
    }
}

/// The Keras example "CNN inspired by LeNet-5" for MNIST: 32c3 → 64c3 → maxpool → dropout →
/// 128 → dropout → classes (1,199,882 parameters on 28×28×1).
public func LeNet5Keras(input: TensorShape = [1, 28, 28], classes: Int = 10) throws -> Graph {
    try Sequential(input: input) {
        Conv2D(32, kernel: 3); ReLU()
        Conv2D(64, kernel: 3); ReLU()
        MaxPool2D(2)
        Dropout(0.25)
        Flatten()
        Dense(128); ReLU()
        Dropout(0.5)
        Dense(classes)
    }
}
