// swift-tools-version: 6.0
import PackageDescription

// How another package uses CNNGPU: this folder is a package of its own that depends on the
// repository above it by path. `name:` fixes the dependency's identity as "cnn-gpu" whatever
// the checkout's folder is called (a path dependency is otherwise named after its folder).
let package = Package(
    name: "cnn-gpu-examples",
    dependencies: [.package(name: "cnn-gpu", path: "..")],
    targets: [
        .executableTarget(name: "ResidualFashionMNIST", dependencies: [.product(name: "CNNGPU", package: "cnn-gpu")]),
    ]
)
