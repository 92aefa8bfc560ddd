import AlipayKit
import Foundation
import NotifyStore

/// The processing rules of docs/architecture.md, applied to one verified ``TradeFact`` inside the caller's transaction.
///
/// The checks come first and are what invariant 6 rests on: `app_id` ours, `seller_id` ours when configured, the
/// order exists, `total_amount` equals the order's amount to the fen. Any disagreement flags the order for review
/// and dead-letters the job; the order is never touched otherwise. Then ``OrderStateMachine`` decides, and an
/// allowed change is written with `StoreTransaction.transition` (conditional on the status and refunded amount read, one event).
///
/// When a lease is given, the job's completion (or dead-lettering) is written in the same transaction, so a worker
/// whose lease was taken over rolls its order change back together with its `complete` (`StoreError.leaseLost`).
public struct TradeApplier: Sendable {
    /// Our `alipay.appId`.
    public let appId: String
    /// Our `alipay.sellerId`; nil means not checked.
    public let sellerId: String?
    /// `worker.confirmWithQuery`: a notification may only mark an order paid once `trade.query` agreed.
    public let confirmWithQuery: Bool
    /// Rules for one merchant account.
    public init(appId: String, sellerId: String?, confirmWithQuery: Bool = false) {
        self.appId = appId
        self.sellerId = sellerId
        self.confirmWithQuery = confirmWithQuery
    }

    /// What the rules say about a fact, before anything is written.
    public enum Evaluation: Sendable, Equatable {
        /// The checks passed; the state machine's decision on the order.
        case decided(OrderDecision, Order)
        /// A check failed (or the state machine wants a person): `order` is nil when it does not exist.
        case review(ReviewReason, String, order: Order?)
    }

    /// Runs the checks and the state machine without writing anything.
    public func evaluate(_ fact: TradeFact, in db: any StoreReading) throws -> Evaluation {
        try evaluate(fact, found: db.order(fact.outTradeNo))
    }

    /// The checks and the state machine on the order as read (nil: no such order).
    private func evaluate(_ fact: TradeFact, found: Order?) throws -> Evaluation {
        if let party = fact.party {
            if party.appId != appId {
                return .review(.appIdMismatch, "app_id \(party.appId) is not ours (alipay.appId is \(appId))", order: found)
            }
            if let sellerId, party.sellerId != sellerId {
                let got = party.sellerId.map { "seller_id \($0)" } ?? "no seller_id"
                return .review(.sellerIdMismatch, "\(got) where alipay.sellerId is \(sellerId)", order: found)
            }
        }
        guard let order = found else {
            return .review(.unknownOrder, "no order \(fact.outTradeNo) in this database (\(fact.summary))", order: nil)
        }
        if fact.totalAmount.fen != order.totalAmountFen {
            return .review(
                .amountMismatch,
                "order \(order.outTradeNo) is \(Amount(fen: order.totalAmountFen)) but Alipay reports total_amount \(fact.totalAmount)",
                order: order)
        }
        let status = order.status
        if fact.source == .timeout, !status.isUnpaid {
            // Closing for a timeout only ever applies to an unpaid order; a payment that won the race stays.
            return .decided(.unchanged("not closing for the timeout: the order is already \(status)"), order)
        }
        let snapshot = OrderSnapshot(
            status: status, totalFen: order.totalAmountFen, refundedFen: order.refundedFen,
            wasPaid: order.paidAt != nil || order.refundedFen > 0 || status.isPaid)
        let decision = OrderStateMachine.decide(snapshot, fact.observation)
        if case .review(let reason, let detail) = decision {
            return .review(reason, detail, order: order)
        }
        return .decided(decision, order)
    }

    /// Applies a fact: checks, state machine, the order change with its one event, and the job's completion — all
    /// inside `db`'s transaction. Without a lease (`notifyctl reconcile`) only the order is written.
    ///
    /// A fact may take more than one move, each with its own event: `TRADE_CLOSED` after a full refund for an order
    /// still unpaid here records the payment, then the refund that closed it. The rules are asked again after each
    /// move until they have nothing more to do. A refund fact (`out_biz_no`, `out_request_no`) also settles the
    /// refund request it names (see ``RefundRecords``).
    public func apply(_ fact: TradeFact, lease: JobLease?, now: Date, in db: any StoreTransaction) throws -> TradeApplication {
        // The order is read for update: on PostgreSQL a second worker applying a fact of the same order waits here
        // until this transaction ends, then reads the status this one left.
        var found = try db.order(fact.outTradeNo, forUpdate: true)
        var moves: [Transition] = []
        for _ in 0..<3 {
            switch try evaluate(fact, found: found) {
            case .review(let reason, let detail, let order):
                if order != nil {
                    try db.flagForReview(fact.outTradeNo, reason: "\(reason.rawValue): \(detail)")
                }
                try OrderEvents.publishedReview(outTradeNo: fact.outTradeNo, order: order, reason: reason, detail: detail, now: now, in: db)
                if let lease {
                    try db.deadLetter(lease, reason: "\(reason.rawValue): \(detail) — \(reason.operatorHint)")
                }
                return .review(reason, detail)

            case .decided(.unchanged(let why), let order):
                if moves.isEmpty { try RefundRecords.record(fact, refundedBefore: order.refundedFen, now: now, in: db) }
                if let lease { try db.complete(lease) }
                guard let last = moves.last else { return .unchanged(status: order.status, reason: why) }
                return .applied(last, source: fact.source, earlier: Array(moves.dropLast()))

            case .decided(.review(let reason, let detail), _):
                // evaluate() turns state-machine reviews into .review above; kept total for the compiler.
                throw JobFailure.permanent("\(reason.rawValue): \(detail)")

            case .decided(.apply(let transition), let order):
                if confirmWithQuery, fact.source == .notification, transition.kind == .payment, !fact.confirmedByQuery {
                    throw JobFailure.retryable("payment of \(order.outTradeNo) not confirmed by alipay.trade.query yet")
                }
                if moves.isEmpty { try RefundRecords.record(fact, refundedBefore: order.refundedFen, now: now, in: db) }
                found = try move(order, transition, fact: fact, lease: lease, now: now, in: db)
                moves.append(transition)
            }
        }
        throw JobFailure.permanent("\(fact.summary): the rules kept moving order \(fact.outTradeNo) (\(moves.map(\.detail))); a bug")
    }

