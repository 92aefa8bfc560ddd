import Foundation
import Logging
import NotifyStore

/// Runs one claimed job to its end: dispatches on its kind, then records the outcome under its lease.
///
/// The outcome of a processor is already committed together with the job's completion (or dead-lettering for a
/// review). Failures are recorded here: retryable ones go back to pending at `now + backoff` until
/// `worker.maxAttempts` is used up, permanent ones go dead at once, each with its reason. A lost lease means
/// another worker owns the job now: nothing is recorded, and the transaction that tried to apply was rolled back.
public struct JobRunner: Sendable {
    /// The store: jobs, orders, notifications.
    public let store: any Store
    /// `notification` jobs.
    public let notifications: NotificationProcessor
    /// `reconcile` and `close` jobs.
    public let reconciler: Reconciler
    /// When a failed job runs again and when it gives up, per kind.
    public let retry: RetryPolicies
    /// Metrics, recorded after commit.
    public let metrics: WorkerMetrics
    /// Log lines about outcomes.
    public let logger: Logger
    /// The clock (tests move it).
    public let now: @Sendable () -> Date
    /// `deliver` jobs (order events to the merchant's endpoints); nil in processes that send none.
    public let deliverer: WebhookDeliverer?
    /// `refund` jobs; nil in processes that run none (a `refund` job then fails as unknown to them).
    public let refunder: Refunder?
    /// `statement` jobs; nil in processes that run none.
    public let statements: StatementReconciler?

    /// A runner from its parts.
    public init(
        store: any Store, notifications: NotificationProcessor, reconciler: Reconciler, retry: RetryPolicies, metrics: WorkerMetrics = WorkerMetrics(), logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
        deliverer: WebhookDeliverer? = nil, refunder: Refunder? = nil, statements: StatementReconciler? = nil
    ) {
        self.deliverer = deliverer
        self.refunder = refunder
        self.statements = statements
        self.store = store
        self.notifications = notifications
        self.reconciler = reconciler
        self.retry = retry
        self.metrics = metrics
        self.logger = logger
        self.now = now
    }

    /// The job kinds of the worker's main lane.
    public static let kinds: Set<JobKind> = [.notification, .reconcile, .close, .refund, .statement]
    /// The kinds this runner can run: a process without a refund or statement runner (no Alipay client) must leave
    /// those jobs to one that has it, not dead-letter them as unknown.
    public var runnableKinds: Set<JobKind> {
        var kinds = Self.kinds
        if refunder == nil { kinds.remove(.refund) }
        if statements == nil { kinds.remove(.statement) }
        if deliverer != nil { kinds.formUnion(Self.deliveryKinds) }
        return kinds
    }

    /// The job kinds of the delivery lane (their own concurrency: a slow endpoint never takes the main lane's slots).
    public static let deliveryKinds: Set<JobKind> = [.deliver]

    /// Runs a job claimed by `owner` and says how it ended. Never throws: every error is classified and recorded.
    public func run(_ job: Job, owner: String) async -> JobReport {
        guard let lease = job.lease, lease.owner == owner else {
            return JobReport(job: job, outcome: .leaseLost, message: "job \(job.id ?? 0) is not leased to \(owner)")
        }
        let started = ContinuousClock.now
        let report: JobReport
        if job.kind == .deliver, let deliverer {
            report = await deliverer.run(job, lease: lease)
        } else if job.kind == .statement, let statements {
            report = await runStatement(job, lease: lease, statements)
        } else {
            report = await runRules(job, lease: lease)
        }
        metrics.duration(kind: job.kind.rawValue, ContinuousClock.now - started)
        observe(report)
        return report
    }

    /// A `statement` job: the day's check stored with the job's completion.
    private func runStatement(_ job: Job, lease: JobLease, _ statements: StatementReconciler) async -> JobReport {
        do {
            try checkAttempts(job)
            guard let day = StatementReconciler.Payload.decoded(job.payload)?.billDate else {
                throw JobFailure.permanent("statement job \(lease.jobId) names no bill_date")
            }
            guard let check = try await statements.run(billDate: day, lease: lease) else {
                return JobReport(job: job, outcome: .unchanged, message: "statement of \(day): checked already")
            }
            metrics.statementCheck(check)
            let found = check.differences.isEmpty ? "no differences" : "\(check.differences.count) differences: `notifyctl bills show --date \(day)`"
            return JobReport(job: job, outcome: .applied, message: "statement of \(day): \(check.rows) rows, \(found)")
        } catch {
            return await recordFailure(error, job: job, lease: lease)
        }
    }

