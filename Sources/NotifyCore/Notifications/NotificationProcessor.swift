import AlipayKit
import Foundation
import NotifyStore

/// Applies one `notification` job: the stored raw body is read again and its fact goes through ``TradeApplier``.
///
/// The queue holds facts, not parsed copies: the body is re-read here, and its signature checked again unless the
/// receiver's seal on it agrees (``NotificationSeal``), so a row altered in the database by anyone without the app's
/// private key never reaches an order.
public struct NotificationProcessor: Sendable {
    /// The store holding notifications, orders and jobs.
    public let store: any Store
    /// Verifies the stored body with Alipay's public key (and our app id).
    public let verifier: NotificationVerifier
    /// The processing rules.
    public let applier: TradeApplier
    /// Used only when `applier.confirmWithQuery` is on.
    public let gateway: (any TradeGateway)?
    /// Where gateway calls and reviews are counted.
    public let metrics: WorkerMetrics
    /// Certificate mode: fetches the Alipay certificate a stored body names when this process does not hold it yet
    /// (the receiver accepted it after Alipay rotated its certificate; this worker has not met the new one).
    public let certificates: NotificationCertificateAdopter?
    /// The receiver's seal, checked on each stored body before verifying its signature (nil: always verify).
    public let seal: NotificationSeal?

    /// A processor; `gateway` is needed only with `worker.confirmWithQuery`.
    public init(
        store: any Store, verifier: NotificationVerifier, applier: TradeApplier, gateway: (any TradeGateway)?,
        metrics: WorkerMetrics = WorkerMetrics(), certificates: NotificationCertificateAdopter? = nil, seal: NotificationSeal? = nil
    ) {
        self.seal = seal
        self.store = store
        self.verifier = verifier
        self.applier = applier
        self.gateway = gateway
        self.metrics = metrics
        self.certificates = certificates
    }

    /// Processes the job under `lease`; the order change and the job's completion commit together or not at all.
    public func process(_ job: Job, lease: JobLease, now: Date) async throws -> TradeApplication {
        guard let notificationId = job.notificationId else {
            throw JobFailure.permanent("notification job \(lease.jobId) names no stored notification")
        }
        let stored = try await store.read { db in try db.notifications(ids: [notificationId]).first }
        var (prepared, unknownCertificate) = examine(job, stored: stored)
        if let unknownCertificate, let stored { prepared = await adopting(unknownCertificate, then: job, stored: stored, else: prepared) }
        if applier.confirmWithQuery, case .fact(let fact) = prepared {
            prepared = .fact(try await confirmPayment(fact))
        }
        let settled = prepared
        return try await store.write { db in try self.apply(settled, lease: lease, now: now, in: db) }
    }

    /// Whether jobs may be applied many to a transaction (``prepare(_:)`` then ``apply(_:lease:now:in:)`` per job):
    /// only when no gateway call sits between verifying and applying, i.e. without `worker.confirmWithQuery`.
    public var appliesInBatches: Bool { !applier.confirmWithQuery }

    /// Re-reads the stored bodies of many jobs in one read and verifies each; the answer is in the order of `jobs`.
    public func prepare(_ jobs: [Job]) async throws -> [PreparedNotification] {
        let ids = jobs.compactMap(\.notificationId)
        let stored = try await store.read { db in try db.notifications(ids: ids) }
        let byId = Dictionary(stored.map { ($0.id!, $0) }, uniquingKeysWith: { first, _ in first })
        // RSA verification is the CPU-heavy part: spread the batch over the cores, keeping the jobs' order.
        let chunkSize = 64
        var examined = await withTaskGroup(of: (Int, [(PreparedNotification, String?)]).self) { group in
            for start in stride(from: 0, to: jobs.count, by: chunkSize) {
                let chunk = jobs[start..<min(jobs.count, start + chunkSize)]
                group.addTask { (start, chunk.map { job in examine(job, stored: job.notificationId.flatMap { byId[$0] }) }) }
            }
            var examined = [(PreparedNotification, String?)?](repeating: nil, count: jobs.count)
            for await (start, part) in group {
                for (offset, item) in part.enumerated() { examined[start + offset] = item }
            }
            return examined.map { $0! }
        }
        for (index, (prepared, unknownCertificate)) in examined.enumerated() {
            guard let unknownCertificate, let stored = jobs[index].notificationId.flatMap({ byId[$0] }) else { continue }
            examined[index].0 = await adopting(unknownCertificate, then: jobs[index], stored: stored, else: prepared)
        }
        return examined.map(\.0)
    }

