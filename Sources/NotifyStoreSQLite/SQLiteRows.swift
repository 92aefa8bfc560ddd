import Foundation
import GRDB
import NotifyStore

// Row mappings, written out by column name: the worker decodes every claimed job and every order it applies, and
// Codable's snake-case key conversion cost more than the SQL around it.

/// A row's columns looked up by exact name. GRDB's by-name lookup lowercases every column name it compares (a
/// case-insensitive match), which for a 15-column job row decoded field by field is 225 lowercased strings; the
/// rows read on the worker's hot path (jobs, orders, stored notifications) use this instead, and their times
/// ``SQLiteTime``. Column names here are the schema's, always lowercase.
struct RowColumns {
    let row: Row
    private let names: [String]

    init(_ row: Row) {
        self.row = row
        names = Array(row.columnNames)
    }

    func index(_ name: String) throws -> Int {
        guard let index = names.firstIndex(of: name) else {
            throw RowDecodingError.columnNotFound(name)
        }
        return index
    }

    func decode<Value: DatabaseValueConvertible>(_ name: String) throws -> Value {
        try row.decode(Value.self, atIndex: index(name))
    }

    /// Nil for NULL, and for a column the row does not have (as GRDB's by-name decoding).
    func optional<Value: DatabaseValueConvertible>(_ name: String) throws -> Value? {
        guard let index = names.firstIndex(of: name) else { return nil }
        return try row.decode(Value?.self, atIndex: index)
    }

    func date(_ name: String) throws -> Date { try SQLiteTime.decode(row, index(name)) }

    func dateIfPresent(_ name: String) throws -> Date? {
        guard let index = names.firstIndex(of: name) else { return nil }
        return try SQLiteTime.decodeIfPresent(row, index)
    }
}

/// A column a row mapping needs is not in the row (a query that selects too little: a bug).
struct RowDecodingError: Error, CustomStringConvertible {
    let column: String
    static func columnNotFound(_ column: String) -> RowDecodingError { RowDecodingError(column: column) }
    var description: String { "no column \(column) in the row" }
}

extension JobKind: DatabaseValueConvertible {}
extension JobState: DatabaseValueConvertible {}
extension OrderStatus: DatabaseValueConvertible {}
extension OrderProduct: DatabaseValueConvertible {}

extension Job {
    init(row: Row) throws {
        let columns = RowColumns(row)
        try self.init(
            id: columns.optional("id"), kind: columns.decode("kind"), state: columns.decode("state"),
            uniqueKey: columns.optional("unique_key"), outTradeNo: columns.optional("out_trade_no"),
            notificationId: columns.optional("notification_id"), notifyId: columns.optional("notify_id"),
            payload: columns.optional("payload"), attempts: columns.decode("attempts"), runAt: columns.date("run_at"),
            leaseOwner: columns.optional("lease_owner"), leaseExpiresAt: columns.dateIfPresent("lease_expires_at"),
            lastError: columns.optional("last_error"), createdAt: columns.date("created_at"), updatedAt: columns.date("updated_at"))
    }
}

extension JobAttempt {
    init(row: Row) throws {
        let outcome: String = try row.decode(forColumn: "outcome")
        try self.init(
            id: row.decode(forColumn: "id"), jobId: row.decode(forColumn: "job_id"), attempt: row.decode(forColumn: "attempt"),
            owner: row.decode(forColumn: "owner"), outcome: Outcome(rawValue: outcome) ?? .retry, error: row.decode(forColumn: "error"),
            at: row.decode(forColumn: "at"))
    }
}

extension Order {
    init(row: Row) throws {
        let columns = RowColumns(row)
        try self.init(
            outTradeNo: columns.decode("out_trade_no"), subject: columns.decode("subject"),
            totalAmountFen: columns.decode("total_amount_fen"), status: columns.decode("status"),
            tradeNo: columns.optional("trade_no"), refundedFen: columns.decode("refunded_fen"),
            needsReview: columns.decode("needs_review"), reviewReason: columns.optional("review_reason"),
            createdAt: columns.date("created_at"), updatedAt: columns.date("updated_at"),
            paidAt: columns.dateIfPresent("paid_at"), closedAt: columns.dateIfPresent("closed_at"),
            refundedAt: columns.dateIfPresent("refunded_at"), product: columns.decode("product"))
    }
}

