import AlipayKit
import Foundation
import GRDB
import NotifyStore

/// Applies one `notification` job: the stored raw body is verified again and its fact goes through ``TradeApplier``.
///
/// The queue holds facts, not parsed copies: the body is re-read and its signature checked again here, so a row
/// altered in the database, or a key that changed since the receiver accepted it, never reaches an order.
public struct NotificationProcessor: Sendable {
    /// The database holding notifications, orders and jobs.
    public let database: NotifyDatabase
    /// Verifies the stored body with Alipay's public key (and our app id).
    public let verifier: NotificationVerifier
    /// The processing rules.
    public let applier: TradeApplier
    /// Used only when `applier.confirmWithQuery` is on.
    public let gateway: (any TradeGateway)?
    /// Where gateway calls and reviews are counted.
    public let metrics: WorkerMetrics

    /// A processor; `gateway` is needed only with `worker.confirmWithQuery`.
    public init(
        database: NotifyDatabase, verifier: NotificationVerifier, applier: TradeApplier, gateway: (any TradeGateway)?,
        metrics: WorkerMetrics = WorkerMetrics()
    ) {
        self.database = database
        self.verifier = verifier
        self.applier = applier
        self.gateway = gateway
        self.metrics = metrics
    }

    /// Processes the job under `lease`; the order change and the job's completion commit together or not at all.
    public func process(_ job: Job, lease: JobLease, now: Date) async throws -> TradeApplication {
        guard let notificationId = job.notificationId else {
            throw JobFailure.permanent("notification job \(lease.jobId) names no stored notification")
        }
        let stored = try await database.pool.read { db in try StoredNotification.fetchOne(db, key: notificationId) }
        guard let stored else {
            throw JobFailure.permanent("stored notification \(notificationId) is gone (pruned?); there is nothing to apply")
        }

        let notification: TradeNotification
        do throws(NotificationError) {
            notification = try verifier.verify(body: stored.body)
        } catch {
            if case .foreignAppId(let other) = error {
                let applier = applier
                return try await database.pool.write { db in
                    try applier.review(
                        .appIdMismatch, "app_id \(other) is not ours (alipay.appId is \(applier.appId))",
                        outTradeNo: stored.outTradeNo, lease: lease, in: db)
                }
            }
            throw JobFailure.permanent(
                "stored notification \(stored.notifyId) does not verify any more (\(error)); if Alipay's public key or "
                    + "alipay.signType changed, fix the configuration, then `notifyctl queue replay --id \(lease.jobId)`")
        }

        var fact = TradeFact(notification)
        if applier.confirmWithQuery {
            fact = try await confirmPayment(fact)
        }
        let applier = applier
        let settled = fact
        return try await database.pool.write { db in
            try applier.apply(settled, lease: lease, now: now, in: db)
        }
    }

    /// With `worker.confirmWithQuery`: when the fact would mark the order paid, asks `alipay.trade.query` and
    /// requires it to agree. Anything short of a verified, agreeing answer is retried, never applied.
    func confirmPayment(_ fact: TradeFact) async throws -> TradeFact {
        let applier = applier
        let evaluation = try await database.pool.read { db in try applier.evaluate(fact, in: db) }
        guard case .decided(.apply(let transition), _) = evaluation, transition.kind == .payment else { return fact }
        guard let gateway else {
            throw JobFailure.permanent("worker.confirmWithQuery is on but this process has no Alipay gateway client")
        }
        let outcome = await gateway.query(outTradeNo: fact.outTradeNo)
        metrics.tradeQuery(outcome)
        switch outcome {
        case .success(let answer):
            guard let status = answer.tradeStatus, OrderStatus(status).isPaid else {
                let said = answer.tradeStatus?.rawValue ?? "no trade_status"
                throw JobFailure.retryable("alipay.trade.query does not confirm the payment of \(fact.outTradeNo) yet (it says \(said))")
            }
            if let total = answer.totalAmount, total != fact.totalAmount {
                throw JobFailure.permanent(
                    "alipay.trade.query reports total_amount \(total) for \(fact.outTradeNo) but the notification said \(fact.totalAmount)")
            }
            var confirmed = fact
            confirmed.confirmedByQuery = true
            return confirmed
        case .tradeNotExist:
            throw JobFailure.retryable("alipay.trade.query does not know the trade \(fact.outTradeNo) yet; payment not confirmed")
        case .retryable(let message):
            throw JobFailure.retryable("alipay.trade.query: \(message)")
        case .configurationError(let message):
            throw JobFailure.permanent("alipay.trade.query: \(message) — check alipay.appId, alipay.signType and the keys")
        case .rejected(let code, let subCode, let message):
            throw JobFailure.permanent("alipay.trade.query rejected: \(code) \(subCode ?? "") \(message)")
        }
    }
}
