@testable import CNNGPU
import XCTest

/// Convolution + bias + activation in one op agrees with the unfused sequence (convolution
/// with bias, then the activation) on random shapes, for every solution on every backend; and
/// the compiled-plan path (check a solution once, encode with a caller's workspace) agrees
/// with the eager one.
final class FusedConvolutionTests: XCTestCase {
    static let activations: [Activation] = [.relu, .leakyReLU(alpha: 0.1), .elu(alpha: 0.7), .sigmoid, .tanh]

    /// A random small problem: odd sizes, strides, padding, sometimes groups, dilation or 1×1
    /// (inputs of at least 5 pixels, so a dilated 3×3 kernel always fits).
    static func randomProblem(_ rng: inout SeededGenerator) throws -> Conv2DDescriptor {
        let groups = Bool.random(using: &rng) ? 2 : 1
        let k = [1, 2, 3].randomElement(using: &rng)!
        let inC = groups * Int.random(in: 1...3, using: &rng), outC = groups * Int.random(in: 1...4, using: &rng)
        return try Conv2DDescriptor(batch: Int.random(in: 1...3, using: &rng), inChannels: inC,
                                    inH: Int.random(in: 5...9, using: &rng), inW: Int.random(in: 5...9, using: &rng),
                                    outChannels: outC, kernelH: k, kernelW: k,
                                    strideH: Int.random(in: 1...2, using: &rng), strideW: Int.random(in: 1...2, using: &rng),
                                    padding: Padding2D(Int.random(in: 0...1, using: &rng)),
                                    dilationH: k > 1 && Bool.random(using: &rng) ? 2 : 1, groups: groups)
    }

