/// Assigns tensors to shared device buffers so that tensors alive at the same time never share
/// one. Greedy by size (largest first, best fit), the strategy TensorFlow Lite's arena planner
/// uses: every buffer is as large as its first (largest) tensor, so the total is the sum of the
/// buffer sizes and is exactly what gets allocated.
struct MemoryPlanner {
    struct Request {
        var count: Int
        var dtype: DType
        /// First and last step (inclusive) at which the tensor is written or read.
        var first: Int, last: Int
    }

    struct Assignment {
        /// Buffer index of each request.
        var buffer: [Int]
        /// Element count and type of each buffer.
        var buffers: [(count: Int, dtype: DType)]

        var bytes: Int { buffers.reduce(0) { $0 + $1.count * $1.dtype.byteSize } }
    }

    static func assign(_ requests: [Request]) -> Assignment {
        var buffer = [Int](repeating: -1, count: requests.count)
        var buffers: [(count: Int, dtype: DType)] = []
        var occupants: [[Int]] = []
        let order = requests.indices.sorted {
            requests[$0].count != requests[$1].count ? requests[$0].count > requests[$1].count : $0 < $1
        }
        for r in order {
            let t = requests[r]
            var best: Int?
            for (b, info) in buffers.enumerated() where info.dtype == t.dtype && info.count >= t.count {
                let free = occupants[b].allSatisfy { requests[$0].last < t.first || requests[$0].first > t.last }
                if free && (best == nil || info.count < buffers[best!].count) { best = b }
            }
            if let best {
                buffer[r] = best
                occupants[best].append(r)
            } else {
                buffer[r] = buffers.count
                buffers.append((t.count, t.dtype))
                occupants.append([r])
            }
        }
        return Assignment(buffer: buffer, buffers: buffers)
    }
}
