/// Why a job went to review instead of changing its order: the order is never marked paid for any of these.
///
/// The raw value is the `reason` label of `alipay_notify_reviews_total` and the start of the job's dead-letter reason.
public enum ReviewReason: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// `out_trade_no` names no order of ours.
    case unknownOrder = "unknown_order"
    /// `total_amount` differs from the order's amount.
    case amountMismatch = "amount_mismatch"
    /// `app_id` is not ours.
    case appIdMismatch = "app_id_mismatch"
    /// `seller_id` is not the configured `alipay.sellerId`.
    case sellerIdMismatch = "seller_id_mismatch"
    /// Alipay reports a payment for an order we had already closed unpaid: the buyer's money must be refunded or the order revived.
    case paidAfterClose = "paid_after_close"
    /// A refund that cannot be (TRADE_CLOSED after payment without a full refund, or more refunded than paid).
    case refundMismatch = "refund_mismatch"
    /// An authentic notification this version cannot read (an unknown `trade_status`, another `notify_type`, a field in
    /// an unexpected shape): stored and acknowledged, never applied by guesswork.
    case unsupportedNotification = "unsupported_notification"

    /// What the operator should do, said in the log line and kept in the job's reason.
    public var operatorHint: String {
        switch self {
        case .unknownOrder:
            "check whether the order was created in another environment or deleted; if Alipay took money for it, refund it in the Alipay console"
        case .amountMismatch:
            "do not ship: compare the amount in the Alipay console with the order; never edit the order's amount — refund the buyer in the Alipay console (the refund notification is applied by itself) or contact Alipay"
        case .appIdMismatch:
            "a notification for another app reached this notify_url: check alipay.appId and which apps point their notify_url here"
        case .sellerIdMismatch:
            "check alipay.sellerId against the seller in the Alipay console; fix the configuration and replay the job if it was ours"
        case .paidAfterClose:
            "the buyer paid an order that was closed unpaid: refund the buyer in the Alipay console, or fulfil the order by hand"
        case .refundMismatch:
            "compare the refunds in the Alipay console with the order and correct the order by hand"
        case .unsupportedNotification:
            "look at the order in the Alipay console (`notifyctl reconcile N` asks trade.query); upgrade alipay-notify to a version that reads this notification, then `notifyctl queue replay --id` the job"
        }
    }

    public var description: String { rawValue }
}
