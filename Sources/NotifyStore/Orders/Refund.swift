import Foundation

/// Where one refund request is: asked of Alipay and not settled yet, made, or refused.
public enum RefundStatus: String, Codable, Sendable, CaseIterable {
    /// Recorded and handed to a `refund` job; Alipay's answer is not known yet (it may not have been asked, or its
    /// answer was lost: `alipay.trade.refund` is repeated with the same `out_request_no`, which Alipay never doubles).
    case pending
    /// Alipay made the refund (its answer, its notification, or `alipay.trade.fastpay.refund.query` said so).
    case succeeded
    /// Alipay refused it (a business error such as the balance); nothing went back to the buyer.
    case failed
}

/// One refund request of an order, identified by its `out_request_no` (unique per order).
///
/// The sum of the amounts of an order's refunds that did not fail never exceeds the order's amount: the store
/// refuses the write that would break it (``StoreError/overRefund(_:)``), whoever writes. The order's
/// `refundedFen` stays what Alipay reports (`refund_fee`, the running total); these records say which request made
/// what part of it.
public struct Refund: Codable, Sendable, Equatable {
    /// Row id; nil before insertion.
    public var id: Int64?
    /// The order refunded.
    public var outTradeNo: String
    /// `out_request_no`: the merchant's number of this refund request, unique per order.
    public var outRequestNo: String
    /// The amount of this request in fen.
    public var amountFen: Int64
    /// `refund_reason`, when given.
    public var reason: String?
    /// Where the request is.
    public var status: RefundStatus
    /// When the money went back, on Alipay's clock (`gmt_refund_pay` or `gmt_refund`, China time read as an instant).
    public var refundedAt: Date?
    /// Alipay's `fund_change` of the answer that settled it: true when that call moved money, false for a repeat.
    public var fundChange: Bool?
    /// Why Alipay refused it (`sub_code: sub_msg`), for a failed refund.
    public var failure: String?
    /// When it was recorded.
    public var createdAt: Date
    /// When it last changed.
    public var updatedAt: Date

    /// A refund record with every column given.
    public init(
        id: Int64? = nil, outTradeNo: String, outRequestNo: String, amountFen: Int64, reason: String? = nil,
        status: RefundStatus = .pending, refundedAt: Date? = nil, fundChange: Bool? = nil, failure: String? = nil,
        createdAt: Date = Date(), updatedAt: Date? = nil
    ) {
        self.id = id
        self.outTradeNo = outTradeNo
        self.outRequestNo = outRequestNo
        self.amountFen = amountFen
        self.reason = reason
        self.status = status
        self.refundedAt = refundedAt
        self.fundChange = fundChange
        self.failure = failure
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// The unique key of the `refund` job that asks Alipay for this refund: at most one live job per request.
    public static func jobKey(outTradeNo: String, outRequestNo: String) -> String {
        "refund:\(outTradeNo):\(outRequestNo)"
    }
}

/// How a pending refund ended, as Alipay said.
public struct RefundSettlement: Sendable, Equatable {
    /// `succeeded` or `failed`.
    public var status: RefundStatus
    /// When the money went back (Alipay's clock), for a success.
    public var refundedAt: Date?
    /// Alipay's `fund_change`, when the answer carried it.
    public var fundChange: Bool?
    /// Why Alipay refused it, for a failure.
    public var failure: String?

    /// A settlement from its parts.
    public init(status: RefundStatus, refundedAt: Date? = nil, fundChange: Bool? = nil, failure: String? = nil) {
        self.status = status
        self.refundedAt = refundedAt
        self.fundChange = fundChange
        self.failure = failure
    }
}