    /// A job whose outcome is a ``TradeApplication`` (notification, reconcile, close, refund).
    private func runRules(_ job: Job, lease: JobLease) async -> JobReport {
        let report: JobReport
        do {
            let result = try await dispatch(job, lease: lease)
            report = JobReport(job: job, result: result)
        } catch {
            report = await recordFailure(error, job: job, lease: lease)
        }
        return report
    }

    /// Runs many claimed `notification` jobs with one durable transaction for all of them, then says how each ended.
    ///
    /// The stored bodies are re-read and verified first (no write lock held); then one write transaction applies
    /// them in claim order, each job inside its own savepoint: a job whose rules fail is rolled back alone and its
    /// failure recorded (retry or dead) in the same transaction, exactly as ``run(_:owner:)`` would. Every change is
    /// still conditional on the order's status read inside the transaction and fenced by the job's lease, so two
    /// jobs of one order in a batch apply one after the other. If the transaction as a whole fails (disk full, busy
    /// past the timeout) nothing of it was written, and the jobs run one by one instead so that each records its own
    /// outcome. Never throws.
    public func runBatch(_ jobs: [Job], owner: String) async -> [JobReport] {
        guard notifications.appliesInBatches, jobs.allSatisfy({ $0.kind == .notification && $0.lease?.owner == owner }) else {
            return await runOneByOne(jobs, owner: owner)
        }
        let started = ContinuousClock.now
        let reports: [JobReport]
        do {
            let prepared = try await notifications.prepare(jobs)
            let now = now()
            let items = Array(zip(jobs, prepared))
            reports = try await applyingOptimistically(items) { isolated in
                try await store.write { db in try self.apply(items, isolated: isolated, now: now, in: db) }
            }
        } catch {
            // Nothing of the batch was written. A cancelled worker gives the leases back at its end instead.
            if Task.isCancelled { return [] }
            logger.warning(
                "a batch of \(jobs.count) notification jobs could not commit; running them one by one",
                metadata: ["error": "\(error)"])
            return await runOneByOne(jobs, owner: owner)
        }
        observe(reports, since: started)
        return reports
    }

    /// Runs a batch of `notification` jobs chosen with ``StoreReading/claimableJobs(kinds:now:limit:)`` but not
    /// claimed yet, for an engine that claims inside the apply (``Store/claimsBatchesInsideWrites``): the bodies are
    /// read and verified first (no write lock held), then one write transaction takes those candidates still
    /// claimable (``StoreTransaction/take(_:owner:lease:now:)``: leases for that transaction only; on SQLite a job
    /// completed goes from pending straight to done) and applies them exactly as ``runBatch(_:owner:)`` does. A
    /// candidate another worker took meanwhile is simply not in the answer. Nobody ever sees these jobs running, and
    /// a crash before the commit leaves them as they were. If the transaction fails as a
    /// whole, the candidates are claimed apart and run one by one, each recording its own outcome. Never throws.
    public func runCandidates(_ candidates: [Job], owner: String, lease: Duration) async -> [JobReport] {
        guard notifications.appliesInBatches, candidates.allSatisfy({ $0.kind == .notification }) else { return [] }
        let started = ContinuousClock.now
        let reports: [JobReport]
        do {
            let prepared = try await notifications.prepare(candidates)
            let byId = Dictionary(uniqueKeysWithValues: zip(candidates.map { $0.id ?? 0 }, prepared))
            let now = now()
            reports = try await applyingOptimistically(Array(zip(candidates, prepared))) { isolated in
                try await store.write { db in
                    let claimed = try db.take(candidates, owner: owner, lease: lease, now: now)
                    return try self.apply(claimed.map { ($0, byId[$0.id ?? 0]!) }, isolated: isolated, now: now, in: db)
                }
            }
        } catch {
            if Task.isCancelled { return [] }
            logger.warning(
                "a batch of \(candidates.count) notification jobs could not commit; claiming them apart and running them one by one",
                metadata: ["error": "\(error)"])
            do {
                let now = now()
                let claimed = try await store.write { db in try db.claim(candidates, owner: owner, lease: lease, now: now) }
                return await runOneByOne(claimed, owner: owner)
            } catch {
                // Not claimed: still due, they are chosen again by a later pass.
                logger.error("cannot claim notification jobs; retrying later", metadata: ["error": "\(error)"])
                return []
            }
        }
        observe(reports, since: started)
        return reports
    }

    /// A job of a batch applied without a savepoint threw: the whole transaction is rolled back and the batch runs
    /// again with one savepoint per job.
    private struct NeedsIsolation: Error {}

