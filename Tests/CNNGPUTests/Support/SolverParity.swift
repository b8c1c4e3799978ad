@testable import CNNGPU
import XCTest

/// The parity checks every OpenCL convolution solver goes through, one direction at a time: on
/// random inputs, each parameter set's result against the Double reference (ConvolutionReference),
/// and the device default's against the CPU backend. A solver's test class supplies its problems,
/// its parameter sets and how to launch it.
enum SolverParity {
    typealias Forward = (Conv2DDescriptor, _ x: any DeviceBuffer, _ weight: any DeviceBuffer, _ bias: (any DeviceBuffer)?,
                         Activation?, _ y: any DeviceBuffer, TunableParameters) throws -> Void
    typealias BackwardData = (Conv2DDescriptor, _ dy: any DeviceBuffer, _ weight: any DeviceBuffer, _ dx: any DeviceBuffer,
                              TunableParameters) throws -> Void
    typealias BackwardFilter = (Conv2DDescriptor, _ x: any DeviceBuffer, _ dy: any DeviceBuffer, _ dw: any DeviceBuffer,
                                _ workspace: (any DeviceBuffer)?, TunableParameters) throws -> Void

    /// Forward with bias and a different fused activation per (problem, parameter set), then
    /// without bias at the device default against the CPU backend.
    /// `tolerance`: relative error allowed against the Double reference (and the CPU backend),
    /// on the scale of the largest Σ|x·w| + |b| of an output (`magnitude`); a solver that rounds
    /// more (Winograd F(4×4,3×3)) says why its own is larger.
    static func forward(_ cl: OpenCLBackend, problems: [Conv2DDescriptor], parameterSets: [TunableParameters],
                        tolerance: Double = 1e-5,
                        file: StaticString = #filePath, line: UInt = #line, run: Forward) throws {
        var rng = SeededGenerator.fresh()
        let activations: [Activation?] = [nil, .relu, .leakyReLU(alpha: 0.1), .elu(alpha: 1), .sigmoid, .tanh]
        for (i, d) in problems.enumerated() {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), b = rng.floats(d.outChannels)
            let X = try cl.makeBuffer(x), W = try cl.makeBuffer(w), B = try cl.makeBuffer(b)
            let linear = ConvolutionReference.forward(d, x: x.map(Double.init), w: w.map(Double.init),
                                                      bias: b.map(Double.init))
            let scale = magnitude(ConvolutionReference.forward(d, x: x.map(absolute), w: w.map(absolute),
                                                               bias: b.map(absolute)))
            for (j, p) in parameterSets.enumerated() {
                let act = activations[(i + j) % activations.count]
                let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
                try run(d, X, W, B, act, Y, p)
                let expected = act.map { ActivationReference.forward($0, linear) } ?? linear
                assertClose(try cl.download(Y), expected, tolerance: tolerance, scale: scale,
                            "forward \(d) parameters \(p) activation \(String(describing: act)) seed \(rng.seed)",
                            file: file, line: line)
            }
            let Y = try cl.makeBuffer([Float](repeating: .nan, count: d.outputCount))
            try run(d, X, W, nil, nil, Y, [:])
            let cpu = TestBackends.cpu
            let CY = try cpu.allocate(d.outputCount, dtype: .float32)
            try cpu.convolutionForward(d, x: try cpu.makeBuffer(x), weight: try cpu.makeBuffer(w), bias: nil, y: CY)
            assertClose(try cl.download(Y), try cpu.download(CY), tolerance: tolerance, scale: scale, "forward vs CPU \(d) seed \(rng.seed)",
                        file: file, line: line)
        }
    }

    /// The largest output of a sum of magnitudes (the reference run on |inputs|): the scale
    /// float32 rounding works at. Against the largest |output| alone, a problem with a single
    /// output whose few terms cancel (Winograd F(4×4,3×3), 4 channels at 1×1, seed
    /// 30474800405142: -7.3e-4 off by 1.3e-7) fails on rounding, not on a wrong kernel.
    static func magnitude(_ sums: [Double]) -> Double { sums.max() ?? 0 }
    static func absolute(_ v: Float) -> Double { abs(Double(v)) }

    static func backwardData(_ cl: OpenCLBackend, problems: [Conv2DDescriptor], parameterSets: [TunableParameters],
                             tolerance: Double = 1e-5,
                             file: StaticString = #filePath, line: UInt = #line, run: BackwardData) throws {
        var rng = SeededGenerator.fresh()
        for d in problems {
            let dy = rng.floats(d.outputCount), w = rng.floats(d.weightCount)
            let DY = try cl.makeBuffer(dy), W = try cl.makeBuffer(w)
            let expected = ConvolutionReference.backwardData(d, dy: dy.map(Double.init), w: w.map(Double.init))
            let scale = magnitude(ConvolutionReference.backwardData(d, dy: dy.map(absolute), w: w.map(absolute)))
            for p in parameterSets {
                let DX = try cl.makeBuffer([Float](repeating: .nan, count: d.inputCount))
                try run(d, DY, W, DX, p)
                assertClose(try cl.download(DX), expected, tolerance: tolerance, scale: scale, "backward data \(d) parameters \(p) seed \(rng.seed)",
                            file: file, line: line)
            }
            let cpu = TestBackends.cpu
            let CDX = try cpu.allocate(d.inputCount, dtype: .float32)
            try cpu.convolutionBackwardData(d, dy: try cpu.makeBuffer(dy), weight: try cpu.makeBuffer(w), dx: CDX)
            assertClose(try cpu.download(CDX), expected, tolerance: 1e-5, scale: scale, "CPU backward data \(d)", file: file, line: line)
        }
    }

    /// `workspaceCount` sizes the scratch each parameter set asks for (nil buffer when none).
    static func backwardFilter(_ cl: OpenCLBackend, problems: [Conv2DDescriptor], parameterSets: [TunableParameters],
                               workspaceCount: (Conv2DDescriptor, TunableParameters) -> Int, tolerance: Double = 1e-5,
                               file: StaticString = #filePath, line: UInt = #line, run: BackwardFilter) throws {
        var rng = SeededGenerator.fresh()
        for d in problems {
            let x = rng.floats(d.inputCount), dy = rng.floats(d.outputCount)
            let X = try cl.makeBuffer(x), DY = try cl.makeBuffer(dy)
            let expected = ConvolutionReference.backwardFilter(d, x: x.map(Double.init), dy: dy.map(Double.init))
            for p in parameterSets {
                let count = workspaceCount(d, p)
                let workspace = count > 0 ? try cl.makeBuffer([Float](repeating: .nan, count: count)) : nil
                let DW = try cl.makeBuffer([Float](repeating: .nan, count: d.weightCount))
                try run(d, X, DY, DW, workspace, p)
                assertClose(try cl.download(DW), expected, tolerance: tolerance, "backward filter \(d) parameters \(p) seed \(rng.seed)",
                            file: file, line: line)
            }
            let cpu = TestBackends.cpu
            let CDW = try cpu.allocate(d.weightCount, dtype: .float32)
            try cpu.convolutionBackwardFilter(d, x: try cpu.makeBuffer(x), dy: try cpu.makeBuffer(dy), dw: CDW)
            assertClose(try cpu.download(CDW), expected, tolerance: 1e-5, "CPU backward filter \(d)", file: file, line: line)
        }
    }

    /// All three passes of `d` through the public API with `algorithm` forced, as a compiled
    /// plan runs it (the backend sizes the workspace and picks the parameters), against the CPU
    /// backend, which shares no code with the OpenCL kernels.
    static func forcedMatchesCPU(_ cl: OpenCLBackend, _ algorithm: ConvolutionAlgorithm, _ d: Conv2DDescriptor,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let cpu = TestBackends.cpu
        var rng = SeededGenerator.fresh()
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
        // The passes on one backend: y, dx, dw.
        func passes(_ b: any Backend) throws -> [[Float]] {
            let Y = try b.allocate(d.outputCount, dtype: .float32), DX = try b.allocate(d.inputCount, dtype: .float32)
            let DW = try b.allocate(d.weightCount, dtype: .float32)
            let X = try b.makeBuffer(x), W = try b.makeBuffer(w), DY = try b.makeBuffer(dy)
            try b.convolutionForward(d, x: X, weight: W, bias: nil, y: Y)
            try b.convolutionBackwardData(d, dy: DY, weight: W, dx: DX)
            try b.convolutionBackwardFilter(d, x: X, dy: DY, dw: DW)
            return [try b.download(Y), try b.download(DX), try b.download(DW)]
        }
        ConvolutionAlgorithm.forced = algorithm
        defer { ConvolutionAlgorithm.forced = nil }
        let got = try passes(cl)
        ConvolutionAlgorithm.forced = nil
        let expected = try passes(cpu)
        for (i, (name, tolerance)) in [("forward", 1e-5), ("backward data", 1e-5), ("backward filter", 1e-4)].enumerated() {
            assertClose(got[i], expected[i], tolerance: tolerance, "\(algorithm) \(name) \(d.problemText) seed \(rng.seed)",
                        file: file, line: line)
        }
    }
}
