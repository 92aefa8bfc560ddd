import Foundation
import NotifyStore
import PostgresNIO

// Row mappings, written out by column name (like the SQLite engine's): ids are bigint, counters integer, dates
// timestamptz, needs_review boolean, everything else text.

extension PostgresRandomAccessRow {
    /// The value of `column`, decoded as `T` (an optional `T` for nullable columns).
    @inlinable
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }
}

extension Job {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        let state: String = try row.value("state")
        guard let jobState = JobState(rawValue: state) else { throw StoreError.constraint("job with unknown state \(state)") }
        try self.init(
            id: row.value("id", as: Int64.self), kind: JobKind(rawValue: row.value("kind")), state: jobState,
            uniqueKey: row.value("unique_key"), outTradeNo: row.value("out_trade_no"),
            notificationId: row.value("notification_id"), notifyId: row.value("notify_id"),
            payload: row.value("payload"), attempts: row.value("attempts"), runAt: row.value("run_at"),
            leaseOwner: row.value("lease_owner"), leaseExpiresAt: row.value("lease_expires_at"),
            lastError: row.value("last_error"), createdAt: row.value("created_at"), updatedAt: row.value("updated_at"))
    }
}

extension JobAttempt {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        let outcome: String = try row.value("outcome")
        try self.init(
            id: row.value("id", as: Int64.self), jobId: row.value("job_id"), attempt: row.value("attempt"),
            owner: row.value("owner"), outcome: Outcome(rawValue: outcome) ?? .retry, error: row.value("error"),
            at: row.value("at"))
    }
}

extension Order {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        let status: String = try row.value("status")
        guard let orderStatus = OrderStatus(rawValue: status) else {
            throw StoreError.constraint("order with unknown status \(status)")
        }
        try self.init(
            outTradeNo: row.value("out_trade_no"), subject: row.value("subject"),
            totalAmountFen: row.value("total_amount_fen"), status: orderStatus,
            tradeNo: row.value("trade_no"), refundedFen: row.value("refunded_fen"),
            needsReview: row.value("needs_review"), reviewReason: row.value("review_reason"),
            createdAt: row.value("created_at"), updatedAt: row.value("updated_at"),
            paidAt: row.value("paid_at"), closedAt: row.value("closed_at"), refundedAt: row.value("refunded_at"),
            product: OrderProduct(rawValue: row.value("product")) ?? .page)
    }
}

extension Refund {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        let status: String = try row.value("status")
        guard let refundStatus = RefundStatus(rawValue: status) else { throw StoreError.constraint("refund with unknown status \(status)") }
        try self.init(
            id: row.value("id", as: Int64.self), outTradeNo: row.value("out_trade_no"), outRequestNo: row.value("out_request_no"),
            amountFen: row.value("amount_fen"), reason: row.value("reason"), status: refundStatus,
            refundedAt: row.value("refunded_at"), fundChange: row.value("fund_change"), failure: row.value("failure"),
            createdAt: row.value("created_at"), updatedAt: row.value("updated_at"))
    }
}

extension StatementCheck {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        try self.init(
            billDate: row.value("bill_date"), checkedAt: row.value("checked_at"), rows: row.value("rows"),
            differences: StatementCheck.differences(fromReport: row.value("report")))
    }
}

extension RejectedNotification {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        try self.init(
            id: row.value("id", as: Int64.self), receivedAt: row.value("received_at"), reason: row.value("reason"),
            detail: row.value("detail"), body: row.value("body"))
    }
}

extension OrderEvent {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        let from: String? = try row.value("from_status")
        let to: String = try row.value("to_status")
        guard let toStatus = OrderStatus(rawValue: to) else { throw StoreError.constraint("order event with unknown status \(to)") }
        try self.init(
            id: row.value("id", as: Int64.self), outTradeNo: row.value("out_trade_no"),
            fromStatus: from.flatMap(OrderStatus.init(rawValue:)), toStatus: toStatus, source: row.value("source"),
            jobId: row.value("job_id"), notifyId: row.value("notify_id"), detail: row.value("detail"),
            createdAt: row.value("created_at"))
    }
}

extension StoredNotification {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        try self.init(
            id: row.value("id", as: Int64.self), notifyId: row.value("notify_id"), outTradeNo: row.value("out_trade_no"),
            tradeStatus: row.value("trade_status"), body: row.value("body"),
            firstReceivedAt: row.value("first_received_at"), lastReceivedAt: row.value("last_received_at"),
            deliveryCount: row.value("delivery_count"), seal: row.value("seal", as: String?.self))
    }
}

/// `event_types` as stored: the types comma-separated, '' for every type.
enum WebhookEventTypes {
    static func column(_ types: [String]) -> String { types.joined(separator: ",") }
    static func types(_ column: String) -> [String] { column.split(separator: ",").map(String.init) }
}

extension WebhookEndpoint {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        try self.init(
            endpointId: row.value("endpoint_id"), url: row.value("url"),
            eventTypes: WebhookEventTypes.types(row.value("event_types")), note: row.value("note"),
            secret: row.value("secret"), previousSecret: row.value("previous_secret"),
            previousSecretExpiresAt: row.value("previous_secret_expires_at"), enabled: row.value("enabled"),
            disabledReason: row.value("disabled_reason"), failingSince: row.value("failing_since"),
            createdAt: row.value("created_at"), updatedAt: row.value("updated_at"))
    }
}

extension WebhookEvent {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        try self.init(
            id: row.value("id", as: Int64.self), eventId: row.value("event_id"), type: row.value("type"),
            outTradeNo: row.value("out_trade_no"), sequence: row.value("sequence"), orderEventId: row.value("order_event_id"),
            payload: row.value("payload"), createdAt: row.value("created_at"))
    }
}

extension DeliveryAttempt {
    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        try self.init(
            id: row.value("id", as: Int64.self), eventId: row.value("event_id"), endpointId: row.value("endpoint_id"),
            jobId: row.value("job_id"), attempt: row.value("attempt"), status: row.value("status"),
            response: row.value("response"), error: row.value("error"), durationMilliseconds: row.value("duration_ms"),
            at: row.value("at"))
    }
}