    /// A body signed with the Alipay certificate `sn`, which this process does not hold yet (the receiver adopted it
    /// after Alipay rotated its certificate; this worker has not met it): fetched and checked, then the body verified
    /// again. Until it can be fetched the job is retried, not dead-lettered: the receiver verified the body first.
    func adopting(_ sn: String, then job: Job, stored: StoredNotification, else failed: PreparedNotification) async -> PreparedNotification {
        guard let certificates else { return failed }
        switch await certificates.adopt(sn: sn) {
        case .success:
            return prepare(job, stored: stored)
        case .failure(let refusal):
            return .failure(
                .retryable("stored notification \(stored.notifyId) names Alipay certificate \(sn), which this worker does not hold yet: \(refusal)"))
        }
    }

    /// Verifies one stored body (nothing is written): the fact to apply, a review, or why it cannot be applied.
    func prepare(_ job: Job, stored: StoredNotification?) -> PreparedNotification {
        examine(job, stored: stored).prepared
    }

    /// ``prepare(_:stored:)``, and when the signature failed because the body names an Alipay certificate this process
    /// does not hold (certificate mode), that certificate's SN.
    func examine(_ job: Job, stored: StoredNotification?) -> (prepared: PreparedNotification, unknownCertificate: String?) {
        let jobId = job.id ?? 0
        guard let notificationId = job.notificationId else {
            return (.failure(.permanent("notification job \(jobId) names no stored notification")), nil)
        }
        guard let stored else {
            return (.failure(.permanent("stored notification \(notificationId) is gone (pruned?); there is nothing to apply")), nil)
        }
        do throws(NotificationError) {
            let sealed = stored.seal.map { seal?.verifies(stored.body, seal: $0) ?? false } ?? false
            let read = sealed
                ? try verifier.readKeepingUnsupported(verifiedBody: Array(stored.body.utf8))
                : try verifier.verifyKeepingUnsupported(body: stored.body)
            switch read {
            case .trade(let notification):
                return (.fact(TradeFact(notification)), nil)
            case .unsupported(let parameters, let problem):
                // Authentic, but this version cannot read it: parked for a person (and for a replay after an upgrade).
                let detail = "notification \(stored.notifyId) is authentic but not understood by this version: \(problem)"
                return (.review(.unsupportedNotification, detail, outTradeNo: parameters["out_trade_no"]), nil)
            }
        } catch {
            if case .foreignAppId(let other) = error {
                return (.review(.appIdMismatch, "app_id \(other) is not ours (alipay.appId is \(applier.appId))", outTradeNo: stored.outTradeNo), nil)
            }
            let failure = PreparedNotification.failure(
                .permanent(
                    "stored notification \(stored.notifyId) does not verify any more (\(error)); if Alipay's public key or "
                        + "alipay.signType changed, fix the configuration, then `notifyctl queue replay --id \(jobId)`"))
            // Only a signature that does not verify can be a certificate this process has not met yet.
            guard case .invalidSignature = error else { return (failure, nil) }
            return (failure, verifier.unknownCertificateSN(body: Array(stored.body.utf8)))
        }
    }

    /// Writes what a prepared notification amounts to, with the job's completion, inside `db`'s transaction.
    public func apply(_ prepared: PreparedNotification, lease: JobLease, now: Date, in db: any StoreTransaction) throws -> TradeApplication {
        switch prepared {
        case .fact(let fact):
            return try applier.apply(fact, lease: lease, now: now, in: db)
        case .review(let reason, let detail, let outTradeNo):
            return try applier.review(reason, detail, outTradeNo: outTradeNo, lease: lease, now: now, in: db)
        case .failure(let failure):
            throw failure
        }
    }

    /// With `worker.confirmWithQuery`: when the fact would mark the order paid, asks `alipay.trade.query` and
    /// requires it to agree. Anything short of a verified, agreeing answer is retried, never applied.
    func confirmPayment(_ fact: TradeFact) async throws -> TradeFact {
        let applier = applier
        let evaluation = try await store.read { db in try applier.evaluate(fact, in: db) }
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

/// A stored notification re-read and verified, before anything is written.
public enum PreparedNotification: Sendable, Equatable {
    /// Verified: the fact to apply.
    case fact(TradeFact)
    /// Verified but not ours (a foreign `app_id`): the order, if any, goes to review.
    case review(ReviewReason, String, outTradeNo: String?)
    /// Cannot be applied (the body is gone or does not verify any more).
    case failure(JobFailure)
}
