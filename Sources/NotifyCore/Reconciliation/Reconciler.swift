import AlipayKit
import Foundation
import NotifyStore

/// Asks Alipay about orders whose notification is late or missing (`reconcile` jobs), closes orders that stayed
/// unpaid past `orders.timeoutMinutes` (`close` jobs), and serves `notifyctl reconcile`.
///
/// Every answer is applied through the same ``TradeApplier`` rules as a notification, with source `query`.
/// Invariant 9: only `GatewayOutcome.success` — a response whose signature verified — is ever applied; an error
/// response, a bad signature, a timeout, a 5xx or malformed JSON is a retryable failure.
public struct Reconciler: Sendable {
    /// The store holding orders and jobs.
    public let store: any Store
    /// `alipay.trade.query` and `alipay.trade.close`.
    public let gateway: any TradeGateway
    /// The processing rules.
    public let applier: TradeApplier
    /// Where gateway calls are counted.
    public let metrics: WorkerMetrics

    /// A reconciler over one store and gateway.
    public init(store: any Store, gateway: any TradeGateway, applier: TradeApplier, metrics: WorkerMetrics = WorkerMetrics()) {
        self.store = store
        self.gateway = gateway
        self.applier = applier
        self.metrics = metrics
    }

    /// A `reconcile` job: query the trade of a still-unpaid order, or of a paid one that may have been refunded
    /// (`TRADE_CLOSED` after a full refund, `TRADE_FINISHED`), and apply the verified answer.
    public func reconcile(_ job: Job, lease: JobLease, now: Date) async throws -> TradeApplication {
        let order: Order
        switch try await lookUp(job, lease: lease, alsoPaid: true) {
        case .settled(let settled, let reason): return try await finish(settled, reason, lease: lease)
        case .toAsk(let toAsk): order = toAsk
        }

        let outcome = await gateway.query(outTradeNo: order.outTradeNo)
        metrics.tradeQuery(outcome)
        switch outcome {
        case .success(let answer):
            return try await apply(try Self.fact(from: answer, outTradeNo: order.outTradeNo), lease: lease, now: now)
        case .tradeNotExist:
            return try await finish(order, "Alipay has no trade yet: the buyer has not paid", lease: lease)
        default:
            throw Self.failure(outcome, call: "alipay.trade.query")
        }
    }

    /// A `close` job: query first (a payment that arrived meanwhile wins), then `alipay.trade.close`, then `TRADE_CLOSED`.
    public func close(_ job: Job, lease: JobLease, now: Date) async throws -> TradeApplication {
        let order: Order
        switch try await lookUp(job, lease: lease) {
        case .settled(let settled, let reason): return try await finish(settled, reason, lease: lease)
        case .toAsk(let toAsk): order = toAsk
        }

        let query = await gateway.query(outTradeNo: order.outTradeNo)
        metrics.tradeQuery(query)
        let tradeExists: Bool
        switch query {
        case .success(let answer):
            let fact = try Self.fact(from: answer, outTradeNo: order.outTradeNo)
            if fact.status != .waitBuyerPay {
                return try await apply(fact, lease: lease, now: now)
            }
            tradeExists = true
        case .tradeNotExist:
            // The buyer never reached the cashier: there is nothing to close at Alipay.
            tradeExists = false
        default:
            throw Self.failure(query, call: "alipay.trade.query")
        }

        if tradeExists {
            let close = await gateway.close(outTradeNo: order.outTradeNo)
            switch close {
            case .success, .tradeNotExist:
                break
            case .rejected(let code, let subCode, let message):
                // Typically ACQ.TRADE_STATUS_ERROR: the buyer paid between the query and the close. Query again.
                throw JobFailure.retryable(
                    "alipay.trade.close refused (\(subCode ?? code): \(message)); the trade may have been paid meanwhile, querying again")
            default:
                throw Self.failure(close, call: "alipay.trade.close")
            }
        }
        let fact = TradeFact(
            outTradeNo: order.outTradeNo, status: .tradeClosed, totalAmount: Amount(fen: order.totalAmountFen), source: .timeout)
        return try await apply(fact, lease: lease, now: now)
    }

