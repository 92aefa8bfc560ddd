import AlipayKit
import NotifyStore

/// The order state machine of invariant 5, as one pure function.
///
/// ```
/// CREATED ─▶ WAIT_BUYER_PAY ─▶ TRADE_SUCCESS ─▶ TRADE_FINISHED
///    │             │                 │
///    └─────────────┴─▶ TRADE_CLOSED ◀┘ (unpaid: timeout/close; paid: full refund only)
/// ```
///
/// Moves only go forward and may skip steps (Alipay does not notify `WAIT_BUYER_PAY` by default, and
/// `TRADE_FINISHED` can overtake `TRADE_SUCCESS`). A status that is behind or equal to the order's is
/// stale or repeated and changes nothing, except that a refund on a paid order raises `refundedFen`
/// (Alipay's `refund_fee` is the running total refunded) without a status change.
public enum OrderStateMachine {
    /// Whether invariant 5 allows the status to go from `from` to `to` (ignoring the refund condition on `TRADE_CLOSED`).
    public static func canMove(from: OrderStatus, to: OrderStatus) -> Bool {
        switch (from, to) {
        case (.created, .waitBuyerPay), (.created, .tradeSuccess), (.created, .tradeFinished), (.created, .tradeClosed):
            true
        case (.waitBuyerPay, .tradeSuccess), (.waitBuyerPay, .tradeFinished), (.waitBuyerPay, .tradeClosed):
            true
        case (.tradeSuccess, .tradeFinished), (.tradeSuccess, .tradeClosed):
            true
        default:
            false
        }
    }

    /// Decides what a verified observation of the trade does to the order.
    public static func decide(_ order: OrderSnapshot, _ observed: TradeObservation) -> OrderDecision {
        let target = observed.status
        let refund = observed.refundFen

        if let refund, refund > order.totalFen {
            return .review(.refundMismatch, "Alipay reports \(fen(refund)) refunded of an order of \(fen(order.totalFen))")
        }

        if target == order.status {
            if order.status.isPaid, let refund, refund > order.refundedFen {
                let detail =
                    refund == order.totalFen
                    ? "refunded in full: \(fen(refund)) of \(fen(order.totalFen)) (Alipay closes the trade)"
                    : "partial refund: \(fen(refund)) refunded of \(fen(order.totalFen))"
                return .apply(Transition(from: order.status, to: order.status, kind: .partialRefund, refundedFen: refund, detail: detail))
            }
            return .unchanged("repeated: the order is already \(order.status)")
        }

        if target == .tradeClosed {
            switch order.status {
            case .created, .waitBuyerPay:
                if let refund, refund > 0 {
                    // Closed after a refund: the buyer paid first, and that notification is late or lost. The payment is
                    // recorded first; the same fact then closes the order as a full refund (the next decision).
                    guard refund == order.totalFen else {
                        return .review(
                            .refundMismatch,
                            "TRADE_CLOSED with refund_fee \(fen(refund)) of \(fen(order.totalFen)) for an order not paid here: not a full refund")
                    }
                    return .apply(
                        Transition(
                            from: order.status, to: .tradeSuccess, kind: .payment, refundedFen: nil,
                            detail: "paid (Alipay reports the trade closed after a refund of \(fen(refund)), so it was paid first)"))
                }
                return .apply(Transition(from: order.status, to: .tradeClosed, kind: .closeUnpaid, refundedFen: nil, detail: "closed unpaid"))
            case .tradeSuccess:
                // Alipay closes a paid trade only once it is fully refunded; a query answer carries no refund_fee.
                let refunded = refund ?? order.totalFen
                guard refunded == order.totalFen else {
                    return .review(
                        .refundMismatch,
                        "TRADE_CLOSED after payment with refund_fee \(fen(refunded)) of \(fen(order.totalFen)): not a full refund")
                }
                return .apply(
                    Transition(
                        from: .tradeSuccess, to: .tradeClosed, kind: .fullRefund,
                        refundedFen: refunded > order.refundedFen ? refunded : nil,
                        detail: "full refund: \(fen(refunded)) refunded"))
            case .tradeFinished, .tradeClosed:
                return .unchanged("stale: TRADE_CLOSED after \(order.status)")
            }
        }

        if order.status == .tradeClosed && target.isPaid && !order.wasPaid {
            return .review(.paidAfterClose, "Alipay reports \(target) for an order closed unpaid")
        }

        guard canMove(from: order.status, to: target) else {
            return .unchanged("stale: \(target) after \(order.status)")
        }
        let kind: Transition.Kind =
            switch target {
            case .waitBuyerPay: .waiting
            case .tradeSuccess: .payment
            case .tradeFinished: order.status.isUnpaid ? .payment : .finish
            case .created, .tradeClosed: .waiting  // unreachable: no move goes to CREATED, TRADE_CLOSED is handled above
            }
        let newRefund = refund.flatMap { $0 > order.refundedFen ? $0 : nil }
        var detail = kind == .payment ? "paid" : kind == .finish ? "finished (no more refunds)" : "waiting for the buyer"
        if let newRefund { detail += "; \(fen(newRefund)) refunded of \(fen(order.totalFen))" }
        return .apply(Transition(from: order.status, to: target, kind: kind, refundedFen: newRefund, detail: detail))
    }

