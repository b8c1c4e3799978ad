/// What went wrong in a data-parallel run, each with what to do about it.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// An MPI call returned an error code.
    case mpi(call: String, code: Int32, message: String)
    /// The process was started by a launcher that is not Open MPI's (its rank would be alone).
    case foreignLauncher(variables: [String])
    /// The ranks were started with different settings (model, seed, batch, data).
    case ranksDisagree(what: String, rank0: String, thisRank: String, rank: Int)
    /// The global batch does not split evenly over the ranks.
    case unevenBatch(batch: Int, ranks: Int)
    /// Another rank failed; this one stops with it.
    case peerFailed(String)

    public var description: String {
        switch self {
        case let .mpi(call, code, message):
            return "\(call) failed with MPI error \(code): \(message)"
        case let .foreignLauncher(variables):
            return "this process was started by an MPI launcher that is not Open MPI's mpirun (it set "
                + variables.joined(separator: ", ") + "), so it would train alone and never meet the other ranks. "
                + "cnn-gpu is built against Open MPI: install it (apt-get install libopenmpi-dev openmpi-bin) and start "
                + "with its mpirun (/usr/bin/mpirun.openmpi), e.g. mpirun -np 2 cnn-gpu train lenet5"
        case let .ranksDisagree(what, rank0, mine, rank):
            return "the ranks disagree on the \(what): rank 0 has \(rank0), rank \(rank) has \(mine). "
                + "Start every rank with the same command line and the same data"
        case let .unevenBatch(batch, ranks):
            let lower = batch / ranks * ranks, upper = lower + ranks
            return "the global batch of \(batch) does not split evenly over \(ranks) ranks: pass --batch-size "
                + (lower > 0 ? "\(lower) or \(upper)" : "\(upper)") + " (a multiple of \(ranks)), or start \(ranks) ranks that divide \(batch)"
        case let .peerFailed(message):
            return message
        }
    }
}
