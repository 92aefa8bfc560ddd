import Foundation
import GRDB
import NotifyStore

#if canImport(Glibc)
    import Glibc
#endif

/// `notifyctl db backup` and `db restore` on SQLite: an online, consistent copy written atomically, and a restore that
/// never swaps the file under a running daemon and keeps what it replaced.
public enum SQLiteBackup {
    /// What a backup holds.
    public struct Report: Sendable, Codable {
        /// The backup file.
        public var path: String
        /// Its size in bytes.
        public var bytes: Int
        /// Rows per table.
        public var counts: [String: Int]
        /// The migrations its schema has.
        public var migrations: [String]
        /// The newest order event in it: about when the data stops.
        public var lastEventAt: Date?
    }

    /// What a restore did.
    public struct RestoreReport: Sendable, Codable {
        /// The backup restored.
        public var backup: Report
        /// Where the replaced database (and its -wal/-shm) now is; nil when there was none.
        public var replacedKeptAt: String?
        /// Unpaid orders of the backup, queued for `alipay.trade.query` at once: payments made after the backup are
        /// found this way, and notifications Alipay re-sends are applied as usual.
        public var reconcileQueued: Int
        /// Orders the replaced database had and the backup lacks (when the replaced file could still be read): they
        /// are not recovered by this tool — recreate them, and check them in the Alipay console.
        public var missingOrders: [String]
    }

    /// Copies the live database to `destination` with SQLite's online backup (a consistent snapshot, the daemons keep
    /// running), checks it with `PRAGMA integrity_check`, and only then moves it into place (temp file, fsync, rename,
    /// fsync of the folder): `destination` is either the old file or a complete new one.
    public static func backup(databaseAt path: String, to destination: String) throws -> Report {
        let store = try SQLiteStore(path: path, migrate: false)
        defer { try? store.pool.close() }
        return try backup(store, to: destination)
    }

    /// `backup(databaseAt:to:)` from an open store.
    public static func backup(_ store: SQLiteStore, to destination: String) throws -> Report {
        let target = URL(fileURLWithPath: destination).standardizedFileURL
        let folder = target.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temporary = folder.appendingPathComponent(".\(target.lastPathComponent).partial-\(UUID().uuidString.prefix(8))")
        do {
            let copy = try DatabaseQueue(path: temporary.path)
            try store.pool.backup(to: copy)
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try copy.close()
            var report = try inspect(temporary.path)
            try syncFile(temporary.path)
            guard rename(temporary.path, target.path) == 0 else {
                throw StoreError.unavailable("cannot move the backup into place: \(String(cString: strerror(errno)))")
            }
            try syncFile(folder.path)
            report.path = target.path
            return report
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw SQLiteStore.translate(error)
        }
    }

    /// Replaces the database at `path` with `backup`. Refuses while a daemon holds the database, or when the backup
    /// is damaged or newer than this build; keeps the replaced files beside it (`PATH.before-restore-STAMP`); then
    /// migrates the restored file and queues a `trade.query` for every unpaid order of the backup.
    public static func restore(from backup: String, to path: String, now: Date = Date()) throws -> RestoreReport {
        let lock = try SQLiteDaemonLock(databasePath: path, exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        guard FileManager.default.fileExists(atPath: backup) else { throw StoreError.notFound("backup \(backup)") }
        let report = try inspect(backup)
        let known = Set(SQLiteStore.knownMigrations)
        let unknown = report.migrations.filter { !known.contains($0) }
        guard unknown.isEmpty else { throw StoreError.schemaTooNew(found: unknown, known: SQLiteStore.knownMigrations) }

        // Keep what is replaced, with its WAL: it may hold what the backup lacks.
        var keptAt: String?
        var replacedOrders: Set<String> = []
        if FileManager.default.fileExists(atPath: path) {
            replacedOrders = (try? orderNumbers(in: path)) ?? []
            let stamp = ISO8601DateFormatter().string(from: now).replacingOccurrences(of: ":", with: "")
            let aside = "\(path).before-restore-\(stamp)"
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            keptAt = aside
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".restore-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.copyItem(atPath: backup, toPath: temporary)
        try syncFile(temporary)
        guard rename(temporary, path) == 0 else {
            throw StoreError.unavailable("cannot move the restored file into place: \(String(cString: strerror(errno)))")
        }
        try syncFile(folder.path)

        let store = try SQLiteStore(path: path, migrate: true)
        defer { try? store.pool.close() }
        let (queued, restoredOrders) = try store.pool.write { db -> (Int, Set<String>) in
            let tx = SQLiteTransaction(db)
            var count = 0
            for order in try tx.ordersWithoutJobs(
                statuses: OrderStatus.unpaid, createdBefore: now, liveKinds: [.reconcile], deadKinds: [], limit: 1_000_000)
            {
                let job = NewJob(kind: .reconcile, uniqueKey: "reconcile:\(order.outTradeNo)", outTradeNo: order.outTradeNo, runAt: now)
                if try tx.enqueue(job).inserted { count += 1 }
            }
            return (count, Set(try String.fetchAll(db, sql: "SELECT out_trade_no FROM orders")))
        }
        return RestoreReport(
            backup: report, replacedKeptAt: keptAt, reconcileQueued: queued, missingOrders: replacedOrders.subtracting(restoredOrders).sorted())
    }

    /// Integrity, row counts, migrations and the newest event of a database file (opened read-only).
    public static func inspect(_ path: String) throws -> Report {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            guard integrity == ["ok"] else {
                throw StoreError.constraint("\(path) fails PRAGMA integrity_check: \(integrity.prefix(3).joined(separator: "; "))")
            }
            guard try db.tableExists("grdb_migrations"), try db.tableExists("orders") else {
                throw StoreError.constraint("\(path) is not an alipay-notify database")
            }
            let counts = Dictionary(uniqueKeysWithValues: try SQLiteTransaction(db).rowCounts().map { ($0.key.rawValue, $0.value) })
            let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            return Report(
                path: path, bytes: bytes, counts: counts,
                migrations: try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid"),
                lastEventAt: try Date.fetchOne(db, sql: "SELECT MAX(created_at) FROM order_events"))
        }
    }

    private static func orderNumbers(in path: String) throws -> Set<String> {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return Set(try queue.read { db in try String.fetchAll(db, sql: "SELECT out_trade_no FROM orders") })
    }

    /// fsync of a file or a folder (a rename is durable only once its folder is).
    private static func syncFile(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StoreError.unavailable("cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StoreError.unavailable("fsync of \(path) failed: \(String(cString: strerror(errno)))") }
    }
}
