import Foundation
import GRDB
import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport

/// Reads what the daemons committed, straight from the SQLite file (as an operator would after a crash).
enum StoreInspector {
    /// Stored notifications by `notify_id`.
    static func notifications(at path: String) throws -> [String: StoredNotification] {
        let database = try SQLiteStore(path: path, migrate: false)
        let rows = try database.pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM notifications").map(StoredNotification.init(row:)) }
        return Dictionary(rows.map { ($0.notifyId, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Jobs of one kind.
    static func jobs(at path: String, kind: JobKind) throws -> [Job] {
        let database = try SQLiteStore(path: path, migrate: false)
        return try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE kind = ?", arguments: [kind.rawValue]).map(Job.init(row:))
        }
    }
}