extension RefundStatus: DatabaseValueConvertible {}

extension Refund {
    init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), outTradeNo: row.decode(forColumn: "out_trade_no"),
            outRequestNo: row.decode(forColumn: "out_request_no"), amountFen: row.decode(forColumn: "amount_fen"),
            reason: row.decode(forColumn: "reason"), status: row.decode(forColumn: "status"),
            refundedAt: row.decode(forColumn: "refunded_at"), fundChange: row.decode(forColumn: "fund_change"),
            failure: row.decode(forColumn: "failure"), createdAt: row.decode(forColumn: "created_at"),
            updatedAt: row.decode(forColumn: "updated_at"))
    }
}

extension StatementCheck {
    init(row: Row) throws {
        try self.init(
            billDate: row.decode(forColumn: "bill_date"), checkedAt: row.decode(forColumn: "checked_at"), rows: row.decode(forColumn: "rows"),
            differences: StatementCheck.differences(fromReport: row.decode(forColumn: "report")))
    }
}

extension OrderEvent {
    init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), outTradeNo: row.decode(forColumn: "out_trade_no"), fromStatus: row.decode(forColumn: "from_status"),
            toStatus: row.decode(forColumn: "to_status"), source: row.decode(forColumn: "source"), jobId: row.decode(forColumn: "job_id"),
            notifyId: row.decode(forColumn: "notify_id"), detail: row.decode(forColumn: "detail"), createdAt: row.decode(forColumn: "created_at"))
    }
}

extension RejectedNotification {
    init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), receivedAt: row.decode(forColumn: "received_at"), reason: row.decode(forColumn: "reason"),
            detail: row.decode(forColumn: "detail"), body: row.decode(forColumn: "body"))
    }
}

extension StoredNotification {
    init(row: Row) throws {
        let columns = RowColumns(row)
        try self.init(
            id: columns.optional("id"), notifyId: columns.decode("notify_id"), outTradeNo: columns.decode("out_trade_no"),
            tradeStatus: columns.decode("trade_status"), body: columns.decode("body"),
            firstReceivedAt: columns.date("first_received_at"), lastReceivedAt: columns.date("last_received_at"),
            deliveryCount: columns.decode("delivery_count"), seal: columns.optional("seal"))
    }
}

/// `event_types` as stored: the types comma-separated, '' for every type.
enum WebhookEventTypes {
    static func column(_ types: [String]) -> String { types.joined(separator: ",") }
    static func types(_ column: String) -> [String] { column.split(separator: ",").map(String.init) }
}

extension WebhookEndpoint {
    init(row: Row) throws {
        try self.init(
            endpointId: row.decode(forColumn: "endpoint_id"), url: row.decode(forColumn: "url"),
            eventTypes: WebhookEventTypes.types(row.decode(forColumn: "event_types")), note: row.decode(forColumn: "note"),
            secret: row.decode(forColumn: "secret"), previousSecret: row.decode(forColumn: "previous_secret"),
            previousSecretExpiresAt: row.decode(forColumn: "previous_secret_expires_at"), enabled: row.decode(forColumn: "enabled"),
            disabledReason: row.decode(forColumn: "disabled_reason"), failingSince: row.decode(forColumn: "failing_since"),
            createdAt: row.decode(forColumn: "created_at"), updatedAt: row.decode(forColumn: "updated_at"))
    }
}

extension WebhookEvent {
    init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), eventId: row.decode(forColumn: "event_id"), type: row.decode(forColumn: "type"),
            outTradeNo: row.decode(forColumn: "out_trade_no"), sequence: row.decode(forColumn: "sequence"),
            orderEventId: row.decode(forColumn: "order_event_id"), payload: row.decode(forColumn: "payload"),
            createdAt: row.decode(forColumn: "created_at"))
    }
}

extension DeliveryAttempt {
    init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), eventId: row.decode(forColumn: "event_id"), endpointId: row.decode(forColumn: "endpoint_id"),
            jobId: row.decode(forColumn: "job_id"), attempt: row.decode(forColumn: "attempt"), status: row.decode(forColumn: "status"),
            response: row.decode(forColumn: "response"), error: row.decode(forColumn: "error"),
            durationMilliseconds: row.decode(forColumn: "duration_ms"), at: row.decode(forColumn: "at"))
    }
}
