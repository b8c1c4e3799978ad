import COpenCL
import Foundation

/// Compiled OpenCL programs on disk (CL_PROGRAM_BINARIES), so a second run skips the device
/// compiler. An entry is keyed by device, driver version, source hash and build options; the
/// file stores that full key and the binary's length and checksum ahead of the binary. A load
/// whose key differs, whose binary is truncated or altered (checked here: drivers such as PoCL
/// crash on a damaged binary rather than reject it), or whose binary the driver rejects is
/// treated as absent — the caller rebuilds from source and overwrites it. A cached binary is
/// never trusted on its name alone.
struct ProgramBinaryCache {
    let directory: URL
    let device: cl_device_id
    let deviceName: String
    let driverVersion: String

    private static let magic = "cnn-gpu program binary v1\n"

    /// Whether the platform's driver keeps compiled programs on disk itself, so that an entry
    /// here would only cost time. PoCL caches every build (in POCL_CACHE_DIR, by source and
    /// options), and to hand out CL_PROGRAM_BINARIES it first compiles every kernel of the
    /// program for any work-group size, which a run never needs: each kernel is compiled again
    /// for the work-group size it is launched with. For conv_implicit_gemm.cl that was 10.3 s
    /// on top of a 2.4 s build (PoCL 3.1, Zen 3, machine under load; Benchmarks/NOTES-ci.md).
    static func driverCachesBuilds(platform: String) -> Bool { platform == "Portable Computing Language" }

    func key(source: String, options: String) -> String {
        Self.magic + "device: \(deviceName)\ndriver: \(driverVersion)\noptions: \(options)\n"
            + "source: \(CacheDirectory.stableHash(source)) \(source.utf8.count)\n"
    }

    static func checksumLine(_ binary: [UInt8]) -> String {
        "binary: \(binary.count) bytes, fnv1a \(CacheDirectory.stableHash(bytes: binary))"
    }

    func url(for key: String) -> URL {
        directory.appendingPathComponent(CacheDirectory.stableHash(key) + ".clbin")
    }

    /// A built program from the cache, or nil when there is no valid entry.
    func load(context: cl_context, source: String, options: String, buildOptions: String) -> cl_program? {
        let k = key(source: source, options: options)
        guard let data = try? Data(contentsOf: url(for: k)) else { return nil }
        let header = Data(k.utf8)
        guard data.count > header.count, data.prefix(header.count) == header,
              let newline = data[header.count...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let binary = [UInt8](data[(newline + 1)...])
        guard String(decoding: data[header.count..<newline], as: UTF8.self) == Self.checksumLine(binary) else { return nil }
        var status: cl_int = 0, binaryStatus: cl_int = 0
        var dev: cl_device_id? = device
        var length = binary.count
        let program: cl_program? = binary.withUnsafeBufferPointer { buf in
            var ptr: UnsafePointer<UInt8>? = buf.baseAddress
            return clCreateProgramWithBinary(context, 1, &dev, &length, &ptr, &binaryStatus, &status)
        }
        guard let program else { return nil }
        guard status == CL_SUCCESS, binaryStatus == CL_SUCCESS,
              clBuildProgram(program, 1, &dev, buildOptions, nil, nil) == CL_SUCCESS else {
            clReleaseProgram(program)
            return nil
        }
        return program
    }

    /// Stores a built program's binary; failures only cost the next run a compile, so they
    /// are reported as a warning, not thrown.
    func store(_ program: cl_program, source: String, options: String) {
        var size = 0
        guard clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil)
                == CL_SUCCESS, size > 0 else { return }
        var binary = [UInt8](repeating: 0, count: size)
        let status: cl_int = binary.withUnsafeMutableBufferPointer { buf in
            var ptr: UnsafeMutablePointer<UInt8>? = buf.baseAddress
            return clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES),
                                    MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &ptr, nil)
        }
        guard status == CL_SUCCESS else { return }
        let k = key(source: source, options: options)
        do {
            try CacheDirectory.writeAtomically(Data((k + Self.checksumLine(binary) + "\n").utf8) + Data(binary),
                                               to: url(for: k))
        } catch {
            FileHandle.standardError.write(Data("warning: could not cache a compiled OpenCL program in \(directory.path): \(error)\n".utf8))
        }
    }
}
