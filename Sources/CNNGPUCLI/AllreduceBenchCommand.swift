import ArgumentParser
import CNNGPU
import Foundation

/// `mpirun -np 2 cnn-gpu allreduce-bench`: the MPI bandwidth between the ranks, the number a
/// data-parallel scaling estimate starts from (Benchmarks/SCALING.md).
struct AllreduceBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-bench",
        abstract: "Measure MPI_Allreduce time and bandwidth between the ranks (start it with mpirun).",
        discussion: "Buffers from 1 KiB to ResNet-50's gradients (25.6 M float32 = 102.4 MB), median of --repeats; "
            + "bus bandwidth is the ring allreduce's per-link rate, 2(n−1)/n × buffer / time.")

    @Option(help: "Timed calls per size.") var repeats: Int = 5

    func validate() throws {
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be between 1 and 1000, got \(repeats)") }
    }

    func run() throws {
        let world = try MPIWorld.start()
        defer { world.finish() }
        let samples = try AllreduceBenchmark.run(world: world, repeats: repeats)
        guard world.isRoot else { return }
        print("allreduce over \(world.size) ranks (\(world.localSize) on this machine), float32 sum, median of \(repeats)")
        print("      bytes      time   algorithm bw      bus bw")
        for s in samples {
            print(String(format: "%11d %8.3f ms %9.2f GB/s %8.2f GB/s", s.bytes, s.seconds * 1e3, s.algorithmBandwidth / 1e9,
                         s.busBandwidth / 1e9))
        }
    }
}
