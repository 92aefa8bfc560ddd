import Foundation
import GRDB
import NotifyStore

#if canImport(Glibc)
    import Glibc
#endif

/// The SQLite engine of the store contract: a WAL `DatabasePool` whose writer commits with `synchronous=FULL`.
///
/// Opening checks, in order: the folder and file can be created, SQLite kept `synchronous=FULL` on the writer
/// (GRDB sets NORMAL while switching to WAL, so it is set again and read back), and the schema is not newer than
/// this build. Every write transaction is `BEGIN IMMEDIATE` (GRDB 7 picks IMMEDIATE for write accesses), so a
/// writer waits for the lock up to the busy timeout at BEGIN instead of failing at its first write.
///
/// ```swift
/// let store = try SQLiteStore(path: "var/alipay-notify.sqlite")
/// let order = try await store.read { db in try db.order("A1") }
/// ```
public final class SQLiteStore: Sendable {
    /// The GRDB pool: one writer connection, concurrent readers.
    public let pool: DatabasePool
    /// The database file path as given.
    public let path: String
    /// The migrations this handle applied when it opened (empty when the schema was already current).
    public let migrationsAppliedOnOpen: [String]

    /// The migrations this build knows, in order (`notifyctl db migrate` prints them).
    public static var knownMigrations: [String] { SQLiteMigrations.known }

    /// Opens (creating the folder and file if needed) a DatabasePool in WAL with synchronous=FULL *verified* on the writer,
    /// busy timeout, foreign keys. `migrate: true` applies pending migrations; `false` refuses a schema that is behind.
    /// Always refuses a schema newer than this build knows (`StoreError.schemaTooNew`).
    /// The writer's page cache when the opener names none (tools, tests). The daemons pass their own default
    /// (`store.cacheMegabytes` unset: 8 MiB for the receiver, 4 for the worker; BENCHMARKS.md, "Memory: the page
    /// cache default").
    public static let defaultCacheMegabytes = 8

    /// Held by the daemons for as long as the store is open, so that `notifyctl db restore` can refuse to replace the
    /// file under them (nil for `notifyctl` and tests).
    let daemonLock: SQLiteDaemonLock?
    /// Datagrams to the workers of this file when a commit enqueued jobs.
    let wakeUps: SQLiteWakeUps

    /// `cacheMegabytes` is the writer connection's page cache; it only fills as pages are used. `daemon` takes the
    /// shared daemon lock (see ``SQLiteDaemonLock``).
    public init(
        path: String, migrate: Bool = true, busyTimeout: Duration = .seconds(5), cacheMegabytes: Int = defaultCacheMegabytes,
        daemon: Bool = false
    ) throws {
        self.path = path
        wakeUps = SQLiteWakeUps(databasePath: path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw StoreError.cannotOpen(location: "sqlite:\(path)", reason: "cannot create the folder \(folder.path): \(Self.why(folder))")
        }
        daemonLock = daemon ? try SQLiteDaemonLock(databasePath: path, exclusive: false) : nil

        var configuration = Configuration()
        configuration.label = "alipay-notify"
        configuration.journalMode = .wal
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout.seconds)
        do {
            pool = try Self.openPool(path: path, configuration: configuration, busyTimeout: busyTimeout)
            // DatabasePool switched the writer to WAL with synchronous=NORMAL; an acknowledged notification
            // must survive a power cut, so the writer commits with FULL (fsync of the WAL on every commit).
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // Enqueue touches a random page of the notify_id index per notification: with a long history those
                // pages must stay cached, or every commit reads them back (BENCHMARKS.md, queue at 1,000,000 rows).
                try db.execute(sql: "PRAGMA cache_size = \(-1024 * max(2, cacheMegabytes))")
                // A savepoint keeps the pages it changes in a sub-journal so that it can roll back alone; the worker
                // applies each job of a batch in its own savepoint, and with temporary files that sub-journal was
                // a file written 4 KiB per changed page: 70 KiB per applied notification, a fifth of the writer's time
                // in pwrite (BENCHMARKS.md). In memory it is freed at each RELEASE. (The durable files are unchanged.)
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
        } catch {
            throw StoreError.cannotOpen(location: "sqlite:\(path)", reason: "\(error)")
        }
        let synchronous = try Self.synchronousMode(of: pool)
        guard synchronous == "full" else {
            throw StoreError.notDurable("SQLite kept synchronous=\(synchronous) on the writer connection instead of FULL")
        }