    /// `notifyctl reconcile N`: query now, whatever the order's status, and apply the answer with the same rules.
    public func reconcileNow(outTradeNo: String, now: Date = Date()) async throws -> ReconcileReport {
        guard let before = try await store.order(outTradeNo) else {
            throw ReconcileError.unknownOrder(outTradeNo)
        }
        let outcome = await gateway.query(outTradeNo: outTradeNo)
        metrics.tradeQuery(outcome)
        let said: String
        let result: TradeApplication
        switch outcome {
        case .success(let answer):
            let fact = try Self.fact(from: answer, outTradeNo: outTradeNo)
            said = fact.summary
            let applier = applier
            result = try await store.write { db in try applier.apply(fact, lease: nil, now: now, in: db) }
        case .tradeNotExist:
            said = "trade.query: no such trade yet (the buyer has not paid)"
            result = .unchanged(status: before.status, reason: "still waiting for the buyer")
        default:
            throw ReconcileError.gateway(Self.failure(outcome, call: "alipay.trade.query"))
        }
        let after = try await store.order(outTradeNo) ?? before
        return ReconcileReport(outTradeNo: outTradeNo, before: before, after: after, alipay: said, result: result)
    }

    /// The fact a verified `trade.query` answer states; an answer missing what the rules need is retried.
    static func fact(from answer: TradeQueryResponse, outTradeNo: String) throws -> TradeFact {
        if let echoed = answer.outTradeNo, echoed != outTradeNo {
            throw JobFailure.permanent("alipay.trade.query for \(outTradeNo) answered about \(echoed)")
        }
        guard let status = answer.tradeStatus, let total = answer.totalAmount else {
            throw JobFailure.retryable("alipay.trade.query answered without trade_status or total_amount")
        }
        return TradeFact(
            outTradeNo: outTradeNo, status: OrderStatus(status), totalAmount: total, tradeNo: answer.tradeNo, source: .query,
            paidAt: answer.sendPayDate.flatMap(RequestSigner.date(fromTimestamp:)))
    }

    /// The failure for a gateway outcome that is not an answer to apply.
    static func failure<R>(_ outcome: GatewayOutcome<R>, call: String) -> JobFailure {
        switch outcome {
        case .retryable(let message):
            .retryable("\(call): \(message)")
        case .configurationError(let message):
            .permanent("\(call): \(message) — a configuration error: check alipay.appId, alipay.signType and both keys, then replay")
        case .rejected(let code, let subCode, let message):
            .permanent("\(call) rejected: \(code)\(subCode.map { " \($0)" } ?? "") \(message)")
        case .tradeNotExist:
            .retryable("\(call): the trade does not exist yet")
        case .success:
            .retryable("\(call): unexpected success")
        }
    }

    private enum Lookup {
        /// Alipay is to be asked about it.
        case toAsk(Order)
        /// Nothing to ask: the order as it is, and why.
        case settled(Order, String)
    }

    /// The job's order if it still needs Alipay (unpaid, or with `alsoPaid` paid and still refundable); a vanished
    /// order is a permanent failure.
    private func lookUp(_ job: Job, lease: JobLease, alsoPaid: Bool = false) async throws -> Lookup {
        guard let outTradeNo = job.outTradeNo else {
            throw JobFailure.permanent("\(job.kind.rawValue) job \(lease.jobId) names no order")
        }
        guard let order = try await store.order(outTradeNo) else {
            throw JobFailure.permanent("order \(outTradeNo) no longer exists")
        }
        if order.status.isUnpaid || (alsoPaid && order.status == .tradeSuccess) {
            return .toAsk(order)
        }
        return .settled(order, "the order is already \(order.status): nothing to ask Alipay")
    }

    /// Completes the job without changing the order.
    private func finish(_ order: Order, _ reason: String, lease: JobLease) async throws -> TradeApplication {
        try await store.write { db in try db.complete(lease) }
        return .unchanged(status: order.status, reason: reason)
    }

    private func apply(_ fact: TradeFact, lease: JobLease, now: Date) async throws -> TradeApplication {
        let applier = applier
        return try await store.write { db in try applier.apply(fact, lease: lease, now: now, in: db) }
    }
}

/// What `notifyctl reconcile` found and did.
public struct ReconcileReport: Sendable {
    /// The order asked about.
    public var outTradeNo: String
    /// The order before.
    public var before: Order
    /// The order after.
    public var after: Order
    /// What Alipay said, in one line.
    public var alipay: String
    /// What the rules did with it.
    public var result: TradeApplication
}

/// Why `notifyctl reconcile` could not reconcile.
public enum ReconcileError: Error, CustomStringConvertible, Sendable {
    /// No such order in the database.
    case unknownOrder(String)
    /// Alipay could not give a verified answer, or refused.
    case gateway(JobFailure)

    public var description: String {
        switch self {
        case .unknownOrder(let outTradeNo): "no order \(outTradeNo) in this database"
        case .gateway(let failure): failure.description
        }
    }
}
