import AlipayKit
import Foundation
import GRDB
import NotifyStore

/// The processing rules of DESIGN.md, applied to one verified ``TradeFact`` inside the caller's transaction.
///
/// The checks come first and are what invariant 6 rests on: `app_id` ours, `seller_id` ours when configured, the
/// order exists, `total_amount` equals the order's amount to the fen. Any disagreement flags the order for review
/// and dead-letters the job; the order is never touched otherwise. Then ``OrderStateMachine`` decides, and an
/// allowed change is written with `OrderRepository.transition` (conditional on the status read, one event).
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
    /// The queue whose jobs are completed or dead-lettered with the change.
    public let queue: any JobQueue

    /// Rules for one merchant account.
    public init(appId: String, sellerId: String?, confirmWithQuery: Bool = false, queue: any JobQueue) {
        self.appId = appId
        self.sellerId = sellerId
        self.confirmWithQuery = confirmWithQuery
        self.queue = queue
    }

    /// What the rules say about a fact, before anything is written.
    public enum Evaluation: Sendable, Equatable {
        /// The checks passed; the state machine's decision on the order.
        case decided(OrderDecision, Order)
        /// A check failed (or the state machine wants a person): `order` is nil when it does not exist.
        case review(ReviewReason, String, order: Order?)
    }

    /// Runs the checks and the state machine without writing anything.
    public func evaluate(_ fact: TradeFact, in db: Database) throws -> Evaluation {
        let found = try OrderRepository.find(fact.outTradeNo, in: db)
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
        guard let status = OrderStatus(rawValue: order.status) else {
            throw JobFailure.permanent("order \(order.outTradeNo) has an unknown status \"\(order.status)\" in the database")
        }
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
    public func apply(_ fact: TradeFact, lease: JobLease?, now: Date, in db: Database) throws -> TradeApplication {
        switch try evaluate(fact, in: db) {
        case .review(let reason, let detail, let order):
            if order != nil {
                try OrderRepository.flagForReview(fact.outTradeNo, reason: "\(reason.rawValue): \(detail)", in: db)
            }
            if let lease {
                try queue.deadLetter(lease.jobId, owner: lease.owner, reason: "\(reason.rawValue): \(detail) — \(reason.operatorHint)", in: db)
            }
            return .review(reason, detail)

        case .decided(.unchanged(let why), let order):
            if let lease { try queue.complete(lease.jobId, owner: lease.owner, in: db) }
            return .unchanged(status: OrderStatus(rawValue: order.status) ?? .created, reason: why)

        case .decided(.review(let reason, let detail), _):
            // evaluate() turns state-machine reviews into .review above; kept total for the compiler.
            throw JobFailure.permanent("\(reason.rawValue): \(detail)")

        case .decided(.apply(let transition), let order):
            if confirmWithQuery, fact.source == .notification, transition.kind == .payment, !fact.confirmedByQuery {
                throw JobFailure.retryable("payment of \(order.outTradeNo) not confirmed by alipay.trade.query yet")
            }
            let changes = OrderChanges(
                tradeNo: order.tradeNo == nil ? fact.tradeNo : nil,
                refundedFen: transition.refundedFen,
                paidAt: transition.kind == .payment && order.paidAt == nil ? now : nil,
                closedAt: transition.to == .tradeClosed ? now : nil)
            let event = OrderEvent(
                outTradeNo: order.outTradeNo, fromStatus: transition.from.rawValue, toStatus: transition.to.rawValue,
                source: fact.source.rawValue, jobId: lease?.jobId, notifyId: fact.notifyId,
                detail: "\(transition.detail) (\(fact.summary))", createdAt: now)
            let moved = try OrderRepository.transition(
                order.outTradeNo, from: transition.from.rawValue, to: transition.to.rawValue, changes: changes, event: event, in: db)
            guard moved else {
                // Cannot happen inside one IMMEDIATE transaction; if it does, the retry re-reads the order.
                throw JobFailure.retryable("order \(order.outTradeNo) changed while being updated")
            }
            if let lease { try queue.complete(lease.jobId, owner: lease.owner, in: db) }
            return .applied(transition, source: fact.source)
        }
    }

    /// Records a review found before a fact could be built (a foreign `app_id` rejected by the verifier):
    /// flags the order when it exists and dead-letters the job, in `db`'s transaction.
    public func review(
        _ reason: ReviewReason, _ detail: String, outTradeNo: String?, lease: JobLease?, in db: Database
    ) throws -> TradeApplication {
        if let outTradeNo, try OrderRepository.find(outTradeNo, in: db) != nil {
            try OrderRepository.flagForReview(outTradeNo, reason: "\(reason.rawValue): \(detail)", in: db)
        }
        if let lease {
            try queue.deadLetter(lease.jobId, owner: lease.owner, reason: "\(reason.rawValue): \(detail) — \(reason.operatorHint)", in: db)
        }
        return .review(reason, detail)
    }
}

/// What applying one fact did.
public enum TradeApplication: Sendable, Equatable {
    /// The order changed (one event appended); `source` is where the fact came from.
    case applied(Transition, source: TradeFact.Source)
    /// Nothing to do: stale, repeated, or still waiting.
    case unchanged(status: OrderStatus, reason: String)
    /// The order (if any) is flagged for review and was not changed; the job is dead.
    case review(ReviewReason, String)
}
