import Foundation
import GRDB

/// Orders and their event log.
///
/// The store does not know which transitions are allowed (that is the core's state machine); it guarantees the
/// other half: a transition applies only if the order is still in the status the caller saw, and every applied
/// transition leaves exactly one `order_events` row, in the same transaction.
public struct OrderRepository: Sendable {
    private let database: NotifyDatabase

    /// Orders in this database.
    public init(database: NotifyDatabase) {
        self.database = database
    }

    /// Inserts a new order and its creation event (`fromStatus` nil, source `create`).
    /// A duplicate `outTradeNo` throws `StoreError.duplicate`.
    public func create(_ order: Order) async throws {
        try await database.pool.write { db in
            do {
                try order.insert(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StoreError.duplicate("order \(order.outTradeNo)")
            }
            try OrderEvent(outTradeNo: order.outTradeNo, fromStatus: nil, toStatus: order.status, source: "create", createdAt: order.createdAt)
                .insert(db)
        }
    }

    /// The order with this number, or nil.
    public func find(_ outTradeNo: String) async throws -> Order? {
        try await database.pool.read { db in try Self.find(outTradeNo, in: db) }
    }

    /// The order with this number, or nil, inside the caller's transaction.
    public static func find(_ outTradeNo: String, in db: Database) throws -> Order? {
        try Order.fetchOne(db.cachedStatement(sql: "SELECT * FROM orders WHERE out_trade_no = ?"), arguments: [outTradeNo])
    }

    /// Most recent orders first, optionally only those with `status`.
    public func list(status: String?, limit: Int) async throws -> [Order] {
        try await database.pool.read { db in
            if let status {
                return try Order.fetchAll(
                    db, sql: "SELECT * FROM orders WHERE status = ? ORDER BY created_at DESC LIMIT ?", arguments: [status, limit])
            }
            return try Order.fetchAll(db, sql: "SELECT * FROM orders ORDER BY created_at DESC LIMIT ?", arguments: [limit])
        }
    }

    /// Oldest first: orders in one of `statuses` created before `cutoff` (for reconcile and timeout sweeps).
    public func listCreated(before cutoff: Date, statuses: [String], limit: Int) async throws -> [Order] {
        try await database.pool.read { db in
            try SQLRequest<Order>(
                """
                SELECT * FROM orders WHERE status IN \(statuses) AND created_at < \(cutoff) ORDER BY created_at LIMIT \(limit)
                """
            ).fetchAll(db)
        }
    }

    /// The order's events, oldest first.
    public func events(_ outTradeNo: String) async throws -> [OrderEvent] {
        try await database.pool.read { db in
            try OrderEvent.fetchAll(db, sql: "SELECT * FROM order_events WHERE out_trade_no = ? ORDER BY id", arguments: [outTradeNo])
        }
    }

    /// Conditional update inside the caller's transaction: only if the row's status is still `from`;
    /// returns false (and writes nothing) otherwise. Appends exactly one OrderEvent when it returns true.
    ///
    /// The event's `outTradeNo`, `fromStatus` and `toStatus` are taken from the arguments; its source, job,
    /// notification and detail from `event`. Nil fields of `changes` leave their columns as they are.
    public static func transition(
        _ outTradeNo: String, from: String, to: String, changes: OrderChanges, event: OrderEvent, in db: Database
    ) throws -> Bool {
        let now = Date()
        let update = try db.cachedStatement(
            sql: """
                UPDATE orders
                SET status = ?,
                    trade_no = COALESCE(?, trade_no),
                    refunded_fen = COALESCE(?, refunded_fen),
                    paid_at = COALESCE(?, paid_at),
                    closed_at = COALESCE(?, closed_at),
                    updated_at = ?
                WHERE out_trade_no = ? AND status = ?
                """)
        try update.execute(arguments: [to, changes.tradeNo, changes.refundedFen, changes.paidAt, changes.closedAt, now, outTradeNo, from])
        guard db.changesCount == 1 else { return false }
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO order_events (out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        try insert.execute(arguments: [outTradeNo, from, to, event.source, event.jobId, event.notifyId, event.detail, event.createdAt])
        return true
    }

    /// Marks the order for a person to look at, with the reason. Returns false when there is no such order.
    @discardableResult
    public static func flagForReview(_ outTradeNo: String, reason: String, in db: Database) throws -> Bool {
        try db.execute(
            sql: "UPDATE orders SET needs_review = 1, review_reason = ?, updated_at = ? WHERE out_trade_no = ?",
            arguments: [reason, Date(), outTradeNo])
        return db.changesCount == 1
    }

    /// How many orders are in each status (statuses without orders are absent).
    public func countByStatus() async throws -> [String: Int] {
        try await database.pool.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS count FROM orders GROUP BY status") {
                counts[row["status"]] = row["count"]
            }
            return counts
        }
    }
}
