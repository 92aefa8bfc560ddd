import AlipayKit
import Foundation
import NotifyStore

/// What a verified Alipay message says about one trade, whichever way it came (notification or `trade.query`).
///
/// Both ways go through the same ``TradeApplier`` rules; only the checks that the message can support differ
/// (a query answer carries no `app_id` or `seller_id`: it answers a request we signed with our own app id).
public struct TradeFact: Sendable, Equatable {
    /// Where a fact came from; the raw value is the `source` of the order event.
    public enum Source: String, Sendable, Equatable, CaseIterable {
        /// An async notification (re-verified from the stored body).
        case notification
        /// A verified `alipay.trade.query` answer.
        case query
        /// The order timed out and was closed with `alipay.trade.close`.
        case timeout
        /// A verified `alipay.trade.refund` or `alipay.trade.fastpay.refund.query` answer about our own refund.
        case refund
    }

    /// Who the message says the trade belongs to; checked against the configuration.
    public struct Party: Sendable, Equatable {
        /// `app_id`.
        public var appId: String
        /// `seller_id`, when present.
        public var sellerId: String?

        /// A party from its parts.
        public init(appId: String, sellerId: String?) {
            self.appId = appId
            self.sellerId = sellerId
        }
    }

    /// The merchant order number.
    public var outTradeNo: String
    /// The trade status Alipay reports.
    public var status: OrderStatus
    /// `total_amount`.
    public var totalAmount: Amount
    /// `refund_fee` (total refunded so far), when present.
    public var refundFee: Amount?
    /// Alipay's trade number, when known.
    public var tradeNo: String?
    /// App and seller named by a notification; nil for query answers.
    public var party: Party?
    /// Where the fact came from.
    public var source: Source
    /// `notify_id` of a notification.
    public var notifyId: String?
    /// Set once `alipay.trade.query` agreed with a notification's payment (`worker.confirmWithQuery`).
    public var confirmedByQuery: Bool
    /// When the buyer paid, as Alipay says (`gmt_payment` of a notification, `send_pay_date` of a query answer).
    public var paidAt: Date?
    /// When the trade closed, as Alipay says (`gmt_close` of a notification).
    public var closedAt: Date?
    /// When money went back to the buyer, as Alipay says (`gmt_refund` of a notification).
    public var refundedAt: Date?
    /// The refund request a refund fact is about (`out_biz_no` of a notification, our `out_request_no`).
    public var outRequestNo: String?

    /// A fact from its parts.
    public init(
        outTradeNo: String, status: OrderStatus, totalAmount: Amount, refundFee: Amount? = nil, tradeNo: String? = nil,
        party: Party? = nil, source: Source, notifyId: String? = nil, confirmedByQuery: Bool = false, paidAt: Date? = nil,
        closedAt: Date? = nil, refundedAt: Date? = nil, outRequestNo: String? = nil
    ) {
        self.outTradeNo = outTradeNo
        self.status = status
        self.totalAmount = totalAmount
        self.refundFee = refundFee
        self.tradeNo = tradeNo
        self.party = party
        self.source = source
        self.notifyId = notifyId
        self.confirmedByQuery = confirmedByQuery
        self.paidAt = paidAt
        self.closedAt = closedAt
        self.refundedAt = refundedAt
        self.outRequestNo = outRequestNo
    }

    /// The fact a verified notification states.
    public init(_ notification: TradeNotification) {
        self.init(
            outTradeNo: notification.outTradeNo, status: OrderStatus(notification.tradeStatus), totalAmount: notification.totalAmount,
            refundFee: notification.refundFee, tradeNo: notification.tradeNo,
            party: Party(appId: notification.appId, sellerId: notification.sellerId), source: .notification,
            notifyId: notification.notifyId, paidAt: notification.gmtPayment.flatMap(RequestSigner.date(fromTimestamp:)),
            closedAt: notification.gmtClose.flatMap(RequestSigner.date(fromTimestamp:)),
            refundedAt: notification.gmtRefund.flatMap(RequestSigner.date(fromTimestamp:)),
            outRequestNo: notification.refundFee == nil ? nil : notification.outBizNo)
    }

    /// What the state machine sees of it.
    public var observation: TradeObservation {
        TradeObservation(status: status, refundFen: refundFee?.fen)
    }

    /// One line for event details and logs: where it came from and what it said.
    public var summary: String {
        var text: String
        switch source {
        case .notification: text = "notification \(notifyId ?? "?")"
        case .query: text = "trade.query"
        case .timeout: text = "trade.close"
        case .refund: text = "trade.refund \(outRequestNo ?? "?")"
        }
        text += ": \(status.rawValue), total_amount \(totalAmount)"
        if let refundFee { text += ", refund_fee \(refundFee)" }
        if let tradeNo { text += ", trade_no \(tradeNo)" }
        return text
    }
}
