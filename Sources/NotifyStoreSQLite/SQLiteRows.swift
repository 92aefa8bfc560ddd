import Foundation
import GRDB
import NotifyStore

// Row mappings, written out by column name: the worker decodes every claimed job and every order it applies, and
// Codable's snake-case key conversion cost more than the SQL around it.

extension JobKind: DatabaseValueConvertible {}
extension JobState: DatabaseValueConvertible {}
extension OrderStatus: DatabaseValueConvertible {}
extension OrderProduct: DatabaseValueConvertible {}

extension Job {
    init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), kind: row.decode(forColumn: "kind"), state: row.decode(forColumn: "state"),
            uniqueKey: row.decode(forColumn: "unique_key"), outTradeNo: row.decode(forColumn: "out_trade_no"),
            notificationId: row.decode(forColumn: "notification_id"), notifyId: row.decode(forColumn: "notify_id"),
            payload: row.decode(forColumn: "payload"), attempts: row.decode(forColumn: "attempts"), runAt: row.decode(forColumn: "run_at"),
            leaseOwner: row.decode(forColumn: "lease_owner"), leaseExpiresAt: row.decode(forColumn: "lease_expires_at"),
            lastError: row.decode(forColumn: "last_error"), createdAt: row.decode(forColumn: "created_at"),
            updatedAt: row.decode(forColumn: "updated_at"))
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
        try self.init(
            outTradeNo: row.decode(forColumn: "out_trade_no"), subject: row.decode(forColumn: "subject"),
            totalAmountFen: row.decode(forColumn: "total_amount_fen"), status: row.decode(forColumn: "status"),
            tradeNo: row.decode(forColumn: "trade_no"), refundedFen: row.decode(forColumn: "refunded_fen"),
            needsReview: row.decode(forColumn: "needs_review"), reviewReason: row.decode(forColumn: "review_reason"),
            createdAt: row.decode(forColumn: "created_at"), updatedAt: row.decode(forColumn: "updated_at"),
            paidAt: row.decode(forColumn: "paid_at"), closedAt: row.decode(forColumn: "closed_at"),
            refundedAt: row.decode(forColumn: "refunded_at"), product: row.decode(forColumn: "product"))
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
        try self.init(
            id: row.decode(forColumn: "id"), notifyId: row.decode(forColumn: "notify_id"), outTradeNo: row.decode(forColumn: "out_trade_no"),
            tradeStatus: row.decode(forColumn: "trade_status"), body: row.decode(forColumn: "body"),
            firstReceivedAt: row.decode(forColumn: "first_received_at"), lastReceivedAt: row.decode(forColumn: "last_received_at"),
            deliveryCount: row.decode(forColumn: "delivery_count"))
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
