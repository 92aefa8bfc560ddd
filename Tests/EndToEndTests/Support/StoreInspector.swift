import Foundation
import GRDB
import NotifyStore

/// Reads what the daemons committed, straight from the SQLite file (as an operator would after a crash).
enum StoreInspector {
    /// Stored notifications by `notify_id`.
    static func notifications(at path: String) throws -> [String: StoredNotification] {
        let database = try NotifyDatabase(path: path, migrate: false)
        let rows = try database.pool.read { db in try StoredNotification.fetchAll(db) }
        return Dictionary(rows.map { ($0.notifyId, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Jobs of one kind.
    static func jobs(at path: String, kind: JobKind) throws -> [Job] {
        let database = try NotifyDatabase(path: path, migrate: false)
        return try database.pool.read { db in
            try Job.filter(Column("kind") == kind.rawValue).fetchAll(db)
        }
    }
}
