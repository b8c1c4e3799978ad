import ArgumentParser
import CNNGPU

/// What `train` prints: everything on one process, rank 0's alone under mpirun (one copy of
/// each line, not one per rank).
enum RankOutput {
    nonisolated(unsafe) static var quiet = false

    /// On a terminal, a line wider than the window is wrapped under its value column.
    static func say(_ line: String) {
        guard !quiet else { return }
        print(TerminalText.standardOutputWidth.map { TerminalText.wrap(line, width: $0) } ?? line)
    }
}

/// Errors every rank of a data-parallel run meets together, so each can stop normally.
enum DistributedFailure {
    static func isShared(_ error: Error) -> Bool {
        switch error {
        // train() reports a TrainingStop or TrainingDiverged (from rank 0) and exits with a code.
        case is TrainingStop, is TrainingDiverged, is ExitCode: return true
        case let error as DistributedError:
            switch error {
            case .mpi: return false
            case .foreignLauncher, .ranksDisagree, .unevenBatch, .peerFailed: return true
            }
        default: return false
        }
    }

    /// Whether this rank says it: rank 0 for what all ranks met, and the rank that differs from
    /// rank 0 for a disagreement (rank 0 only learns that one did, so it stays quiet).
    static func isReported(_ error: Error, byRoot isRoot: Bool) -> Bool {
        switch error as? DistributedError {
        case .ranksDisagree: return true
        case .peerFailed: return false
        default: return isRoot
        }
    }
}
