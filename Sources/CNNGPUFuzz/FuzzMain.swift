// libFuzzer targets for every parser that reads outside data (scripts/fuzz.sh builds and runs
// them). Built normally (without -DLIBFUZZER) the same binary replays inputs, to reproduce a
// crash libFuzzer found, and writes the seed corpus:
//
//     cnn-gpu-fuzz TARGET FILE...        run each FILE through TARGET
//     cnn-gpu-fuzz --seeds DIR           write seeds to DIR/TARGET/
import CImageCodecs
import CNNGPU
import Foundation

enum FuzzTargets {
    static let names = ["idx", "gzip", "cifar10", "safetensors", "checkpoint", "jpeg", "png"]

    /// A per-process folder for writing the checkpoint seed.
    static let scratch: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnn-gpu-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Feeds one input to `target`. Throwing is a pass; only a trap or a memory error is a bug.
    static func run(_ target: String, _ bytes: [UInt8]) {
        do {
            switch target {
            case "idx", "gzip":
                _ = try IDXFile(parsing: bytes, magic: bytes.count > 3 && bytes[3] == 1 ? IDXFile.labelsMagic : IDXFile.imagesMagic,
                                source: "fuzz")
            case "cifar10":
                _ = try CIFAR10.decode(bytes, source: "fuzz")
            case "safetensors":
                _ = try SafeTensors.decode(Data(bytes), source: "fuzz")
            case "checkpoint":
                let c = try Checkpoint.decode(Data(bytes), source: "fuzz")
                try Checkpoint.validateCounters(epochsCompleted: c.epochsCompleted, step: c.step, stepsPerEpoch: 4, source: nil)
            case "jpeg", "png":
                _ = try ImageDecoder.decode(Data(bytes), name: "fuzz.\(target)")
            default:
                fatalError("unknown fuzz target '\(target)': use one of \(names.joined(separator: ", "))")
            }
        } catch {}
    }

    /// Valid inputs to start mutating from.
    static func seeds(_ target: String) throws -> [[UInt8]] {
        let images = try IDXFile(dims: [3, 4, 4], bytes: (0..<48).map { UInt8($0) }).encoded(magic: IDXFile.imagesMagic)
        let gradient = (0..<(12 * 10 * 3)).map { UInt8($0 % 251) }
        switch target {
        case "idx": return [images, try IDXFile(dims: [3], bytes: [1, 2, 3]).encoded(magic: IDXFile.labelsMagic)]
        case "gzip": return [gzip(images)]
        case "cifar10":
            var records = [UInt8]()
            for r in 0..<2 { records.append(UInt8(r)); for p in 0..<3072 { records.append(UInt8((p + r) % 256)) } }
            return [records]
        case "safetensors":
            return [[UInt8](try SafeTensors(tensors: ["a": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                                                      "b": .init(shape: [1], values: [7])], metadata: ["format": "pt"]).encoded())]
        case "checkpoint":
            let url = scratch.appendingPathComponent("seed.safetensors")
            try Checkpoint(model: "m", epochsCompleted: 1, step: 4, seed: 1, optimizerStep: 4,
                           parameters: ["fc.weight": [1, 2, 3, 4], "fc.bias": [0.5, -0.5]],
                           parameterShapes: ["fc.weight": [2, 2], "fc.bias": [2]], optimizerState: [[0, 0, 0, 0, 0, 0]],
                           history: ["{\"epoch\":1}"], batchSize: 2, settings: "SGD").write(to: url)
            return [[UInt8](try Data(contentsOf: url))]
        case "jpeg": return [try encode { cnn_encode_jpeg(gradient, 12, 10, 3, 90, $0, $1, $2, $3) }]
        case "png": return [try encode { cnn_encode_png(gradient, 12, 10, 3, 8, $0, $1, $2, $3) }]
        default: fatalError("unknown fuzz target '\(target)'")
        }
    }

    /// A gzip member holding `bytes` in one stored (uncompressed) deflate block, written by hand
    /// because the library's compressor is internal; at most 65,535 bytes.
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        out += [1, UInt8(bytes.count & 0xFF), UInt8(bytes.count >> 8), UInt8(~bytes.count & 0xFF), UInt8((~bytes.count >> 8) & 0xFF)]
        out += bytes
        let crc = crc32(bytes)
        for v in [crc, UInt32(bytes.count)] { for k in 0..<4 { out.append(UInt8(v >> (8 * UInt32(k)) & 0xFF)) } }
        return out
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func encode(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                        UnsafeMutablePointer<CChar>, Int) -> Int32) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        guard body(&out, &size, &message, message.count) == 0, let out else {
            throw CNNError.invalidArgument("encoding a seed failed: \(String(cString: message))")
        }
        defer { cnn_image_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

#if LIBFUZZER
/// The target, from `--target=NAME` (libFuzzer ignores flags that start with "--").
nonisolated(unsafe) var selectedTarget = ""

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    for i in 0..<Int(argc.pointee) {
        guard let arg = argv.pointee?[i].map({ String(cString: $0) }), arg.hasPrefix("--target=") else { continue }
        selectedTarget = String(arg.dropFirst("--target=".count))
    }
    guard FuzzTargets.names.contains(selectedTarget) else {
        fatalError("pass --target=NAME, one of \(FuzzTargets.names.joined(separator: ", "))")
    }
    // Headers may claim up to the default limit (537 MB); a smaller cap keeps executions fast
    // while still exercising the refusal.
    ImageDecoder.maxPixels = 1 << 22
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.run(selectedTarget, size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's entry for programs that keep their own `main` (C signature; all arguments are
/// pointers, so Swift's calling convention matches C's here).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's entry as `<module>_main` and points `main` at it, so the
/// fuzzer is started from there rather than from libFuzzer's own `main`.
@_cdecl("cnn_gpu_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzerTestOneInput(data, size) }
}
#else
@main
struct Replay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.count == 2, arguments[0] == "--seeds" {
            for target in FuzzTargets.names {
                let dir = URL(fileURLWithPath: arguments[1]).appendingPathComponent(target)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for (k, seed) in try FuzzTargets.seeds(target).enumerated() {
                    try Data(seed).write(to: dir.appendingPathComponent("seed-\(k)"))
                }
            }
        } else if arguments.count >= 2, FuzzTargets.names.contains(arguments[0]) {
            for path in arguments.dropFirst() {
                FuzzTargets.run(arguments[0], [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
                print("ok  \(path)")
            }
        } else {
            print("usage: cnn-gpu-fuzz TARGET FILE... | --seeds DIR   (targets: \(FuzzTargets.names.joined(separator: ", ")))")
            exit(2)
        }
    }
}
#endif