    /// Fen as the decimal yuan string Alipay uses ("88.88").
    static func fen(_ value: Int64) -> String {
        Amount(fen: value).description
    }
}

/// What the state machine needs to know about an order.
public struct OrderSnapshot: Sendable, Equatable {
    /// The order's current status.
    public var status: OrderStatus
    /// The order's amount in fen.
    public var totalFen: Int64
    /// How much was refunded so far, in fen.
    public var refundedFen: Int64
    /// Whether the order was ever paid (a closed order that was paid was refunded, not timed out).
    public var wasPaid: Bool

    /// A snapshot from its parts.
    public init(status: OrderStatus, totalFen: Int64, refundedFen: Int64 = 0, wasPaid: Bool? = nil) {
        self.status = status
        self.totalFen = totalFen
        self.refundedFen = refundedFen
        self.wasPaid = wasPaid ?? (status.isPaid || refundedFen > 0)
    }
}

/// What Alipay said about a trade, after its signature verified.
public struct TradeObservation: Sendable, Equatable {
    /// The trade status Alipay reported, as an order status.
    public var status: OrderStatus
    /// `refund_fee`: the total refunded so far, in fen, when Alipay sent it.
    public var refundFen: Int64?

    /// An observation from its parts.
    public init(status: OrderStatus, refundFen: Int64? = nil) {
        self.status = status
        self.refundFen = refundFen
    }
}

/// The state machine's verdict on one observation.
public enum OrderDecision: Sendable, Equatable {
    /// Change the order and append exactly one event.
    case apply(Transition)
    /// Stale or repeated: nothing changes (the job still completes).
    case unchanged(String)
    /// A person must look: the order is flagged and not changed.
    case review(ReviewReason, String)
}

/// One allowed change of an order: a status move, or a refund recorded on a paid order.
public struct Transition: Sendable, Equatable {
    /// What kind of change it is.
    public enum Kind: String, Sendable, Equatable {
        /// Unpaid → WAIT_BUYER_PAY.
        case waiting
        /// Unpaid → TRADE_SUCCESS or TRADE_FINISHED.
        case payment
        /// TRADE_SUCCESS → TRADE_FINISHED.
        case finish
        /// Unpaid → TRADE_CLOSED.
        case closeUnpaid = "close_unpaid"
        /// TRADE_SUCCESS → TRADE_CLOSED, everything refunded.
        case fullRefund = "full_refund"
        /// A paid order keeps its status and records more refunded money.
        case partialRefund = "partial_refund"
    }

    /// The status before.
    public var from: OrderStatus
    /// The status after (equal to `from` for a partial refund).
    public var to: OrderStatus
    /// What kind of change it is.
    public var kind: Kind
    /// The new total refunded in fen, when it changes.
    public var refundedFen: Int64?
    /// A short description for the event's detail.
    public var detail: String
}
