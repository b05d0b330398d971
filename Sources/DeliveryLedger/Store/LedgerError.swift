import LMDBKit

/// Errors thrown by ``Ledger``. Messages name what is wrong and where; they are for people and
/// are not meant to be parsed.
public enum LedgerError: Error, Sendable, CustomStringConvertible {
    /// Event number `index` (0-based) of a batch is not acceptable; nothing was appended.
    case invalidEvent(index: Int, eventId: String, EventValidationError)
    /// Event `index` of the batch has an id that its stream already holds with different content:
    /// at `recordedPosition` in the log, or (`recordedPosition` nil) in event `batchIndex` of the same
    /// batch. Nothing was appended.
    case conflict(index: Int, eventId: String, stream: StreamKey, recordedPosition: UInt64?, batchIndex: Int?)
    /// Stored bytes do not decode (at a log position when known). Run `ledger verify`.
    case corrupt(position: UInt64?, what: String)
    /// The storage engine failed.
    case storage(LMDBError)
    /// The database path cannot be used.
    case cannotOpen(path: String, reason: String)
    /// The ledger at `path` is damaged (`what` names the file, page or table and what is wrong):
    /// nothing was read from it as if it were sound, and nothing was written. The message points to
    /// `ledger verify`, which says whether only the persisted projection is damaged (then `ledger
    /// reproject` rebuilds it from the log) or the log itself (then restore a backup, `ledger backup`).
    case damaged(path: String, what: String)
    /// A write to the ledger at `path` failed for lack of space (`what`: the file system is full,
    /// or the map limit is reached); the transaction was rolled back, nothing was written. The
    /// next write works once there is space.
    case full(path: String, what: String)
    /// A backup to `destination` could not be written (`what`: its file system is full, a file-size
    /// limit, the directory cannot be made). Nothing is left at the destination; the ledger is unchanged.
    case backupNotWritten(destination: String, what: String)
    /// A query's argument is out of range (for example a timeline of too many points).
    case invalidArgument(String)
    /// Another process re-projected the ledger at `path` with rule table `persisted` (`ledger
    /// reproject --rules`) after this ``Ledger`` was opened with table `own`: this instance neither
    /// reads nor writes the projection any more (its answers and checkpoints would mix two tables).
    /// Appends are refused too (they fold into the projection); nothing was written. Reopen the
    /// ledger with table `persisted`, or re-project with `own`.
    case rulesChanged(path: String, persisted: String, own: String)

    public var description: String {
        switch self {
        case let .invalidEvent(index, id, error):
            "event \(index) (id '\(id)'): \(error)"
        case let .conflict(index, id, stream, position, other):
            "event \(index): id '\(id)' "
                + (position.map { "is already recorded at position \($0)" } ?? "is used by event \(other ?? 0) of the same batch")
                + " for delivery '\(stream.delivery)'"
                + (stream.recipient.isEmpty ? "" : ", recipient '\(stream.recipient)'")
                + " with different content (an event id must never be reused for another event)"
        case let .corrupt(position, what):
            "corrupt ledger" + (position.map { " at position \($0)" } ?? "") + ": \(what)"
        case let .storage(error):
            "storage error: \(error)"
        case let .cannotOpen(path, reason):
            "cannot open ledger at '\(path)': \(reason)"
        case let .damaged(path, what) where what.contains("`ledger repair --db"):
            // What repair mends is said once, without sending to verify first (which cannot read
            // past it either and sends back to repair: found by a fresh user).
            "the ledger at '\(path)' is damaged: \(what). Nothing was written to it. After `ledger repair`, `ledger verify --db \(path)` checks the rest"
        case let .damaged(path, what):
            "the ledger at '\(path)' is damaged: \(what). Nothing was written to it. `ledger verify --db \(path)` names every problem: "
                + "when only the persisted projection is damaged (verify says so), `ledger reproject --db \(path)` rebuilds it from the log; "
                + "a damaged log needs a backup (see `ledger backup`)"
        case let .full(path, what):
            "cannot write to the ledger at '\(path)': \(what). The transaction was rolled back: nothing was written, the ledger is unchanged; free space (or raise the limit named) and run the command again"
        case let .backupNotWritten(destination, what):
            "cannot write the backup at '\(destination)': \(what). No backup was written; the ledger itself is unchanged"
        case let .invalidArgument(what):
            what
        case let .rulesChanged(path, persisted, own):
            "the projection of the ledger at '\(path)' was re-projected by another process with rule table \(persisted) since this "
                + "one opened it with \(own); nothing was read or written through it. Restart this process with that table "
                + "(--rules FILE of \(persisted)), or re-project with this one (`ledger reproject --rules FILE` of \(own))"
        }
    }
}
