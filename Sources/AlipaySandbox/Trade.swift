import AlipayKit
import Foundation

/// A trade as the sandbox's Alipay knows it; also the JSON of the control API and of the state file.
public struct Trade: Sendable, Equatable, Codable {
    /// `out_trade_no`: the merchant's order number.
    public var outTradeNo: String
    /// `trade_no`: Alipay's trade number, 28 digits, e.g. `2026112922001400000000001234`.
    public var tradeNo: String
    /// `app_id` of the application that created the trade.
    public var appId: String
    /// `subject` shown on the cashier.
    public var subject: String
    /// `body`, the optional description.
    public var body: String?
    /// `total_amount`.
    public var totalAmount: Amount
    /// The trade's status.
    public var status: TradeStatus
    /// Sum of the refunds applied so far.
    public var refundedAmount: Amount
    /// Every refund applied, in order.
    public var refunds: [RefundRecord]
    /// Where notifications go; nil sends none.
    public var notifyUrl: String?
    /// Where the browser goes after paying.
    public var returnUrl: String?
    /// `passback_params`, returned as is in notifications.
    public var passbackParams: String?
    /// `buyer_id` (2088…), set when paid.
    public var buyerId: String?
    /// `buyer_logon_id`, masked (`138****8000`), set when paid.
    public var buyerLogonId: String?
    /// `gmt_create`, China time.
    public var gmtCreate: String
    /// `gmt_payment`, China time, set when paid.
    public var gmtPayment: String?
    /// `gmt_close`, China time, set when closed.
    public var gmtClose: String?
    /// When the sandbox turns a paid trade into `TRADE_FINISHED` (only with `sandbox.finishAfterSeconds`).
    public var finishAt: Date?

    /// What is left to refund.
    public var refundableAmount: Amount { Amount(fen: totalAmount.fen - refundedAmount.fen) }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", tradeNo = "trade_no", appId = "app_id", subject, body
        case totalAmount = "total_amount", status, refundedAmount = "refunded_amount", refunds
        case notifyUrl = "notify_url", returnUrl = "return_url", passbackParams = "passback_params"
        case buyerId = "buyer_id", buyerLogonId = "buyer_logon_id"
        case gmtCreate = "gmt_create", gmtPayment = "gmt_payment", gmtClose = "gmt_close", finishAt = "finish_at"
    }
}

/// One refund applied to a trade (`alipay.trade.refund` or the control API).
public struct RefundRecord: Sendable, Equatable, Codable {
    /// `out_request_no`: identifies the refund request; repeating it repeats the answer, not the refund.
    public var outRequestNo: String
    /// `refund_amount` of this request.
    public var refundAmount: Amount
    /// `refund_reason`, when given.
    public var refundReason: String?
    /// `gmt_refund_pay`, China time.
    public var gmtRefund: String

    enum CodingKeys: String, CodingKey {
        case outRequestNo = "out_request_no", refundAmount = "refund_amount", refundReason = "refund_reason"
        case gmtRefund = "gmt_refund"
    }
}
