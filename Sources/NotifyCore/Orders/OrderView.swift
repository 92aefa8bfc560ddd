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
    /// How the buyer pays: `page`, `wap`, `qr` or `app`.
    public var product: String
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
    /// The order's refund requests, oldest first: only in the view of one order (`GET /api/orders/{n}`,
    /// `notifyctl orders show`), absent from lists.
    public var refunds: [RefundView]?

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", status, totalAmount = "total_amount", subject, product, tradeNo = "trade_no"
        case refundedAmount = "refunded_amount", needsReview = "needs_review", reviewReason = "review_reason"
        case createdAt = "created_at", updatedAt = "updated_at", paidAt = "paid_at", closedAt = "closed_at", refundedAt = "refunded_at"
        case refunds
    }

    /// The view of a stored order, with its refunds when given.
    public init(_ order: Order, refunds: [Refund]? = nil) {
        self.refunds = refunds?.map(RefundView.init)
        outTradeNo = order.outTradeNo
        status = order.status.rawValue
        totalAmount = Amount(fen: order.totalAmountFen).description
        subject = order.subject
        product = order.product.rawValue
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
        try container.encode(product, forKey: .product)
        try container.encode(tradeNo, forKey: .tradeNo)
        try container.encode(refundedAmount, forKey: .refundedAmount)
        try container.encode(needsReview, forKey: .needsReview)
        try container.encode(reviewReason, forKey: .reviewReason)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(paidAt, forKey: .paidAt)
        try container.encode(closedAt, forKey: .closedAt)
        try container.encode(refundedAt, forKey: .refundedAt)
        try container.encodeIfPresent(refunds, forKey: .refunds)
    }

    /// ISO 8601 in UTC with seconds, e.g. `2025-01-31T08:15:00Z` (AlipayKit's ``ChinaTime/utcISO8601(_:)``).
    public static func timestamp(_ date: Date) -> String {
        ChinaTime.utcISO8601(date)
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