    /// Writes one allowed move with its event and reports it to the outbox; the order as it left it.
    private func move(_ order: Order, _ transition: Transition, fact: TradeFact, lease: JobLease?, now: Date, in db: any StoreTransaction) throws
        -> Order
    {
        let changes = OrderChanges(
            tradeNo: order.tradeNo == nil ? fact.tradeNo : nil,
            refundedFen: transition.refundedFen,
            paidAt: transition.kind == .payment && order.paidAt == nil ? (fact.paidAt ?? now) : nil,
            // Alipay's clock for Alipay's facts (they line up with its statements); ours when it gives none.
            closedAt: transition.to == .tradeClosed ? (fact.closedAt ?? now) : nil,
            refundedAt: transition.kind == .partialRefund || transition.kind == .fullRefund ? (fact.refundedAt ?? now) : nil)
        let event = OrderEvent(
            outTradeNo: order.outTradeNo, fromStatus: transition.from, toStatus: transition.to,
            source: fact.source.rawValue, jobId: lease?.jobId, notifyId: fact.notifyId,
            detail: "\(transition.detail) (\(fact.summary))", createdAt: now)
        guard let orderEventId = try db.transition(order, to: transition.to, changes: changes, event: event) else {
            // The order was read for update in this transaction, so this means another writer got in between
            // anyway (an engine without row locks): nothing was written, and the retry re-reads the order.
            throw JobFailure.retryable("order \(order.outTradeNo) changed while being updated")
        }
        // The order as the transition left it, and the event it wrote: what the merchant's application is told.
        var changed = order
        changed.status = transition.to
        changed.tradeNo = order.tradeNo ?? changes.tradeNo
        changed.refundedFen = changes.refundedFen ?? order.refundedFen
        changed.paidAt = order.paidAt ?? changes.paidAt
        changed.closedAt = order.closedAt ?? changes.closedAt
        changed.refundedAt = changes.refundedAt ?? order.refundedAt
        try OrderEvents.published(changed, transition: transition, orderEventId: orderEventId, now: now, in: db)
        return changed
    }

    /// Records a review found before a fact could be built (a foreign `app_id` rejected by the verifier):
    /// flags the order when it exists and dead-letters the job, in `db`'s transaction.
    public func review(
        _ reason: ReviewReason, _ detail: String, outTradeNo: String?, lease: JobLease?, now: Date, in db: any StoreTransaction
    ) throws -> TradeApplication {
        if let outTradeNo {
            // Only an order of ours is flagged and reported: a foreign app's notification about a number we do not
            // have is none of the merchant application's business (the dead job keeps it for the operator).
            if let order = try db.order(outTradeNo, forUpdate: true) {
                try db.flagForReview(outTradeNo, reason: "\(reason.rawValue): \(detail)")
                try OrderEvents.publishedReview(outTradeNo: outTradeNo, order: order, reason: reason, detail: detail, now: now, in: db)
            }
        }
        if let lease {
            try db.deadLetter(lease, reason: "\(reason.rawValue): \(detail) — \(reason.operatorHint)")
        }
        return .review(reason, detail)
    }
}

/// What applying one fact did.
public enum TradeApplication: Sendable, Equatable {
    /// The order changed (one event appended per move); `source` is where the fact came from. `earlier` holds the
    /// moves before the last one when a fact took more than one (a payment recorded before the refund that closed it).
    case applied(Transition, source: TradeFact.Source, earlier: [Transition] = [])
    /// Nothing to do: stale, repeated, or still waiting.
    case unchanged(status: OrderStatus, reason: String)
    /// The order (if any) is flagged for review and was not changed; the job is dead.
    case review(ReviewReason, String)
}
