import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite

/// Fills a queue database in SQL, many rows per statement: weeks of history, and due jobs for a claim run.
///
/// A million Swift calls would take longer than the benchmark itself; a recursive CTE writes a chunk of rows in one
/// `INSERT … SELECT`. The rows have the shapes the daemons write (GRDB's date text, Alipay-sized bodies, one
/// `job_attempts` row per finished attempt), so the indexes grow as they do in production.
enum QueueSeed {
    /// Rows per seeding transaction: keeps the WAL to a few hundred MB however large the history is.
    static let chunk = 100_000

    /// An Alipay `TRADE_SUCCESS` notification body (about 1 KB) around a notify_id, an out_trade_no and a signature.
    static func body(notifyId: String, outTradeNo: String, signature: String) -> String {
        bodyHead + notifyId + bodyMiddle + outTradeNo + bodyTail + signature
    }

    private static let bodyHead =
        "gmt_create=2026-11-01+10%3A00%3A00&charset=utf-8&seller_email=merchant%40example.com&subject=bench+order"
        + "&sign_type=RSA2&buyer_id=2088102177846880&invoice_amount=88.88&notify_id="
    private static let bodyMiddle =
        "&fund_bill_list=%5B%7B%22amount%22%3A%2288.88%22%2C%22fundChannel%22%3A%22ALIPAYACCOUNT%22%7D%5D"
        + "&notify_type=trade_status_sync&trade_status=TRADE_SUCCESS&receipt_amount=88.88&app_id=2021000000000001"
        + "&buyer_pay_amount=88.88&seller_id=2088000000000001&gmt_payment=2026-11-01+10%3A00%3A05"
        + "&notify_time=2026-11-01+10%3A00%3A06&version=1.0&out_trade_no="
    private static let bodyTail =
        "&total_amount=88.88&trade_no=2026110122001446880500123456&auth_app_id=2021000000000001"
        + "&buyer_logon_id=159****5620&point_amount=0.00&sign="

    /// Writes `rows` jobs of history spread over the last `days` days: about 98.5% done, 1% pending (retries due
    /// within the next hour, so a claim skips them), 0.5% dead; 85% `notification` jobs, each with its stored
    /// notification, the rest `reconcile` and `close`. Every job has one `job_attempts` row.
    static func history(rows: Int, days: Double, in database: SQLiteStore, progress: (Int) -> Void) async throws {
        let now = Date().timeIntervalSince1970
        let start = now - days * 86_400
        let step = days * 86_400 / Double(max(rows, 1))
        for first in stride(from: 1, through: rows, by: chunk) {
            let last = min(rows, first + chunk - 1)
            try await database.pool.write { db in
                // A notify_id that is unique and scattered like Alipay's (an odd multiplier is a bijection mod 2^32), and an
                // out_trade_no that grows with time like most merchants' order numbers.
                let rowsCTE = """
                    WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2),
                    r AS (
                        SELECT i,
                               printf('%08x%024x', (i * 2654435761) % 4294967296, i) AS nid,
                               strftime('%Y-%m-%d %H:%M:%f', ?3 + i * ?4, 'unixepoch') AS at,
                               'ORD' || CAST((?3 + i * ?4) * 1000000 AS INTEGER) || '-' || i AS otn,
                               CASE WHEN i % 20 < 17 THEN 'notification' WHEN i % 20 < 19 THEN 'reconcile' ELSE 'close' END AS kind,
                               CASE WHEN i % 200 = 7 THEN 'dead' WHEN i % 100 = 3 THEN 'pending' ELSE 'done' END AS state
                        FROM n)
                    """
                try db.execute(
                    sql: rowsCTE + """
                        INSERT INTO notifications (id, notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at, delivery_count)
                        SELECT i, nid, otn, 'TRADE_SUCCESS', ?5 || nid || ?6 || otn || ?7 || hex(randomblob(172)), at, at,
                               1 + (i % 7 = 0)
                        FROM r WHERE kind = 'notification'
                        """,
                    arguments: [first, last, start, step, bodyHead, bodyMiddle, bodyTail])
                try db.execute(
                    sql: rowsCTE + """
                        INSERT INTO jobs (id, kind, state, unique_key, out_trade_no, notification_id, notify_id, attempts, run_at,
                                          lease_owner, lease_expires_at, last_error, created_at, updated_at)
                        SELECT i, kind, state,
                               CASE kind WHEN 'notification' THEN 'notification:' || nid ELSE kind || ':' || otn END,
                               otn,
                               CASE kind WHEN 'notification' THEN i END,
                               CASE kind WHEN 'notification' THEN nid END,
                               CASE state WHEN 'done' THEN 1 WHEN 'dead' THEN 8 ELSE 3 END,
                               CASE state WHEN 'pending' THEN strftime('%Y-%m-%d %H:%M:%f', ?5 + 60 + i % 3600, 'unixepoch') ELSE at END,
                               NULL, NULL,
                               CASE state WHEN 'done' THEN NULL ELSE 'alipay.trade.query: HTTP 502 from the gateway' END,
                               at, at
                        FROM r
                        """,
                    arguments: [first, last, start, step, now])
                try db.execute(
                    sql: """
                        INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at)
                        SELECT id, attempts, 'notify-worker-seed',
                               CASE state WHEN 'done' THEN 'done' WHEN 'dead' THEN 'dead' ELSE 'retry' END, last_error, updated_at
                        FROM jobs WHERE id BETWEEN ? AND ?
                        """,
                    arguments: [first, last])
            }
            progress(last)
        }
        try await checkpoint(database)
    }

    /// Adds `count` pending `reconcile` jobs due now (unique keys tagged with `tag`), for a claim run.
    static func dueJobs(_ count: Int, tag: String, in database: SQLiteStore) async throws {
        guard count > 0 else { return }
        let now = Date()
        for first in stride(from: 1, through: count, by: chunk) {
            let last = min(count, first + chunk - 1)
            try await database.pool.write { db in
                try db.execute(
                    sql: """
                        WITH RECURSIVE n(k) AS (SELECT ?1 UNION ALL SELECT k + 1 FROM n WHERE k < ?2)
                        INSERT INTO jobs (kind, state, unique_key, out_trade_no, attempts, run_at, created_at, updated_at)
                        SELECT 'reconcile', 'pending', 'reconcile:DUE-' || ?3 || '-' || k, 'DUE-' || ?3 || '-' || k, 0, ?4, ?4, ?4 FROM n
                        """,
                    arguments: [first, last, tag, now])
            }
        }
        try await checkpoint(database)
    }

    /// Folds the WAL back into the database file, so that a measured run starts at the beginning of the WAL.
    ///
    /// RESTART, not TRUNCATE: the WAL file keeps its size, as it does in production (no `journal_size_limit`), so
    /// measured commits do not pay for growing it.
    static func checkpoint(_ database: SQLiteStore) async throws {
        try await database.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.restart) }
    }
}