    /// Problems the blocked CPU kernels take (stride 1, one group), and a pointwise one.
    static func fixedProblems() throws -> [Conv2DDescriptor] {
        [try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 9, inW: 11, outChannels: 7, kernelH: 3, kernelW: 3,
                              padding: Padding2D(1)),
         try Conv2DDescriptor(batch: 3, inChannels: 4, inH: 5, inW: 6, outChannels: 5, kernelH: 1, kernelW: 1)]
    }

    func testFusedForwardMatchesConvolutionThenActivation() throws {
        var rng = SeededGenerator.fresh()
        defer { ConvolutionAlgorithm.forced = nil }
        let problems = try Self.fixedProblems() + (0..<6).map { _ in try Self.randomProblem(&rng) }
        for d in problems {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
            for b in TestBackends.conforming((any Backend).self) {
                let X = try b.makeBuffer(x), W = try b.makeBuffer(w), B = try b.makeBuffer(bias)
                let fused = try b.allocate(d.outputCount, dtype: .float32)
                let plain = try b.allocate(d.outputCount, dtype: .float32)
                let offered = Set(b.convolutionSolutions(for: d, direction: .forward).map(\.algorithm))
                for algorithm in ConvolutionAlgorithm.allCases where offered.contains(algorithm) {
                    ConvolutionAlgorithm.forced = algorithm
                    for activation in Self.activations {
                        for withBias in [true, false] {
                            try b.convolutionForward(d, x: X, weight: W, bias: withBias ? B : nil,
                                                     activation: activation, y: fused)
                            try b.convolutionForward(d, x: X, weight: W, bias: withBias ? B : nil, y: plain)
                            try b.activationForward(activation, count: d.outputCount, x: plain, y: plain)
                            assertClose(try b.download(fused), try b.download(plain), tolerance: 1e-6,
                                        "\(b.testName) \(algorithm) \(activation) bias \(withBias) \(d) seed \(rng.seed)")
                        }
                    }
                }
            }
        }
    }

    /// The im2col path applies the epilogue chunk by chunk: a batch split into 2 + 2 + 1 images.
    func testFusedEpilogueRunsOnEveryChunk() throws {
        var rng = SeededGenerator.fresh()
        let saved = ConvolutionWorkspace.limitBytes
        defer { ConvolutionWorkspace.limitBytes = saved; ConvolutionAlgorithm.forced = nil }
        let d = try Conv2DDescriptor(batch: 5, inChannels: 2, inH: 6, inW: 7, outChannels: 3, kernelH: 3, kernelW: 3,
                                     padding: Padding2D(1))
        ConvolutionAlgorithm.forced = .im2colGEMM
        ConvolutionWorkspace.limitBytes = 2 * ConvolutionWorkspace.perImage(d) * DType.float32.byteSize
        let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), bias = rng.floats(d.outChannels)
        for b in TestBackends.conforming((any Backend).self) {
            let X = try b.makeBuffer(x), W = try b.makeBuffer(w), B = try b.makeBuffer(bias)
            let fused = try b.allocate(d.outputCount, dtype: .float32), plain = try b.allocate(d.outputCount, dtype: .float32)
            try b.convolutionForward(d, x: X, weight: W, bias: B, activation: .relu, y: fused)
            try b.convolutionForward(d, x: X, weight: W, bias: B, y: plain)
            try b.activationForward(.relu, count: d.outputCount, x: plain, y: plain)
            assertClose(try b.download(fused), try b.download(plain), tolerance: 1e-6, "\(b.testName) seed \(rng.seed)")
        }
    }

    /// The tuning candidates beyond each algorithm's defaults that the test below runs.
    private var rotation = SampleRotation()

    /// What a compiled plan does: every offered solution (a sample of the tuning candidates, see
    /// the loop), checked once with a workspace of the size it asks for, then encoded directly,
    /// gives the eager op's answer in all three passes.
    func testEncodingEachSolutionWithItsWorkspaceMatchesTheEagerOps() throws {
        var rng = SeededGenerator.fresh()
        for d in try Self.fixedProblems() + [try Self.randomProblem(&rng)] {
            let x = rng.floats(d.inputCount), w = rng.floats(d.weightCount), dy = rng.floats(d.outputCount)
            for b in TestBackends.conforming((any Backend).self) {
                let X = try b.makeBuffer(x), W = try b.makeBuffer(w), DY = try b.makeBuffer(dy)
                let y = try b.allocate(d.outputCount, dtype: .float32), dx = try b.allocate(d.inputCount, dtype: .float32)
                let dw = try b.allocate(d.weightCount, dtype: .float32)
                try b.convolutionForward(d, x: X, weight: W, bias: nil, activation: .tanh, y: y)
                try b.convolutionBackwardData(d, dy: DY, weight: W, dx: dx)
                try b.convolutionBackwardFilter(d, x: X, dy: DY, dw: dw)
                let (eagerY, eagerDx, eagerDw) = (try b.download(y), try b.download(dx), try b.download(dw))
                for direction in ConvolutionDirection.allCases {
                    let solutions = b.convolutionSolutions(for: d, direction: direction)
                    XCTAssertFalse(solutions.isEmpty, "\(b.testName) \(direction)")
                    // Each algorithm at its defaults (its first solution), and three of the other
                    // tuning candidates in turn: each candidate is a PoCL compile, and all of them
                    // on every problem took 5 minutes of CI's time (CNNGPU_TEST_EXHAUSTIVE=1 runs them).
                    let defaults = solutions.filter { s in solutions.first { $0.algorithm == s.algorithm } == s }
                    for s in defaults + rotation.take(solutions.filter { !defaults.contains($0) }, count: 3) {
                        let count = b.convolutionWorkspaceCount(d, direction: direction, solution: s)
                        let workspace = count > 0 ? try b.allocate(count, dtype: .float32) : nil
                        try b.checkConvolutionSolution(d, direction: direction, solution: s, workspace: workspace)
                        let m = "\(b.testName) \(direction) \(s) \(d) seed \(rng.seed)"
                        // Winograd F(4×4,3×3) rounds more (WinogradF4x3SolverTests.tolerance says why).
                        let tolerance = s.algorithm == .winogradF4x3 ? WinogradF4x3SolverTests.tolerance : 1e-5
                        switch direction {
                        case .forward:
                            try b.fill(y, value: .nan)
                            try b.encodeConvolutionForward(d, x: X, weight: W, bias: nil, activation: .tanh, y: y,
                                                           solution: s, workspace: workspace)
                            assertClose(try b.download(y), eagerY, tolerance: tolerance, m)
                        case .backwardData:
                            try b.fill(dx, value: .nan)
                            try b.encodeConvolutionBackwardData(d, dy: DY, weight: W, dx: dx, solution: s, workspace: workspace)
                            assertClose(try b.download(dx), eagerDx, tolerance: tolerance, m)
                        case .backwardFilter:
                            try b.fill(dw, value: .nan)
                            try b.encodeConvolutionBackwardFilter(d, x: X, dy: DY, dw: dw, solution: s, workspace: workspace)
                            // The Winograd filter gradient rounds as F(4×4,3×3) does.
                            let filterTolerance = s.algorithm == .winogradFilter ? WinogradFilterSolverTests.tolerance : 1e-5
                            assertClose(try b.download(dw), eagerDw, tolerance: filterTolerance, m)
                        }
                    }
                }
            }
        }
    }

    func testSolutionChecksRefuseAMissingOrShortWorkspaceAndForeignSolutions() throws {
        let d = try Self.fixedProblems()[0]
        for b in TestBackends.conforming((any Backend).self) {
            let gemm = ConvolutionSolution(.im2colGEMM)
            let needed = b.convolutionWorkspaceCount(d, direction: .forward, solution: gemm)
            XCTAssertGreaterThan(needed, 0, b.testName)
            assertThrowsCNNError({ try b.checkConvolutionSolution(d, direction: .forward, solution: gemm, workspace: nil) },
                                 b.testName)
            let short = try b.allocate(needed - 1, dtype: .float32)
            assertThrowsCNNError({ try b.checkConvolutionSolution(d, direction: .forward, solution: gemm, workspace: short) },
                                 b.testName)
            let tuned = ConvolutionSolution(.direct, parameters: ["unknownTile": 3])
            assertThrowsCNNError({ try b.checkConvolutionSolution(d, direction: .forward, solution: tuned, workspace: nil) },
                                 b.testName)
            XCTAssertEqual(b.convolutionWorkspaceCount(d, direction: .forward, solution: ConvolutionSolution(.direct)), 0)
            XCTAssertNoThrow(try b.checkConvolutionSolution(d, direction: .forward, solution: ConvolutionSolution(.direct),
                                                           workspace: nil), b.testName)
        }
    }
}
