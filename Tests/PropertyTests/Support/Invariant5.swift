import NotifyStore
import AlipayKit
import NotifyCore

/// Invariant 5 of docs/architecture.md written out again, independently of `OrderStateMachine`: the oracle of the order properties.
///
/// CREATED → WAIT_BUYER_PAY → TRADE_SUCCESS → TRADE_FINISHED; TRADE_CLOSED from an unpaid state or from TRADE_SUCCESS
/// by a full refund; FINISHED and CLOSED are terminal; a late or repeated report never moves an order back.
enum Invariant5 {
    /// Position on the way forward; both ends (FINISHED, CLOSED) share the last rank.
    static func rank(_ status: OrderStatus) -> Int {
        switch status {
        case .created: 0
        case .waitBuyerPay: 1
        case .tradeSuccess: 2
        case .tradeFinished, .tradeClosed: 3
        }
    }

    /// No status ever leaves these.
    static let terminal: Set<OrderStatus> = [.tradeFinished, .tradeClosed]

    /// Every status change the invariant allows (a change of refunded money alone keeps the status).
    static let moves: Set<[OrderStatus]> = [
        [.created, .waitBuyerPay], [.created, .tradeSuccess], [.created, .tradeFinished], [.created, .tradeClosed],
        [.waitBuyerPay, .tradeSuccess], [.waitBuyerPay, .tradeFinished], [.waitBuyerPay, .tradeClosed],
        [.tradeSuccess, .tradeFinished], [.tradeSuccess, .tradeClosed],
    ]

    /// When a report needs a person instead of changing the order: more refunded than paid, a paid order closed without
    /// a full refund, or a payment reported for an order that was closed unpaid.
    static func review(status: OrderStatus, everPaid: Bool, totalFen: Int64, observed: TradeObservation) -> ReviewReason? {
        if let refund = observed.refundFen, refund > totalFen { return .refundMismatch }
        if status == .tradeSuccess, observed.status == .tradeClosed, let refund = observed.refundFen, refund != totalFen {
            return .refundMismatch
        }
        // Closed after a refund that was not the whole amount, for an order not even paid here.
        if status.isUnpaid, observed.status == .tradeClosed, let refund = observed.refundFen, refund > 0, refund != totalFen {
            return .refundMismatch
        }
        if status == .tradeClosed, !everPaid, observed.status.isPaid { return .paidAfterClose }
        return nil
    }

    /// The status an order must have after Alipay reports `observed` (a TRADE_CLOSED without `refund_fee` on a paid
    /// order is the full refund: a `trade.query` answer carries no refund_fee).
    static func status(after status: OrderStatus, everPaid: Bool, totalFen: Int64, observed: TradeObservation) -> OrderStatus {
        if review(status: status, everPaid: everPaid, totalFen: totalFen, observed: observed) != nil { return status }
        switch (status, observed.status) {
        case (.created, .waitBuyerPay): return .waitBuyerPay
        case (.created, .tradeSuccess), (.waitBuyerPay, .tradeSuccess): return .tradeSuccess
        case (.created, .tradeFinished), (.waitBuyerPay, .tradeFinished), (.tradeSuccess, .tradeFinished): return .tradeFinished
        // Unpaid and closed: timed out, or (with a full refund_fee) paid and refunded — two moves, one report.
        case (.created, .tradeClosed), (.waitBuyerPay, .tradeClosed): return .tradeClosed
        case (.tradeSuccess, .tradeClosed): return .tradeClosed  // review() above let only a full refund through
        default: return status
        }
    }
}
