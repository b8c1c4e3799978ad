import CMPI
import Foundation

/// The processes of a data-parallel run (Open MPI's `MPI_COMM_WORLD`): who this one is, and the
/// few collectives training needs. Start it once per process with `MPIWorld.start()`; every
/// rank then calls the same collectives in the same order.
///
/// ```swift
/// if MPIWorld.launchedByMPIRun() {
///     let world = try MPIWorld.start()
///     var sums: [Double] = [loss, Double(correct)]
///     try world.allreduceSum(&sums)   // every rank now holds the totals
/// }
/// ```
public final class MPIWorld: @unchecked Sendable {
    /// This process's rank, 0 ..< size.
    public let rank: Int
    public let size: Int
    /// The rank among the processes on this machine (which device it opens by default).
    public let localRank: Int
    public let localSize: Int
    private let communicator: MPI_Comm?
    private static let lock = NSLock()
    nonisolated(unsafe) private static var shared: MPIWorld?

    /// Whether Open MPI's `mpirun` started this process (it sets `OMPI_COMM_WORLD_SIZE`). A
    /// process started otherwise runs alone exactly as without MPI, unless asked (`--distributed`).
    public static func launchedByMPIRun(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil
    }

    /// Variables that another MPI's launcher (MPICH's Hydra, Slurm's PMI) sets: under them Open
    /// MPI would start a singleton that never meets its peers.
    static func foreignLauncherVariables(_ environment: [String: String]) -> [String] {
        guard !launchedByMPIRun(environment) else { return [] }
        return ["PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "PMIX_RANK"].filter { environment[$0] != nil }
    }

    /// Initializes MPI (once per process; later calls return the same world).
    public static func start(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MPIWorld {
        lock.lock(); defer { lock.unlock() }
        if let shared { return shared }
        let foreign = foreignLauncherVariables(environment)
        guard foreign.isEmpty else { throw DistributedError.foreignLauncher(variables: foreign) }
        var initialized: Int32 = 0
        try check(MPI_Initialized(&initialized), "MPI_Initialized")
        if initialized == 0 {
            // Funneled: the data loader and the CPU backend run worker threads, but only the
            // training loop's thread calls MPI.
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, cnn_mpi_thread_funneled(), &provided), "MPI_Init_thread")
        }
        let world = cnn_mpi_comm_world()
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        // The ranks sharing this machine's memory: their order picks the local device.
        var local = cnn_mpi_comm_null()
        try check(MPI_Comm_split_type(world, cnn_mpi_comm_type_shared(), rank, cnn_mpi_info_null(), &local), "MPI_Comm_split_type")
        var localRank: Int32 = 0, localSize: Int32 = 0
        try check(MPI_Comm_rank(local, &localRank), "MPI_Comm_rank")
        try check(MPI_Comm_size(local, &localSize), "MPI_Comm_size")
        MPI_Comm_free(&local)
        let made = MPIWorld(rank: Int(rank), size: Int(size), localRank: Int(localRank), localSize: Int(localSize), communicator: world)
        shared = made
        return made
    }

    private init(rank: Int, size: Int, localRank: Int, localSize: Int, communicator: MPI_Comm?) {
        self.rank = rank; self.size = size; self.localRank = localRank; self.localSize = localSize
        self.communicator = communicator
    }

    public var isRoot: Bool { rank == 0 }

    /// Sums `values` over every rank, in place.
    public func allreduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try Self.check(MPI_Allreduce(cnn_mpi_in_place(), values.baseAddress, Int32(values.count), cnn_mpi_float(), cnn_mpi_sum(),
                                     communicator), "MPI_Allreduce")
    }

    public func allreduceSum(_ values: inout [Double]) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer {
            try Self.check(MPI_Allreduce(cnn_mpi_in_place(), $0.baseAddress, count, cnn_mpi_double(), cnn_mpi_sum(), communicator),
                           "MPI_Allreduce")
        }
    }

    public func allreduceMax(_ values: inout [Double]) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer {
            try Self.check(MPI_Allreduce(cnn_mpi_in_place(), $0.baseAddress, count, cnn_mpi_double(), cnn_mpi_max(), communicator),
                           "MPI_Allreduce")
        }
    }

    /// Whether `flag` is set on any rank (every rank gets the same answer).
    public func any(_ flag: Bool) throws -> Bool {
        var v = [flag ? 1.0 : 0.0]
        try allreduceMax(&v)
        return v[0] > 0
    }

    /// Rank 0's `text` on every rank.
    public func broadcast(_ text: String) throws -> String {
        var bytes = Array(text.utf8).map { CChar(bitPattern: $0) }
        var count = [Double(bytes.count)]
        try allreduceMax(&count)   // the longest text: every rank's buffer holds rank 0's
        bytes += [CChar](repeating: 0, count: Int(count[0]) - bytes.count + 1)
        try bytes.withUnsafeMutableBufferPointer {
            try Self.check(MPI_Bcast($0.baseAddress, Int32($0.count), cnn_mpi_char(), 0, communicator), "MPI_Bcast")
        }
        return String(cString: bytes)
    }

    /// Checks that every rank has the same `value` for `what`; throws on every rank otherwise.
    public func requireAgreement(on what: String, _ value: String) throws {
        let rootValue = try broadcast(value)
        let disagree = try any(rootValue != value)
        guard disagree else { return }
        if rootValue != value {
            throw DistributedError.ranksDisagree(what: what, rank0: rootValue, thisRank: value, rank: rank)
        }
        throw DistributedError.peerFailed("the ranks disagree on the \(what) (rank 0 has \(rootValue)); "
            + "start every rank with the same command line and the same data")
    }

    /// An allreduce (sum) of `values` in place, started now and finished by `wait`. The memory
    /// must stay valid and untouched until then.
    public func startAllreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws -> Request {
        var request = cnn_mpi_request_null()
        try Self.check(MPI_Iallreduce(cnn_mpi_in_place(), values.baseAddress, Int32(values.count), cnn_mpi_float(), cnn_mpi_sum(),
                                      communicator, &request), "MPI_Iallreduce")
        return Request(request)
    }

    /// A nonblocking collective in flight.
    public final class Request {
        fileprivate var handle: MPI_Request?
        fileprivate init(_ handle: MPI_Request?) { self.handle = handle }

        /// Lets MPI progress the transfer (Open MPI moves data only inside MPI calls); true once done.
        public func test() throws -> Bool {
            var done: Int32 = 0
            try MPIWorld.check(MPI_Test(&handle, &done, cnn_mpi_status_ignore()), "MPI_Test")
            return done != 0
        }

        public func wait() throws {
            try MPIWorld.check(MPI_Wait(&handle, cnn_mpi_status_ignore()), "MPI_Wait")
        }
    }

    /// Ends every rank of the run at once (a rank that failed alone would leave the others
    /// waiting in a collective forever).
    public func abort(code: Int32 = 1) -> Never {
        MPI_Abort(communicator, code)
        exit(code)
    }

    /// Finalizes MPI; call once at the end of a run on every rank. (Deliberately not at exit:
    /// a rank that exits without it makes mpirun end the whole job, where a finalize that
    /// waits for ranks stuck in a collective would hang.)
    public func finish() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    fileprivate static func check(_ code: Int32, _ call: String) throws {
        guard code != cnn_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(cnn_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        throw DistributedError.mpi(call: call, code: code, message: String(cString: text))
    }
}
