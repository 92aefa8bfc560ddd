import Foundation

/// The tables `notifyctl db copy` moves from one store to another, in an order that keeps every reference valid
/// (orders before their refunds and events, notifications before their jobs, jobs before their attempts).
public enum StoreTable: String, CaseIterable, Sendable, Codable {
    case orders
    case refunds
    case orderEvents = "order_events"
    case notifications
    case jobs
    case jobAttempts = "job_attempts"
    case webhookEndpoints = "webhook_endpoints"
    case webhookEvents = "webhook_events"
    case deliveryAttempts = "delivery_attempts"
}

/// One page of one table, rows in key order (`out_trade_no` for orders, `endpoint_id` for webhook endpoints, the
/// id for the others), keys included, so
/// that a copy keeps every id and every reference between rows.
public enum StoreRows: Sendable {
    case orders([Order])
    case refunds([Refund])
    case orderEvents([OrderEvent])
    case notifications([StoredNotification])
    case jobs([Job])
    case jobAttempts([JobAttempt])
    case webhookEndpoints([WebhookEndpoint])
    case webhookEvents([WebhookEvent])
    case deliveryAttempts([DeliveryAttempt])

    /// Rows in the page.
    public var count: Int {
        switch self {
        case .orders(let rows): rows.count
        case .refunds(let rows): rows.count
        case .orderEvents(let rows): rows.count
        case .notifications(let rows): rows.count
        case .jobs(let rows): rows.count
        case .jobAttempts(let rows): rows.count
        case .webhookEndpoints(let rows): rows.count
        case .webhookEvents(let rows): rows.count
        case .deliveryAttempts(let rows): rows.count
        }
    }

    /// The key of the page's last row: where the next page starts.
    public var lastKey: StoreCopyKey? {
        switch self {
        case .orders(let rows): rows.last.map { .text($0.outTradeNo) }
        case .refunds(let rows): rows.last?.id.map { .id($0) }
        case .orderEvents(let rows): rows.last?.id.map { .id($0) }
        case .notifications(let rows): rows.last?.id.map { .id($0) }
        case .jobs(let rows): rows.last?.id.map { .id($0) }
        case .jobAttempts(let rows): rows.last?.id.map { .id($0) }
        case .webhookEndpoints(let rows): rows.last.map { .text($0.endpointId) }
        case .webhookEvents(let rows): rows.last?.id.map { .id($0) }
        case .deliveryAttempts(let rows): rows.last?.id.map { .id($0) }
        }
    }
}

/// Where a page starts: after this `out_trade_no` (orders) or `endpoint_id` (webhook endpoints), or id (the other tables).
public enum StoreCopyKey: Sendable, Equatable {
    case text(String)
    case id(Int64)
}

/// Copies every table of `source` into `target`, page by page, keeping ids, then compares the row counts.
///
/// Idempotent: rows whose key the target already has are left as they are, so an interrupted copy is finished by
/// running it again. The target must be empty or an earlier copy of the same source, and the daemons must be stopped
/// on the source while it runs (rows changed after they were copied are not copied again).
public enum StoreCopier {
    /// What one table's copy did.
    public struct TableReport: Sendable, Codable, Equatable {
        public var table: StoreTable
        /// Rows read from the source.
        public var source: Int
        /// Rows the target did not have yet.
        public var copied: Int
        /// Rows in the target afterwards.
        public var target: Int
    }

    /// Copies every table, `pageSize` rows per target transaction; `progress` hears about each page.
    public static func copy(
        from source: any Store, to target: any Store, pageSize: Int = 1000, progress: @Sendable (StoreTable, Int) -> Void = { _, _ in }
    ) async throws -> [TableReport] {
        var copiedByTable: [StoreTable: Int] = [:]
        for table in StoreTable.allCases {
            var after: StoreCopyKey?
            var copied = 0
            while true {
                let key = after
                let page = try await source.read { db in try db.page(table, after: key, limit: pageSize) }
                guard page.count > 0 else { break }
                copied += try await target.write { tx in try tx.importRows(page) }
                after = page.lastKey
                progress(table, copied)
                if page.count < pageSize { break }
            }
            copiedByTable[table] = copied
        }
        // Counted once, after everything was copied: what the verification compares.
        let sourceCounts = try await source.read { db in try db.rowCounts() }
        let targetCounts = try await target.read { db in try db.rowCounts() }
        return StoreTable.allCases.map { table in
            TableReport(table: table, source: sourceCounts[table] ?? 0, copied: copiedByTable[table] ?? 0, target: targetCounts[table] ?? 0)
        }
    }
}
