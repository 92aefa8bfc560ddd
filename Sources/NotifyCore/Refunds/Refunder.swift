import AlipayKit
import Foundation
import NotifyStore

/// Runs `refund` jobs: asks Alipay for one recorded refund and settles the record with the verified answer
/// (docs/refunds.md).
///
/// Alipay never refunds one `out_request_no` twice, so an ambiguous outcome (a timeout, a 5xx, `ACQ.SYSTEM_ERROR`,
/// an answer whose signature did not verify) is retried with the same number. From the second attempt on, the job
/// first asks `alipay.trade.fastpay.refund.query` whether the earlier call went through and its answer was lost, and
/// only asks for the refund again when Alipay has none. A refusal (a business error) settles the record as failed;
/// a success settles it as succeeded and raises the order's refunded amount through ``TradeApplier`` (one event), in
/// the transaction that completes the job.
public struct Refunder: Sendable {
    /// The store holding orders, refunds and jobs.
    public let store: any Store
    /// `alipay.trade.refund` and `alipay.trade.fastpay.refund.query`.
    public let gateway: any TradeGateway
    /// The processing rules.
    public let applier: TradeApplier
    /// Where gateway calls are counted.
    public let metrics: WorkerMetrics

    /// A refunder over one store and gateway.
    public init(store: any Store, gateway: any TradeGateway, applier: TradeApplier, metrics: WorkerMetrics = WorkerMetrics()) {
        self.store = store
        self.gateway = gateway
        self.applier = applier
        self.metrics = metrics
    }

    /// What a `refund` job carries beyond its order: the request number.
    public struct Payload: JobPayload, Equatable {
        /// The refund's `out_request_no`.
        public var outRequestNo: String

        enum CodingKeys: String, CodingKey { case outRequestNo = "out_request_no" }

        /// A payload for one refund request.
        public init(outRequestNo: String) { self.outRequestNo = outRequestNo }
    }

    /// The job that asks Alipay for `refund`.
    public static func job(for refund: Refund, runAt: Date) -> NewJob {
        NewJob(
            kind: .refund, uniqueKey: Refund.jobKey(outTradeNo: refund.outTradeNo, outRequestNo: refund.outRequestNo),
            outTradeNo: refund.outTradeNo, payload: Payload(outRequestNo: refund.outRequestNo).text, runAt: runAt)
    }

    /// A `refund` job.
    public func refund(_ job: Job, lease: JobLease, now: Date) async throws -> TradeApplication {
        guard let outTradeNo = job.outTradeNo, let requestNo = Payload.decoded(job.payload)?.outRequestNo else {
            throw JobFailure.permanent("refund job \(lease.jobId) names no order or no out_request_no")
        }
        let (found, order) = try await store.read { db in (try db.refund(outTradeNo, outRequestNo: requestNo), try db.order(outTradeNo)) }
        guard let refund = found, let order else {
            throw JobFailure.permanent("refund \(requestNo) of order \(outTradeNo) is not in the database")
        }
        guard refund.status == .pending else {
            try await store.write { db in try db.complete(lease) }
            return .unchanged(status: order.status, reason: "refund \(requestNo) is already \(refund.status.rawValue)")
        }

        if job.attempts > 1 {
            // An earlier attempt may have reached Alipay and lost its answer: ask what became of the request first.
            let query = await gateway.refundQuery(outTradeNo: outTradeNo, outRequestNo: requestNo)
            metrics.refundCall(TradeRefundQuery.method, query)
            switch query {
            case .success(let answer) where answer.refundSucceeded:
                return try await succeeded(
                    refund, refundedAt: answer.gmtRefundPay, fundChange: nil, refundFee: nil, tradeNo: answer.tradeNo, lease: lease, now: now)
            case .success:
                break  // Alipay made no such refund: ask for it (again), with the same number
            case .tradeNotExist, .rejected:
                break  // the refund call below gets Alipay's reason
            default:
                throw Reconciler.failure(query, call: TradeRefundQuery.method)
            }
        }

        let request = TradeRefund(
            outTradeNo: outTradeNo, refundAmount: Amount(fen: refund.amountFen), outRequestNo: requestNo, refundReason: refund.reason)
        let outcome = await gateway.refund(request)
        metrics.refundCall(TradeRefund.method, outcome)
        switch outcome {
        case .success(let answer):
            return try await succeeded(
                refund, refundedAt: answer.gmtRefundPay, fundChange: answer.fundChange.map { $0 == "Y" }, refundFee: answer.refundFee,
                tradeNo: answer.tradeNo, lease: lease, now: now)
        case .rejected(let code, let subCode, let message):
            return try await failed(refund, order: order, reason: "\(subCode ?? code): \(message)", lease: lease, now: now)
        case .tradeNotExist:
            return try await failed(refund, order: order, reason: "ACQ.TRADE_NOT_EXIST: Alipay has no such trade", lease: lease, now: now)
        default:
            throw Reconciler.failure(outcome, call: TradeRefund.method)
        }
    }

    /// Settles the record as made and applies the refunded total to the order, completing the job: one transaction.
    private func succeeded(
        _ refund: Refund, refundedAt gmtRefund: String?, fundChange: Bool?, refundFee: Amount?, tradeNo: String?, lease: JobLease, now: Date
    ) async throws -> TradeApplication {
        let applier = applier
        let refundedAt = gmtRefund.flatMap(RequestSigner.date(fromTimestamp:))
        return try await store.write { db in
            try db.settleRefund(
                outTradeNo: refund.outTradeNo, outRequestNo: refund.outRequestNo,
                RefundSettlement(status: .succeeded, refundedAt: refundedAt, fundChange: fundChange), now: now)
            guard let order = try db.order(refund.outTradeNo, forUpdate: true) else {
                throw JobFailure.permanent("order \(refund.outTradeNo) no longer exists")
            }
            // Alipay's refund_fee (the running total) when the answer carries it; at least what the records made.
            let made = try db.refunds(refund.outTradeNo).filter { $0.status == .succeeded }.reduce(Int64(0)) { $0 + $1.amountFen }
            let total = max(refundFee?.fen ?? 0, made)
            let fact = TradeFact(
                outTradeNo: refund.outTradeNo, status: order.status, totalAmount: Amount(fen: order.totalAmountFen),
                refundFee: Amount(fen: total), tradeNo: tradeNo, source: .refund, refundedAt: refundedAt, outRequestNo: refund.outRequestNo)
            return try applier.apply(fact, lease: lease, now: now, in: db)
        }
    }

    /// Settles the record as refused, completing the job; the order does not change.
    private func failed(_ refund: Refund, order: Order, reason: String, lease: JobLease, now: Date) async throws -> TradeApplication {
        try await store.write { db in
            try db.settleRefund(
                outTradeNo: refund.outTradeNo, outRequestNo: refund.outRequestNo, RefundSettlement(status: .failed, failure: reason), now: now)
            try db.complete(lease)
        }
        return .unchanged(status: order.status, reason: "refund \(refund.outRequestNo) of \(Amount(fen: refund.amountFen)) refused by Alipay: \(reason)")
    }
}
