@testable import CNNGPU
import XCTest

final class DeviceTests: XCTestCase {
    func testDeviceSelectionParsing() throws {
        XCTAssertEqual(try DeviceSelection(parsing: "auto"), .auto)
        XCTAssertEqual(try DeviceSelection(parsing: "CPU"), .cpu)
        XCTAssertEqual(try DeviceSelection(parsing: "opencl"), .openCL(index: 0))
        XCTAssertEqual(try DeviceSelection(parsing: "opencl:2"), .openCL(index: 2))
        for bad in ["gpu:1", "opencl:-1", "opencl:x", "cuda", ""] {
            XCTAssertNotNil(assertThrowsCNNError({ _ = try DeviceSelection(parsing: bad) }, bad))
        }
    }

    func testUnknownDeviceIndexNamesTheAvailableOnes() throws {
        guard TestBackends.openCL != nil else { throw XCTSkip("no OpenCL platform") }
        let message = assertThrowsCNNError({ _ = try OpenCLBackend(deviceIndex: 99) }) ?? ""
        XCTAssertTrue(message.contains("opencl:99") && message.contains("opencl:0"), message)
    }

    func testAutoSelectionExplainsItsChoice() throws {
        let selected = try DeviceSelection.auto.open()
        XCTAssertFalse(selected.reason.isEmpty)
        if let cl = TestBackends.openCL, cl.info.kind == .cpu {
            // PoCL alone: the native CPU backend is chosen, and the reason says why.
            XCTAssertEqual(selected.backend.info.backend, "CPU")
            XCTAssertTrue(selected.reason.contains("CPU"), selected.reason)
        }
    }

    /// The policy follows the device type unless given; under `.gpu` the OpenCL backend picks
    /// the GPU algorithms on any device (the test backend "OpenCL (GPU policy)" rests on this).
    func testDevicePolicyDecidesTheAlgorithms() throws {
        let plain = try TestBackends.requireOpenCL()
        let gpu = try XCTUnwrap(TestBackends.openCLGPUPolicy)
        XCTAssertEqual(plain.policy, plain.info.kind == .cpu ? .cpu : .gpu)
        XCTAssertEqual(gpu.policy, .gpu)
        let wide = try Conv2DDescriptor(batch: 2, inChannels: 16, inH: 8, inW: 8, outChannels: 32, kernelH: 3, kernelW: 3)
        let depthwise = try Conv2DDescriptor(batch: 2, inChannels: 16, inH: 8, inW: 8, outChannels: 16, kernelH: 3,
                                             kernelW: 3, groups: 16)
        XCTAssertEqual(gpu.convolutionSolutions(for: wide, direction: .forward).first?.algorithm, .implicitGEMM)
        XCTAssertEqual(gpu.convolutionSolutions(for: depthwise, direction: .forward).first?.algorithm, .direct)
        XCTAssertEqual(gpu.softmaxAlgorithm(for: AxisShape(outer: 2, axis: 1000, inner: 1)), .workgroup)
        if plain.info.kind == .cpu {
            XCTAssertEqual(plain.convolutionSolutions(for: wide, direction: .forward).first?.algorithm, .channelsLast,
                           "a CPU device reads a channels-last copy in registers (ChannelsLastSolver)")
            XCTAssertEqual(plain.convolutionSolutions(for: depthwise, direction: .forward).first?.algorithm, .direct)
            let stem = try Conv2DDescriptor(batch: 2, inChannels: 3, inH: 16, inW: 16, outChannels: 64, kernelH: 7,
                                            kernelW: 7, strideH: 2, strideW: 2, padding: Padding2D(3))
            XCTAssertEqual(plain.convolutionSolutions(for: stem, direction: .backwardData).first?.algorithm, .fewChannels,
                           "a 3-row GEMM is mostly padding: the few-channel solver's input gradient goes first")
            let downsample = try Conv2DDescriptor(batch: 2, inChannels: 32, inH: 8, inW: 8, outChannels: 64, kernelH: 1,
                                                  kernelW: 1, strideH: 2, strideW: 2)
            XCTAssertEqual(plain.convolutionSolutions(for: downsample, direction: .backwardData).first?.algorithm,
                           .channelsLast, "a strided input gradient: the channels-last kernel per stride phase")
            XCTAssertEqual(plain.softmaxAlgorithm(for: AxisShape(outer: 2, axis: 1000, inner: 1)), .workgroup)
            XCTAssertEqual(plain.softmaxAlgorithm(for: AxisShape(outer: 64, axis: 10, inner: 1)), .rowwise)
            let vgg = try Conv2DDescriptor(batch: 8, inChannels: 64, inH: 112, inW: 112, outChannels: 128, kernelH: 3,
                                           kernelW: 3, padding: Padding2D(1))
            XCTAssertEqual(plain.convolutionSolutions(for: vgg, direction: .backwardFilter).first?.algorithm, .winogradFilter,
                           "a wide 3×3 filter gradient on a large plane: Winograd F(3×3,4×4)")
            XCTAssertEqual(gpu.convolutionSolutions(for: vgg, direction: .backwardFilter).first?.algorithm, .implicitGEMM)
        }
    }

    func testBrokenKernelReportsTheCompilerLog() throws {
        let cl = try TestBackends.requireOpenCL()
        let cache = ProgramCache(context: cl.context, device: cl.device.deviceID, deviceName: cl.info.name,
                                 platform: cl.info.platform, sources: ["broken": "__kernel void k(__global float* x) { x[0] = undefined_name; }"])
        XCTAssertThrowsError(try cache.withKernel("broken", "k") { _ in }) { error in
            guard case let CNNError.kernelBuildFailed(program, _, log) = error else {
                return XCTFail("expected kernelBuildFailed, got \(error)")
            }
            XCTAssertEqual(program, "broken.cl")
            XCTAssertTrue(log.contains("undefined_name"), log)
        }
        XCTAssertNotNil(assertThrowsCNNError({ try cl.programs.withKernel("pooling", "no_such_kernel") { _ in } }))
    }

    func testOpenCLErrorsCarryTheirNames() {
        XCTAssertEqual(CNNError.openCL(call: "clCreateBuffer", code: -5).description,
                       "OpenCL call clCreateBuffer failed with CL_OUT_OF_RESOURCES (-5). The device ran out of memory "
                       + "or resources: try a smaller batch size.")
        XCTAssertTrue(CNNError.openCL(call: "clGetPlatformIDs", code: -1001).description.contains("pocl-opencl-icd"))
    }

    func testCPUBackendDescribesTheHost() {
        let info = TestBackends.cpu.info
        XCTAssertEqual(info.backend, "CPU")
        XCTAssertGreaterThan(info.computeUnits, 0)
        XCTAssertGreaterThan(info.globalMemoryBytes, 0)
    }
}
