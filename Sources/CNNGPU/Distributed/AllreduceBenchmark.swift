import Foundation

/// Times `MPI_Allreduce` (sum, float32, in place) of growing buffers across the ranks: the
/// numbers behind a data-parallel scaling estimate. Every rank calls `run` together.
public enum AllreduceBenchmark {
    public struct Sample: Sendable {
        public var bytes: Int
        /// Median over the repeats, in seconds (the slowest rank's view: ranks agree by max).
        public var seconds: Double
        public var ranks: Int
        /// Bytes per second of the buffer ("algorithm bandwidth").
        public var algorithmBandwidth: Double { Double(bytes) / seconds }
        /// What each rank's link carried per second in a ring allreduce, 2(n−1)/n of the buffer
        /// ("bus bandwidth", NCCL's measure): comparable across rank counts.
        public var busBandwidth: Double { algorithmBandwidth * 2 * Double(ranks - 1) / Double(max(ranks, 1)) }
    }

    public static func run(world: MPIWorld, sizes: [Int] = [1 << 10, 1 << 16, 1 << 20, 1 << 24, 102_400_000],
                           repeats: Int = 5) throws -> [Sample] {
        try sizes.map { bytes in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, bytes / 4))
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 1)
            try world.allreduceSum(buffer)   // warm-up: connections and registration
            var times: [Double] = []
            for _ in 0..<repeats {
                var ready = [0.0]
                try world.allreduceMax(&ready)   // start together
                let start = DispatchTime.now().uptimeNanoseconds
                try world.allreduceSum(buffer)
                var elapsed = [Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9]
                try world.allreduceMax(&elapsed)
                times.append(elapsed[0])
            }
            return Sample(bytes: buffer.count * 4, seconds: times.sorted()[times.count / 2], ranks: world.size)
        }
    }
}