    /// Runs `body` first without per-job savepoints (`isolated` false), when no job is known to fail: a savepoint per
    /// job costs its pages a copy on SQLite (the sub-journal) and two round trips on PostgreSQL, and jobs almost never
    /// throw (a review or "nothing to change" is an outcome, not an error). If one does, nothing of that attempt was
    /// committed and `body` runs again with savepoints, so that the failing job is rolled back alone.
    private func applyingOptimistically(
        _ items: [(Job, PreparedNotification)], _ body: (_ isolated: Bool) async throws -> [JobReport]
    ) async throws -> [JobReport] {
        let failing = items.contains { if case .failure = $0.1 { true } else { false } }
        if !failing {
            do {
                return try await body(false)
            } catch is NeedsIsolation {}
        }
        return try await body(true)
    }

    /// Applies prepared notification jobs inside `db`'s transaction. `isolated`: each in its own savepoint, so that a
    /// job whose rules fail is rolled back alone and its failure recorded (retry or dead) in the same transaction,
    /// exactly as ``run(_:owner:)`` would. Not isolated: a job that throws throws ``NeedsIsolation`` (the caller rolls
    /// back and runs the batch isolated).
    private func apply(
        _ items: [(Job, PreparedNotification)], isolated: Bool, now: Date, in db: any StoreTransaction
    ) throws -> [JobReport] {
        var reports: [JobReport] = []
        reports.reserveCapacity(items.count)
        for (job, item) in items {
            let lease = job.lease!
            guard isolated else {
                do {
                    try checkAttempts(job)
                    reports.append(JobReport(job: job, result: try notifications.apply(item, lease: lease, now: now, in: db)))
                } catch {
                    throw NeedsIsolation()
                }
                continue
            }
            do {
                let result = try db.savepoint {
                    try self.checkAttempts(job)
                    return try self.notifications.apply(item, lease: lease, now: now, in: db)
                }
                reports.append(JobReport(job: job, result: result))
            } catch {
                reports.append(try self.recordFailure(error, job: job, lease: lease, in: db))
            }
        }
        return reports
    }

    private func observe(_ reports: [JobReport], since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        for report in reports {
            metrics.duration(kind: report.kind.rawValue, elapsed)
            observe(report)
        }
    }

    private func runOneByOne(_ jobs: [Job], owner: String) async -> [JobReport] {
        var reports: [JobReport] = []
        for job in jobs { reports.append(await run(job, owner: owner)) }
        return reports
    }

    private func dispatch(_ job: Job, lease: JobLease) async throws -> TradeApplication {
        try checkAttempts(job)
        switch job.kind {
        case .notification: return try await notifications.process(job, lease: lease, now: now())
        case .reconcile: return try await reconciler.reconcile(job, lease: lease, now: now())
        case .close: return try await reconciler.close(job, lease: lease, now: now())
        case .refund where refunder != nil: return try await refunder!.refund(job, lease: lease, now: now())
        default: throw JobFailure.permanent("\(job.kind) jobs are not known to this worker version; upgrade it, then replay")
        }
    }

    private func checkAttempts(_ job: Job) throws {
        let maxAttempts = retry.policy(for: job.kind).maxAttempts
        if job.attempts > maxAttempts {
            // Claimed again after leases kept expiring (a worker crashing on it): stop before trying once more.
            throw JobFailure.permanent("claimed \(job.attempts) times without finishing (at most \(maxAttempts) attempts for \(job.kind))")
        }
    }

    /// What the retry policy makes of a failure: retry at a later time, or dead with the reason.
    private func disposition(_ failure: JobFailure, job: Job) -> (outcome: JobReport.Outcome, message: String, retryAt: Date?) {
        let policy = retry.policy(for: job.kind)
        switch failure {
        case .permanent(let reason):
            return (.dead, reason, nil)
        case .retryable(let reason) where job.attempts >= policy.maxAttempts:
            return (.dead, "gave up after \(job.attempts) attempts: \(reason)", nil)
        case .retryable(let reason):
            return (.retry, reason, now().addingTimeInterval(policy.backoff.delay(afterAttempt: max(1, job.attempts))))
        }
    }

    /// Records a failure inside the caller's transaction. Throws only when the database cannot record it.
    private func recordFailure(_ error: any Error, job: Job, lease: JobLease, in db: any StoreTransaction) throws -> JobReport {
        guard let failure = JobFailure.classify(error) else {
            return JobReport(job: job, outcome: .leaseLost, message: "lease lost: another worker owns the job now; this attempt was rolled back")
        }
        let (outcome, message, retryAt) = disposition(failure, job: job)
        do {
            if let retryAt {
                try db.retry(lease, at: retryAt, error: message)
            } else {
                try db.deadLetter(lease, reason: message)
            }
        } catch StoreError.leaseLost {
            return JobReport(job: job, outcome: .leaseLost, message: "lease lost before recording: \(message)")
        }
        return JobReport(job: job, outcome: outcome, message: message, retryAt: retryAt)
    }

