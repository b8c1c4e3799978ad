import COpenCL
import CNNKernels
import Foundation

/// Builds each program in `Kernels/` once per backend (device) and build options (`-D`
/// tunables, see KernelTunables.swift and MemoryBoundTunables.swift) on first use and keeps its kernels; compiled programs
/// are also cached on disk (ProgramBinaryCache) unless the driver does that itself. A failed
/// build throws with the compiler's log.
final class ProgramCache {
    private let context: cl_context
    private let device: cl_device_id
    private let deviceName: String
    private let sources: [String: String]
    private var programs: [String: cl_program] = [:]
    private var kernels: [KernelKey: cl_kernel] = [:]
    private let lock = NSLock()
    /// Nil where the driver caches its builds itself (`ProgramBinaryCache.driverCachesBuilds`).
    private let binaries: ProgramBinaryCache?

    /// `sources` maps program names to OpenCL C; the embedded `Kernels/*.cl` unless a test
    /// supplies its own. `platform`: the device's CL_PLATFORM_NAME.
    init(context: cl_context, device: cl_device_id, deviceName: String, platform: String,
         sources: [String: String] = KernelSources.all) {
        self.context = context; self.device = device; self.deviceName = deviceName; self.sources = sources
        binaries = ProgramBinaryCache.driverCachesBuilds(platform: platform) ? nil
            : ProgramBinaryCache(directory: CacheDirectory.root.appendingPathComponent("programs"), device: device,
                                 deviceName: deviceName,
                                 driverVersion: (try? deviceString(device, CL_DRIVER_VERSION)) ?? "unknown")
    }

    deinit {
        for k in kernels.values { clReleaseKernel(k) }
        for p in programs.values { clReleaseProgram(p) }
    }

    /// The kernel `name` from `Kernels/<program>.cl`. Callers hold the returned kernel only
    /// under `withKernel`, since setting arguments on a `cl_kernel` is not thread-safe.
    func withKernel<R>(_ program: String, _ name: String, options: String = "",
                       _ body: (cl_kernel) throws -> R) throws -> R {
        lock.lock(); defer { lock.unlock() }
        let key = KernelKey(program: program, name: name, options: options)
        if let k = kernels[key] { return try body(k) }
        let p = try build(program, options: options)
        var status: cl_int = 0
        guard let k = clCreateKernel(p, name, &status), status == CL_SUCCESS else {
            throw CNNError.openCL(call: "clCreateKernel(\(name))", code: status)
        }
        kernels[key] = k
        return try body(k)
    }

    /// How many kernels (program, name, options) have been created so far. A launch that leaves it
    /// unchanged built nothing: its program was built and, on PoCL, the kernel already compiled for
    /// its work-group size by an earlier launch (the tuner reads it: `ConvolutionTiming.fastest`).
    var kernelCount: Int {
        lock.lock(); defer { lock.unlock() }
        return kernels.count
    }

    /// "program/kernel" of every kernel created so far (the kernel checker's coverage test reads it).
    var createdKernels: Set<String> {
        lock.lock(); defer { lock.unlock() }
        return Set(kernels.keys.map { $0.program + "/" + $0.name })
    }

    /// "program/kernel" of every kernel the device compiler found in every program (builds them
    /// all). The kernel checker's coverage test compares it with `createdKernels`; asking the
    /// built program, not parsing the source, catches kernels declared with attributes.
    func declaredKernels() throws -> Set<String> {
        lock.lock(); defer { lock.unlock() }
        var names: Set<String> = []
        for program in sources.keys.sorted() {
            let p = try build(program)
            let list = try queryString("clGetProgramInfo") {
                clGetProgramInfo(p, cl_program_info(CL_PROGRAM_KERNEL_NAMES), $0, $1, $2)
            }
            for kernel in list.split(separator: ";") where !kernel.isEmpty {
                names.insert(program + "/" + kernel.trimmingCharacters(in: .whitespaces))
            }
        }
        return names
    }

    /// Builds every program now (for tests and warm-up); normally programs build lazily.
    func buildAll() throws {
        lock.lock(); defer { lock.unlock() }
        for name in sources.keys.sorted() { _ = try build(name) }
    }

    /// A built kernel's identity. A struct, not the three joined: the lookup runs at every launch,
    /// and joining them allocated a string each time.
    private struct KernelKey: Hashable {
        let program: String, name: String, options: String
    }

    /// Pastes the embedded file in place of each `#include "<stem>.cl"` line: the sources live
    /// in the binary, so the device compiler has no include path. One level deep, which is all
    /// Kernels/ uses (activation_function.cl, vector_io.cl, gemm_tile.cl, winograd_f4_points.cl).
    private func resolvingIncludes(_ source: String) throws -> String {
        guard source.contains("#include") else { return source }
        return try source.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("#include \""), line.hasSuffix(".cl\"") else { return String(line) }
            let stem = String(line.dropFirst("#include \"".count).dropLast(".cl\"".count))
            guard let included = sources[stem] else {
                throw CNNError.invalidArgument("kernel source includes '\(stem).cl', which is not in Kernels/")
            }
            return included
        }.joined(separator: "\n")
    }

    private func build(_ name: String, options: String = "") throws -> cl_program {
        let programKey = name + "|" + options
        if let p = programs[programKey] { return p }
        guard let source = try sources[name].map(resolvingIncludes) else {
            throw CNNError.invalidArgument("no kernel program '\(name)' in Kernels/")
        }
        // -w: PoCL's compiler prints its warnings on our stderr, through the user's progress
        // line ("54 warnings generated."). They are its own headers' ABI notes for float16 on
        // AVX2 and clang's notes on conditions the -D values make constant, neither a fault; a
        // real error still fails the build with its log.
        let buildOptions = "-cl-std=CL1.2 -w" + (options.isEmpty ? "" : " " + options)
        if let cached = binaries?.load(context: context, source: source, options: options, buildOptions: buildOptions) {
            programs[programKey] = cached
            return cached
        }
        var status: cl_int = 0
        let program: cl_program? = source.withCString { cstr in
            var ptr: UnsafePointer<CChar>? = cstr
            var length = strlen(cstr)
            return clCreateProgramWithSource(context, 1, &ptr, &length, &status)
        }
        guard let program, status == CL_SUCCESS else {
            throw CNNError.openCL(call: "clCreateProgramWithSource(\(name))", code: status)
        }
        var dev: cl_device_id? = device
        let buildStatus = clBuildProgram(program, 1, &dev, buildOptions, nil, nil)
        if buildStatus != CL_SUCCESS {
            let log = (try? queryString("clGetProgramBuildInfo") {
                clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), $0, $1, $2)
            }) ?? "(no log)"
            clReleaseProgram(program)
            if buildStatus == CL_BUILD_PROGRAM_FAILURE {
                throw CNNError.kernelBuildFailed(program: name + ".cl" + (options.isEmpty ? "" : " (\(options))"),
                                                 device: deviceName, log: log)
            }
            throw CNNError.openCL(call: "clBuildProgram(\(name))", code: buildStatus)
        }
        binaries?.store(program, source: source, options: options)
        programs[programKey] = program
        return program
    }
}
