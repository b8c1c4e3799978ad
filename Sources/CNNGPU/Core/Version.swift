/// The library's version, the one place it is written: `cnn-gpu --version` prints it and
/// benchmark results record it. Semantic versioning, as SwiftPM resolves dependencies by it.
public enum CNNGPUVersion {
    public static let string = "0.3.0"
}
