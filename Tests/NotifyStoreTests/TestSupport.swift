import Foundation
import GRDB
import Testing

@testable import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport

/// A fresh database file in its own temporary folder, removed after `body`.
func withDatabase<T>(
    busyTimeout: Duration = .seconds(5), _ body: (SQLiteStore) async throws -> T
) async throws -> T {
    try await withTemporaryFolder { folder in
        let database = try SQLiteStore(path: folder.appendingPathComponent("store.sqlite").path, busyTimeout: busyTimeout)
        return try await body(database)
    }
}

/// A fresh temporary folder, removed after `body`.
func withTemporaryFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notify-store-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try await body(folder)
}

/// A fixed instant so that tests can reason about `runAt` and lease expiry without waiting.
let testNow = Date(timeIntervalSince1970: 1_750_000_000)

extension SQLiteStore {
    /// `SELECT COUNT(*)` of a table, for assertions.
    func count(_ table: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)")! }
    }
}

func notification(_ notifyId: String, outTradeNo: String = "T1", status: String = "TRADE_SUCCESS") -> IncomingNotification {
    IncomingNotification(
        notifyId: notifyId, outTradeNo: outTradeNo, tradeStatus: status,
        body: "notify_id=\(notifyId)&out_trade_no=\(outTradeNo)&trade_status=\(status)&subject=%E6%B5%8B%E8%AF%95+1&sign=a%2Bb%3D")
}