        if migrate {
            migrationsAppliedOnOpen = try Self.migrate(pool, path: path)
        } else {
            let pending = try Self.pendingMigrations(in: pool)
            guard pending.isEmpty else { throw StoreError.schemaBehind(pending: pending) }
            migrationsAppliedOnOpen = []
        }
    }

    /// Applies what is pending, under an exclusive file lock (`PATH.migrate.lock`), and returns what this call applied.
    ///
    /// GRDB's migrator decides what is pending before each migration's own transaction, so two processes opening a new
    /// file together (the receiver and the worker at boot) could both run `v1` and one would fail; the lock makes the
    /// second wait and then find nothing to do — as PostgreSQL's advisory lock does.
    private static func migrate(_ pool: DatabasePool, path: String) throws -> [String] {
        let lockPath = path + ".migrate.lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StoreError.cannotOpen(location: "sqlite:\(path)", reason: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
        let pending = try pendingMigrations(in: pool)
        guard !pending.isEmpty else { return [] }
        try SQLiteMigrations.migrator.migrate(pool)
        return pending
    }

    /// Opens the pool, waiting out another process's opening of the same new file. Switching a new file to WAL needs
    /// an exclusive lock that SQLite's busy handler does not wait for, so the receiver, the worker and `notifyctl`
    /// starting together on a fresh database would otherwise fail with "database is locked": retried here until the
    /// busy timeout.
    private static func openPool(path: String, configuration: Configuration, busyTimeout: Duration) throws -> DatabasePool {
        let deadline = ContinuousClock.now + busyTimeout
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
    }

    /// Applies the migrations this database lacks and returns their names (empty when it was up to date).
    ///
    /// Throws `StoreError.schemaTooNew` before touching anything when a newer build migrated the database.
    @discardableResult
    func migrateNow() throws -> [String] {
        try Self.migrate(pool, path: path)
    }

    /// The migrations this build knows and the database has not applied yet.
    ///
    /// Throws `StoreError.schemaTooNew` when the database has applied migrations this build does not know.
    func pendingMigrationsNow() throws -> [String] {
        try Self.pendingMigrations(in: pool)
    }

    private static func pendingMigrations(in pool: DatabasePool) throws -> [String] {
        let migrator = SQLiteMigrations.migrator
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        let known = migrator.migrations
        let unknown = applied.subtracting(known).sorted()
        guard unknown.isEmpty else { throw StoreError.schemaTooNew(found: unknown, known: known) }
        return known.filter { !applied.contains($0) }
    }

    /// The writer connection's `PRAGMA synchronous`, as a word: "off", "normal", "full" or "extra".
    public func synchronousMode() throws -> String {
        try Self.synchronousMode(of: pool)
    }

    private static func synchronousMode(of pool: DatabasePool) throws -> String {
        let value = try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        switch value {
        case 0: return "off"
        case 1: return "normal"
        case 2: return "full"
        case 3: return "extra"
        default: return String(describing: value)
        }
    }

    /// The writer connection's `PRAGMA journal_mode` ("wal").
    public func journalMode() throws -> String {
        try pool.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } ?? "unknown"
    }

    /// True when a write transaction commits now (for /readyz): the file is writable and not locked past the busy timeout.
    public func isWritable() async -> Bool {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO store_heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at", arguments: [SQLiteTime.value(Date())])
            }
            return true
        } catch {
            return false
        }
    }

    /// Why a folder cannot be created, in words: the nearest existing ancestor is a file, or is not writable.
    static func why(_ folder: URL) -> String {
        var ancestor = folder
        while !FileManager.default.fileExists(atPath: ancestor.path), ancestor.pathComponents.count > 1 {
            ancestor = ancestor.deletingLastPathComponent()
        }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory)
        if !isDirectory.boolValue { return "\(ancestor.path) is a file, not a folder" }
        if !FileManager.default.isWritableFile(atPath: ancestor.path) { return "\(ancestor.path) is not writable by this user" }
        return "the system refused (out of space, or a read-only file system?)"
    }
}
