/// What can go wrong in the store, said in terms of what the caller should do.
///
/// Engines translate their own failures (GRDB's `DatabaseError`, PostgresNIO's `PSQLError`) into these cases at the
/// contract's edge, so no engine error code reaches the domain: ``unavailable(_:)`` and ``busy(_:)`` mean "try again
/// later", ``duplicate(_:)`` means the row exists, ``leaseLost(jobId:)`` means another worker owns the job now.
/// Messages never contain a password.
public enum StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The database cannot be opened or reached at all (start-up): bad path, refused connection, bad password.
    case cannotOpen(location: String, reason: String)
    /// `store.url` is not a store URL this build understands.
    case invalidURL(String)
    /// The database was migrated by a newer build: `found` lists the migrations this build does not know.
    case schemaTooNew(found: [String], known: [String])
    /// The database lacks migrations this build needs, and the caller asked not to migrate.
    case schemaBehind(pending: [String])
    /// The engine would not commit durably (SQLite without `synchronous=FULL`, PostgreSQL with `synchronous_commit` off).
    case notDurable(String)
    /// The job is no longer running under this lease: it expired and another claim took it, or it finished.
    case leaseLost(jobId: Int64)
    /// The named thing does not exist.
    case notFound(String)
    /// A row with the same key already exists.
    case duplicate(String)
    /// A write broke a rule the store enforces (a check or foreign key): a bug or bad input, not worth retrying.
    case constraint(String)
    /// A refund would make the order's refunds exceed its amount (the store's own rule); nothing was written.
    case overRefund(String)
    /// The notification writer was shut down and accepts no more appends.
    case shutDown
    /// The database is locked or the row is contended past the timeout: retry soon.
    case busy(String)
    /// A write could not be committed or the database cannot be reached now (disk full, I/O error, connection
    /// lost, server restarting): retry later. Nothing of the failed transaction was kept.
    case unavailable(String)

    /// True when trying the same thing again later may succeed.
    public var isTransient: Bool {
        switch self {
        case .busy, .unavailable, .shutDown: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let location, let reason):
            return "cannot open the store at \(location): \(reason)"
        case .invalidURL(let reason):
            return "store.url: \(reason)"
        case .schemaTooNew(let found, let known):
            return "the database was migrated by a newer alipay-notify (unknown migrations: \(found.joined(separator: ", "))); "
                + "this build knows only \(known.joined(separator: ", ")). Run the newer build, or restore a backup made before the upgrade."
        case .schemaBehind(let pending):
            return "the database needs migrations \(pending.joined(separator: ", ")); run `notifyctl db migrate`"
        case .notDurable(let reason):
            return "refusing to run without durable commits: \(reason)"
        case .leaseLost(let jobId):
            return "job \(jobId) is no longer leased to this worker (lease expired and was claimed again, or the job already finished)"
        case .notFound(let what):
            return "not found: \(what)"
        case .duplicate(let what):
            return "already exists: \(what)"
        case .constraint(let what):
            return "the store refused the write: \(what)"
        case .overRefund(let what):
            return "refused: refunds would exceed the order's amount (\(what))"
        case .shutDown:
            return "the notification writer is shut down and accepts no more notifications"
        case .busy(let reason):
            return "the database is busy: \(reason)"
        case .unavailable(let reason):
            return "the store cannot commit right now: \(reason)"
        }
    }
}