    /// Records a failure in its own transaction.
    private func recordFailure(_ error: any Error, job: Job, lease: JobLease) async -> JobReport {
        do {
            return try await store.write { db in try self.recordFailure(error, job: job, lease: lease, in: db) }
        } catch {
            // The lease will expire and another claim will run the job again: nothing is lost.
            logger.error(
                "could not record the outcome of a job; it will be claimed again when its lease ends",
                metadata: ["job": "\(lease.jobId)", "error": "\(error)"])
            return JobReport(job: job, outcome: .leaseLost, message: "outcome not recorded: \(error)")
        }
    }

    private func observe(_ report: JobReport) {
        var metadata: Logger.Metadata = [
            "job": "\(report.jobId)", "kind": "\(report.kind.rawValue)", "attempt": "\(report.attempt)",
        ]
        if let outTradeNo = report.outTradeNo { metadata["out_trade_no"] = "\(outTradeNo)" }
        switch report.outcome {
        case .applied:
            metrics.job(kind: report.kind.rawValue, outcome: "done")
            if case .applied(let transition, let source, let earlier) = report.result {
                for move in earlier + [transition] { metrics.applied(move, source: source) }
                logger.info("order updated: \(report.message)", metadata: metadata)
            } else {
                logger.info("\(report.message)", metadata: metadata)
            }
        case .unchanged:
            metrics.job(kind: report.kind.rawValue, outcome: "done")
            logger.debug("nothing to change: \(report.message)", metadata: metadata)
        case .review:
            metrics.job(kind: report.kind.rawValue, outcome: "dead")
            if case .review(let reason, _) = report.result {
                metrics.review(reason)
                metadata["reason"] = "\(reason.rawValue)"
                logger.error(
                    "order NOT changed, sent to review: \(report.message). What to do: \(reason.operatorHint)", metadata: metadata)
            }
        case .retry:
            metrics.job(kind: report.kind.rawValue, outcome: "retry")
            if let retryAt = report.retryAt { metadata["retry_at"] = "\(retryAt)" }
            logger.warning("job failed, will retry: \(report.message)", metadata: metadata)
        case .dead:
            metrics.job(kind: report.kind.rawValue, outcome: "dead")
            logger.error(
                "job dead: \(report.message). Fix the cause, then `notifyctl queue replay --id \(report.jobId)`", metadata: metadata)
        case .leaseLost:
            metrics.job(kind: report.kind.rawValue, outcome: "lease_lost")
            logger.warning("\(report.message)", metadata: metadata)
        }
    }
}

/// How one run of a job ended.
public struct JobReport: Sendable {
    /// The outcome classes the worker counts.
    public enum Outcome: String, Sendable, Equatable {
        /// Done, the order changed.
        case applied
        /// Done, nothing to change.
        case unchanged
        /// Dead, order flagged for review.
        case review
        /// Back to pending at `retryAt`.
        case retry
        /// Dead with a reason.
        case dead
        /// Another worker owns the job; this run's writes were rolled back.
        case leaseLost = "lease_lost"
    }

    /// The job's id (0 if it had none).
    public var jobId: Int64
    /// The job's kind.
    public var kind: JobKind
    /// The order, when the job names one.
    public var outTradeNo: String?
    /// The claim count of this run.
    public var attempt: Int
    /// How it ended.
    public var outcome: Outcome
    /// What the rules did, when they ran to the end.
    public var result: TradeApplication?
    /// One line for people.
    public var message: String
    /// When a retried job runs again.
    public var retryAt: Date?

    /// A report of a failure or a lost lease.
    public init(job: Job, outcome: Outcome, message: String, retryAt: Date? = nil) {
        jobId = job.id ?? 0
        kind = job.kind
        outTradeNo = job.outTradeNo
        attempt = job.attempts
        self.outcome = outcome
        self.message = message
        self.retryAt = retryAt
    }

    /// A report of a run whose rules ran to the end (already committed).
    public init(job: Job, result: TradeApplication) {
        let outcome: Outcome
        let message: String
        switch result {
        case .applied(let transition, _, let earlier):
            outcome = .applied
            message = (earlier + [transition]).map { "\(job.outTradeNo ?? "?"): \($0.from) → \($0.to) (\($0.detail))" }
                .joined(separator: "; then ")
        case .unchanged(let status, let reason):
            outcome = .unchanged
            message = "\(job.outTradeNo ?? "?") stays \(status): \(reason)"
        case .review(let reason, let detail):
            outcome = .review
            message = "\(reason.rawValue): \(detail)"
        }
        self.init(job: job, outcome: outcome, message: message)
        self.result = result
    }
}
