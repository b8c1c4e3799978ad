@testable import CNNGPU
import XCTest

/// The pointwise solver's filter gradient (1×1 filter gradient as a GEMM along the NCHW pixel
/// rows, split into chunks and added in a second pass) against the Double reference and the CPU
/// backend, under parameter sets that leave partial tiles (channels not a multiple of the tile),
/// a chunk that ends inside an image's plane, the whole batch in one chunk (written straight to
/// dw), work-groups that add their work-items' sums in local memory, and 1-, 4-, 8- and 16-pixel
/// vectors.
final class PointwiseFilterSolverTests: XCTestCase {
    static let parameterSets: [TunableParameters] = [
        ["PWF_VW": 16, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 32, "PWF_WG": 1],
        ["PWF_VW": 16, "PWF_KT": 6, "PWF_CT": 4, "PWF_CHUNK": 8, "PWF_WG": 1],
        ["PWF_VW": 8, "PWF_KT": 4, "PWF_CT": 6, "PWF_CHUNK": 8, "PWF_WG": 8],
        ["PWF_VW": 4, "PWF_KT": 8, "PWF_CT": 2, "PWF_CHUNK": 1024, "PWF_WG": 64],
        ["PWF_VW": 4, "PWF_KT": 1, "PWF_CT": 1, "PWF_CHUNK": 16, "PWF_WG": 1],
        ["PWF_VW": 1, "PWF_KT": 2, "PWF_CT": 8, "PWF_CHUNK": 32, "PWF_WG": 16],
    ]

    // 144 pixels a plane: nine 16-pixel vectors (one chunk of 32, two of 8), 18 of 8, 36 of 4,
    // 144 of 1 (five chunks of 32, the last partial); 13 and 7 output channels, 5 and 19 input
    // channels: partial tiles of every size above.
    static let problems = [
        try! Conv2DDescriptor(batch: 3, inChannels: 5, inH: 12, inW: 12, outChannels: 13, kernelH: 1, kernelW: 1),
        try! Conv2DDescriptor(batch: 1, inChannels: 19, inH: 9, inW: 16, outChannels: 7, kernelH: 1, kernelW: 1),
    ]

    func testFilterGradientMatchesReferenceAndCPU() throws {
        let cl = try TestBackends.requireOpenCL()
        XCTAssertTrue(Self.problems.allSatisfy { OpenCLBackend.pointwiseApplies($0, direction: .backwardFilter) })
        try SolverParity.backwardFilter(cl, problems: Self.problems, parameterSets: Self.parameterSets,
                                        workspaceCount: { cl.pointwiseFilterWorkspaceCount($0, parameters: $1) }) {
            d, x, dy, dw, workspace, p in
            try cl.pointwiseBackwardFilter(d, x: x, dy: dy, dw: dw, workspace: workspace, parameters: p)
        }
    }

    /// Through the backend's entry point, sized as a plan sizes it, the sum comes out the same
    /// bits every time (the chunks are added in a fixed order).
    func testEntryPointIsDeterministic() throws {
        let cl = try TestBackends.requireOpenCL()
        var rng = SeededGenerator.fresh()
        let d = Self.problems[0]
        let X = try cl.makeBuffer(rng.floats(d.inputCount)), DY = try cl.makeBuffer(rng.floats(d.outputCount))
        for p in Self.parameterSets {
            let solution = ConvolutionSolution(.pointwise, parameters: p)
            let count = cl.convolutionWorkspaceCount(d, direction: .backwardFilter, solution: solution)
            XCTAssertEqual(count, cl.pointwiseFilterWorkspaceCount(d, parameters: p))
            let workspace = count > 0 ? try cl.allocate(count, dtype: .float32) : nil
            var results: [[Float]] = []
            for _ in 0..<2 {
                let DW = try cl.makeBuffer([Float](repeating: .nan, count: d.weightCount))
                try cl.encodeConvolutionBackwardFilter(d, x: X, dy: DY, dw: DW, solution: solution, workspace: workspace)
                results.append(try cl.download(DW))
            }
            XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern), "\(p) seed \(rng.seed)")
        }
    }

    /// Applies to every plain 1×1 plane (1-pixel vectors divide any); offered with only vector
    /// widths that divide it, and on CPU devices only in one-work-item groups (so not at 7²);
    /// a missing or short workspace and a width that does not divide the plane are refused with
    /// the fix named.
    func testCandidatesAndRefusals() throws {
        let cl = try TestBackends.requireOpenCL()
        let plane7 = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 7, inW: 7, outChannels: 8, kernelH: 1, kernelW: 1)
        XCTAssertTrue(OpenCLBackend.pointwiseApplies(plane7, direction: .backwardFilter))
        let candidates = cl.pointwiseCandidates(plane7, direction: .backwardFilter)
        XCTAssertTrue(candidates.allSatisfy { 49 % $0["PWF_VW"]! == 0 }, "\(candidates)")
        XCTAssertEqual(candidates.isEmpty, cl.info.kind != .gpu, "\(candidates)")
        let plane14 = try Conv2DDescriptor(batch: 2, inChannels: 8, inH: 14, inW: 14, outChannels: 8, kernelH: 1, kernelW: 1)
        let at14 = cl.pointwiseCandidates(plane14, direction: .backwardFilter)
        XCTAssertFalse(at14.isEmpty)
        XCTAssertTrue(at14.allSatisfy { cl.info.kind == .gpu || $0["PWF_WG"] == 1 }, "\(at14)")
        let strided = try Conv2DDescriptor(batch: 1, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernelH: 1, kernelW: 1,
                                           strideH: 2, strideW: 2)
        XCTAssertFalse(OpenCLBackend.pointwiseApplies(strided, direction: .backwardFilter))
        XCTAssertTrue(cl.pointwiseCandidates(strided, direction: .backwardFilter).isEmpty)

        let X = try cl.allocate(plane7.inputCount, dtype: .float32), DY = try cl.allocate(plane7.outputCount, dtype: .float32)
        let DW = try cl.allocate(plane7.weightCount, dtype: .float32)
        let wide: TunableParameters = ["PWF_VW": 16, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 32, "PWF_WG": 1]
        let wrongWidth = assertThrowsCNNError {
            try cl.pointwiseBackwardFilter(plane7, x: X, dy: DY, dw: DW, workspace: nil, parameters: wide)
        }
        XCTAssertTrue(wrongWidth?.contains("PWF_VW=16") == true, wrongWidth ?? "")
        let chunked: TunableParameters = ["PWF_VW": 1, "PWF_KT": 4, "PWF_CT": 4, "PWF_CHUNK": 8, "PWF_WG": 1]
        XCTAssertGreaterThan(cl.pointwiseFilterWorkspaceCount(plane7, parameters: chunked), 0)
        let noWorkspace = assertThrowsCNNError {
            try cl.pointwiseBackwardFilter(plane7, x: X, dy: DY, dw: DW, workspace: nil, parameters: chunked)
        }
        XCTAssertTrue(noWorkspace?.contains("workspace") == true, noWorkspace ?? "")
    }
}
