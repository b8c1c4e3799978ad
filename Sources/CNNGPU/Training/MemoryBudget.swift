import Foundation

/// Refuses a step that would not fit the memory this process may use, before anything is
/// allocated. On the CPU backend and on CPU OpenCL devices (PoCL) device memory is host memory,
/// and the binding limit is the container's (cgroup) or the free memory, not physical RAM: a
/// plan that fits the machine but not the container would otherwise be killed without a word.
public enum MemoryBudget {
    /// Bytes of one step at `batch`: activations (and gradients when training), parameters,
    /// their gradients and `optimizerStates` state buffers per parameter.
    public static func stepBytes(graph: Graph, batch: Int, training: Bool, optimizerStates: Int = 2) throws -> Int {
        let activations = try Plan.estimateActivationBytes(graph: graph, batch: batch, training: training)
        let perParameter = training ? 2 + optimizerStates : 1
        let parameters = try CheckedSize.product([graph.parameterCount, perParameter, 4], what: "parameter memory")
        let (sum, overflow) = activations.addingReportingOverflow(parameters + graph.bufferCount * 4)
        guard !overflow else { throw CNNError.invalidArgument("the planned memory overflows 64-bit integers: the input is too large") }
        return sum
    }

    /// Throws `outOfMemory` if a step needs more than the host can give (only where device
    /// memory is host memory; a GPU's own limit is checked when its buffers are planned).
    public static func check(graph: Graph, batch: Int, training: Bool, device: DeviceInfo, optimizerStates: Int = 2) throws {
        guard device.kind == .cpu else { return }
        let needed = try stepBytes(graph: graph, batch: batch, training: training, optimizerStates: optimizerStates)
        let available = HostMemory.availableBytes
        guard needed <= available else {
            throw CNNError.outOfMemory(requestedBytes: needed, detail: "a \(training ? "training" : "inference") step at batch "
                + "\(batch) with input \(graph.inputShape) needs \(needed >> 20) MiB, but this process may use "
                + "\(available >> 20) MiB (the least of free memory, the cgroup limit \(HostMemory.cgroupLimitBytes().map { "\($0 >> 20) MiB" } ?? "(none)"), "
                + "ulimit -v and physical memory). Use a smaller batch size or input size.")
        }
    }
}
