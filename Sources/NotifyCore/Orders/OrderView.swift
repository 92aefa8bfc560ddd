import AlipayKit
import Foundation
import NotifyStore

/// The JSON shape of an order, shared by `GET /api/orders/{out_trade_no}` and `notifyctl orders show --json`.
///
/// Keys are snake_case like Alipay's own fields; `total_amount` and `refunded_amount` are the decimal strings
/// Alipay uses ("88.88"), dates are ISO 8601 in UTC. Dates are strings here, not `Date`, so the shape does not
/// depend on the encoder's date strategy: the API and the CLI print the same bytes for the same order.
public struct OrderView: Codable, Sendable, Equatable {
    /// The merchant order number.
    public var outTradeNo: String
    /// `CREATED`, `WAIT_BUYER_PAY`, `TRADE_SUCCESS`, `TRADE_FINISHED` or `TRADE_CLOSED`.
    public var status: String
    /// The amount in yuan as a two-decimal string.
    public var totalAmount: String
    /// What the buyer pays for.
    public var subject: String
    /// Alipay's trade number, once known.
    public var tradeNo: String?
    /// How much was refunded, as a two-decimal string.
    public var refundedAmount: String
    /// True when something disagreed (amount, app, seller…) and a person must look.
    public var needsReview: Bool
    /// Why the order needs review.
    public var reviewReason: String?
    /// When the order was created.
    public var createdAt: String
    /// When the order last changed.
    public var updatedAt: String
    /// When it was paid.
    public var paidAt: String?
    /// When it was closed.
    public var closedAt: String?
    /// When money last went back to the buyer (`gmt_refund`), ISO 8601 UTC.
    public var refundedAt: String?

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", status, totalAmount = "total_amount", subject, tradeNo = "trade_no"
        case refundedAmount = "refunded_amount", needsReview = "needs_review", reviewReason = "review_reason"
        case createdAt = "created_at", updatedAt = "updated_at", paidAt = "paid_at", closedAt = "closed_at", refundedAt = "refunded_at"
    }

    /// The view of a stored order.
    public init(_ order: Order) {
        outTradeNo = order.outTradeNo
        status = order.status.rawValue
        totalAmount = Amount(fen: order.totalAmountFen).description
        subject = order.subject
        tradeNo = order.tradeNo
        refundedAmount = Amount(fen: order.refundedFen).description
        needsReview = order.needsReview
        reviewReason = order.reviewReason
        createdAt = Self.timestamp(order.createdAt)
        updatedAt = Self.timestamp(order.updatedAt)
        paidAt = order.paidAt.map(Self.timestamp)
        closedAt = order.closedAt.map(Self.timestamp)
        refundedAt = order.refundedAt.map(Self.timestamp)
    }

    // Explicit so optional keys are written as `null` rather than left out: scripts can rely on every key being there.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(outTradeNo, forKey: .outTradeNo)
        try container.encode(status, forKey: .status)
        try container.encode(totalAmount, forKey: .totalAmount)
        try container.encode(subject, forKey: .subject)
        try container.encode(tradeNo, forKey: .tradeNo)
        try container.encode(refundedAmount, forKey: .refundedAmount)
        try container.encode(needsReview, forKey: .needsReview)
        try container.encode(reviewReason, forKey: .reviewReason)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(paidAt, forKey: .paidAt)
        try container.encode(closedAt, forKey: .closedAt)
        try container.encode(refundedAt, forKey: .refundedAt)
    }

    /// ISO 8601 in UTC with seconds, e.g. `2025-01-31T08:15:00Z`: what `Date.ISO8601FormatStyle(timeZone: .gmt)`
    /// writes (a test holds the two equal), computed directly because every order event writes two of them on the
    /// worker's hot path, where the format style cost more than the event's insert.
    public static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970.rounded(.down)
        guard interval.isFinite, abs(interval) < 1e15 else { return date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt)) }
        let seconds = Int64(interval)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), proleptic Gregorian.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (0...9999).contains(year) else { return date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt)) }
        var bytes = [UInt8](repeating: 0, count: 20)
        func put(_ value: Int64, at index: Int, digits: Int) {
            var value = value
            for offset in stride(from: digits - 1, through: 0, by: -1) {
                bytes[index + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(year, at: 0, digits: 4)
        bytes[4] = UInt8(ascii: "-")
        put(month, at: 5, digits: 2)
        bytes[7] = UInt8(ascii: "-")
        put(day, at: 8, digits: 2)
        bytes[10] = UInt8(ascii: "T")
        put(secondOfDay / 3600, at: 11, digits: 2)
        bytes[13] = UInt8(ascii: ":")
        put(secondOfDay / 60 % 60, at: 14, digits: 2)
        bytes[16] = UInt8(ascii: ":")
        put(secondOfDay % 60, at: 17, digits: 2)
        bytes[19] = UInt8(ascii: "Z")
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension OrderStatus {
    /// The status in words, as the return page and `notifyctl` tables show it: `TRADE_SUCCESS` → "paid".
    public var words: String {
        switch self {
        case .created: "created, not yet sent to Alipay"
        case .waitBuyerPay: "waiting for payment"
        case .tradeSuccess: "paid"
        case .tradeFinished: "paid and completed"
        case .tradeClosed: "closed (unpaid, or fully refunded)"
        }
    }

    /// The words for a stored status string; an unknown string is shown as it is.
    public static func words(_ status: String) -> String {
        OrderStatus(rawValue: status)?.words ?? status
    }
}
