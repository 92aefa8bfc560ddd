/// What can go wrong in the store, each with a message an operator can act on.
///
/// Low-level SQLite failures inside ordinary reads and writes surface as GRDB's `DatabaseError`;
/// these cases are the ones callers are expected to handle or show.
public enum StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The database file or its folder cannot be opened or created.
    case cannotOpen(path: String, reason: String)
    /// The database was migrated by a newer build: `found` lists the migrations this build does not know.
    case schemaTooNew(found: [String], known: [String])
    /// The database lacks migrations this build needs, and the caller asked not to migrate.
    case schemaBehind(pending: [String])
    /// SQLite did not keep `synchronous=FULL` on the writer connection, so commits would not be durable.
    case notDurable(synchronous: String)
    /// The job is no longer running under this owner: its lease expired and another owner claimed it, or it finished.
    case leaseLost(jobId: Int64)
    /// The named thing does not exist.
    case notFound(String)
    /// A row with the same key already exists.
    case duplicate(String)
    /// The notification writer was shut down and accepts no more appends.
    case shutDown
    /// A write could not be committed (disk full, database locked past the busy timeout, constraint failure…).
    case unavailable(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open the database at \(path): \(reason)"
        case .schemaTooNew(let found, let known):
            return "the database was migrated by a newer alipay-notify (unknown migrations: \(found.joined(separator: ", "))); "
                + "this build knows only \(known.joined(separator: ", ")). Run the newer build, or restore a backup made before the upgrade."
        case .schemaBehind(let pending):
            return "the database needs migrations \(pending.joined(separator: ", ")); run `notifyctl db migrate`"
        case .notDurable(let synchronous):
            return "SQLite kept synchronous=\(synchronous) on the writer connection instead of FULL; refusing to run without durable commits"
        case .leaseLost(let jobId):
            return "job \(jobId) is no longer leased to this worker (lease expired and was claimed again, or the job already finished)"
        case .notFound(let what):
            return "not found: \(what)"
        case .duplicate(let what):
            return "already exists: \(what)"
        case .shutDown:
            return "the notification writer is shut down and accepts no more notifications"
        case .unavailable(let reason):
            return "the store cannot commit right now: \(reason)"
        }
    }
}
