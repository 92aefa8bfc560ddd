import Foundation
import Logging
import NotifyStore
import ServiceLifecycle

/// The queue-draining service of `notify-worker`: claims due jobs under a lease and runs up to `worker.concurrency`
/// of them at once, one at a time per order.
///
/// `notification` jobs need no gateway call (unless `worker.confirmWithQuery`), so they are claimed and applied in
/// batches of up to `batchSize` with one durable transaction per batch (``JobRunner/runBatch(_:owner:)``); a batch
/// takes one slot of the concurrency, and at most `maxBatchesInFlight` run at once so that `reconcile` and `close`
/// jobs always keep slots of their own. On an engine with one writer (SQLite, ``Store/claimsBatchesInsideWrites``) a
/// batch is chosen by a read and claimed inside the transaction that applies it (``JobRunner/runCandidates(_:owner:lease:)``):
/// one commit per batch instead of two.
///
/// Graceful shutdown (SIGTERM) stops claiming at once, lets the jobs already running finish within `drainTimeout`,
/// cancels what is still running after that, and gives the leases of every job it holds back to the queue (jobs
/// that were claimed but not started, or cancelled, go back to pending without counting the attempt).
public struct Worker: Service {
    /// The knobs of the loop.
    public struct Settings: Sendable {
        /// Jobs in flight at most.
        public var concurrency: Int
        /// Lease length of a claim; a heartbeat extends it while a job runs.
        public var lease: Duration
        /// Pause between claims when the queue has nothing due.
        public var pollInterval: Duration
        /// How long graceful shutdown waits for running jobs.
        public var drainTimeout: Duration
        /// Notification jobs claimed and applied per transaction; 1 turns batching off. 384 by default: 5 % more
        /// applies/s than 256 draining a backlog, the worker still under 64 MiB (BENCHMARKS.md, "Fifth pass").
        public var batchSize: Int
        /// Batches running at once, each taking a concurrency slot: three at most (one is read and verified while
        /// the next waits for the writer and a third writes; with two the writer waited for the verification of the
        /// next batch after more than half of its batches, BENCHMARKS.md "Fifth pass"), and at most half the slots.
        public var maxBatchesInFlight: Int
        /// The job kinds this worker claims (its lane): the main lane, or the deliveries.
        public var kinds: Set<JobKind>

        /// Settings from their parts.
        public init(
            concurrency: Int, lease: Duration, pollInterval: Duration, drainTimeout: Duration = .seconds(20), batchSize: Int = 384,
            kinds: Set<JobKind> = JobRunner.kinds
        ) {
            self.kinds = kinds
            self.concurrency = max(1, concurrency)
            self.lease = lease
            self.pollInterval = pollInterval
            self.drainTimeout = drainTimeout
            self.batchSize = max(1, batchSize)
            self.maxBatchesInFlight = max(1, min(3, self.concurrency / 2))
        }

        /// Settings from the `worker.*` configuration.
        public init(_ worker: NotifyConfiguration.Worker) {
            self.init(
                concurrency: worker.concurrency, lease: .milliseconds(Int64(worker.leaseSeconds * 1000)),
                pollInterval: .milliseconds(Int64(worker.pollMilliseconds)),
                // Finishing a job past its lease would only be fenced off: never wait longer than the lease.
                drainTimeout: .milliseconds(Int64(min(worker.leaseSeconds, 20) * 1000)))
        }

        /// The delivery lane's settings: `webhooks.concurrency` deliveries at once, one job per claim.
        public static func deliveries(_ configuration: NotifyConfiguration) -> Settings {
            var settings = Settings(configuration.worker)
            settings.concurrency = configuration.webhooks.concurrency
            settings.batchSize = 1
            settings.maxBatchesInFlight = 1
            settings.kinds = JobRunner.deliveryKinds
            return settings
        }
    }

    /// Runs the claimed jobs.
    public let runner: JobRunner
    /// The store whose queue it drains.
    public let store: any Store
    /// This worker's lease owner token.
    public let owner: String
    /// The knobs.
    public let settings: Settings
    /// Outcome counts for the periodic summary.
    public let stats: WorkerStats
    /// Lifecycle log lines.
    public let logger: Logger
    /// Called once, after the first claim succeeded (the database answers): `notify-worker` sends READY=1 here.
    public let onReady: @Sendable () -> Void

    /// A worker; `owner` should be unique per process (``Worker/makeOwner()``).
    public init(
        runner: JobRunner, store: any Store, owner: String = Worker.makeOwner(), settings: Settings, stats: WorkerStats = WorkerStats(),
        logger: Logger, onReady: @escaping @Sendable () -> Void = {}
    ) {
        self.runner = runner
        self.store = store
        self.owner = owner
        self.settings = settings
        self.stats = stats
        self.logger = logger
        self.onReady = onReady
    }

    /// A lease owner token: host, process id and a random part, so a restarted process never reuses one.
    public static func makeOwner() -> String {
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        return "\(host):\(pid):\(UUID().uuidString.prefix(8).lowercased())"
    }

    private enum Event: Sendable {
        case finished
        /// A batch ended; the ids it had chosen without claiming them (an engine that claims inside the apply).
        case batchFinished(chosen: [Int64])
        case tick
        case deadline
    }

    private enum ClaimKind {
        case batch
        case others
    }


    /// Drains the queue until graceful shutdown or cancellation.
    public func run() async throws {
        let locks = KeyedLock()
        // Only kinds this process runs are claimed: during a rolling upgrade an older worker leaves a newer kind to
        // the workers that know it, and a runner without an Alipay client leaves refunds and statements alone. With
        // batching, notifications are claimed apart, a batch at a time.
        let kinds = settings.kinds.intersection(runner.runnableKinds)
        let batching = settings.batchSize > 1 && kinds.contains(.notification) && runner.notifications.appliesInBatches
        let singleKinds = batching ? kinds.subtracting([.notification]) : kinds
        let claimInside = batching && store.claimsBatchesInsideWrites
        logger.info(
            "worker started",
            metadata: [
                "owner": "\(owner)", "kinds": "\(kinds.map(\.rawValue).sorted().joined(separator: ","))",
                "concurrency": "\(settings.concurrency)", "lease": "\(settings.lease)",
                "batch_size": "\(batching ? settings.batchSize : 1)",
            ])
        // With PostgreSQL, a receiver's commit NOTIFYs idle workers: the poll tick is then cut short. Polling stays the
        // guarantee (a lost wake-up only costs the poll interval).
        let wake = WakeSignal()
        let listener = store.jobWakeUps().map { stream in
            Task {
                for await _ in stream { wake.fire() }
            }
        }
        defer { listener?.cancel() }
        await withTaskGroup(of: Event.self) { group in
            var inFlight = 0
            var batchesInFlight = 0
            var ticking = false
            var ready = false
            var claimFailures = 0
            // Whether the last claims got everything they asked for: then more jobs are probably due, and the loop
            // claims again as soon as a batch slot, or half the single-job slots, are free (one claim transaction per
            // batch, not per job). Otherwise the queue is drained and the next claim waits for the poll tick.
            var notificationBacklog = true
            var lastClaimWasBatch = false
            var otherBacklog = true
            var tickFired = true
            let refill = max(1, settings.concurrency / 2)
            // Jobs chosen by batches still running (claimed inside their apply): the next batch must not choose them too.
            var chosen: Set<Int64> = []

            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let free = settings.concurrency - inFlight
                let batchSlot = batching && batchesInFlight < settings.maxBatchesInFlight
                if free > 0 && (tickFired || inFlight == 0 || (batchSlot && notificationBacklog) || (otherBacklog && free >= refill)) {
                    tickFired = false
                    do {
                        var slots = free
                        let now = runner.now()
                        // With no slot of their own (worker.concurrency 1), reconcile and close jobs take turns with
                        // the batches instead of waiting for the whole notification backlog.
                        let othersFirst = batching && lastClaimWasBatch && settings.concurrency <= settings.maxBatchesInFlight
                        for claiming in othersFirst ? [ClaimKind.others, .batch] : [.batch, .others] where slots > 0 {
                            switch claiming {
                            case .batch:
                                guard batchSlot else { continue }
                                // A batch: chosen by a read and claimed inside its apply (one writer), or claimed apart.
                                let batch: [Job]
                                if claimInside {
                                    let taken = chosen
                                    batch = try await store.read { db in
                                        try db.claimableJobs(kinds: [.notification], now: now, limit: settings.batchSize, excluding: taken)
                                    }
                                } else {
                                    batch = try await store.claim(
                                        owner: owner, limit: settings.batchSize, lease: settings.lease, now: now, kinds: [.notification])
                                }
                                notificationBacklog = batch.count == settings.batchSize
                                lastClaimWasBatch = !batch.isEmpty
                                if !batch.isEmpty {
                                    slots -= 1
                                    inFlight += 1
                                    batchesInFlight += 1
                                    if claimInside {
                                        let ids = batch.map { $0.id ?? 0 }
                                        chosen.formUnion(ids)
                                        group.addTask { await executeCandidates(batch, ids: ids) }
                                    } else {
                                        group.addTask { await executeBatch(batch) }
                                    }
                                }
                            case .others:
                                let jobs = try await store.claim(
                                    owner: owner, limit: slots, lease: settings.lease, now: now, kinds: singleKinds)
                                otherBacklog = jobs.count == slots
                                if !jobs.isEmpty { lastClaimWasBatch = false }
                                slots -= jobs.count
                                for job in jobs {
                                    inFlight += 1
                                    group.addTask { await execute(job, locks: locks) }
                                }
                            }
                        }
                        if !ready {
                            // Ready means the database takes writes; the claims so far may all have been reads (SQLite
                            // answers a claim that finds nothing due without its writer; batches are chosen by a read).
                            if !(await store.isWritable()) {
                                throw StoreError.unavailable("the database does not take writes (read-only, or locked past the busy timeout)")
                            }
                            ready = true
                            onReady()
                        }
                        claimFailures = 0
                    } catch {
                        notificationBacklog = false
                        otherBacklog = false
                        claimFailures += 1
                        if claimFailures == 1 || claimFailures % 50 == 0 {
                            logger.error("cannot claim jobs; retrying", metadata: ["error": "\(error)", "failures": "\(claimFailures)"])
                        }
                    }
                }
                if !ticking {
                    ticking = true
                    let interval = settings.pollInterval
                    group.addTask {
                        await withTaskGroup(of: Void.self) { wait in
                            wait.addTask { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } }
                            wait.addTask { _ = try? await cancelWhenGracefulShutdown { await wake.wait() } }
                            await wait.next()
                            wait.cancelAll()
                        }
                        return .tick
                    }
                }
                switch await group.next() {
                case .finished: inFlight -= 1
                case .batchFinished(let ids):
                    inFlight -= 1
                    batchesInFlight -= 1
                    chosen.subtract(ids)
                case .tick:
                    ticking = false
                    tickFired = true
                case .deadline, nil: break
                }
            }

            if inFlight > 0 {
                logger.info("shutting down: letting running jobs finish", metadata: ["in_flight": "\(inFlight)"])
                let timeout = settings.drainTimeout
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return .deadline
                }
                while inFlight > 0, let event = await group.next() {
                    switch event {
                    case .finished, .batchFinished:
                        inFlight -= 1
                    case .deadline:
                        logger.warning("jobs still running after \(timeout): cancelling them", metadata: ["in_flight": "\(inFlight)"])
                        group.cancelAll()
                    case .tick:
                        break
                    }
                }
            }
            group.cancelAll()
        }
        do {
            try await store.releaseLeases(owner: owner)
        } catch {
            logger.error(
                "could not release leases at shutdown; those jobs run again once their lease ends", metadata: ["error": "\(error)"])
        }
        logger.info("worker stopped", metadata: ["owner": "\(owner)"])
    }

    /// Runs one claimed job under its order's lock, keeping its lease alive meanwhile.
    private func execute(_ job: Job, locks: KeyedLock) async -> Event {
        // One job of an order at a time; a delivery changes no order and is not held up by one.
        let key = job.kind == .deliver ? "job:\(job.id ?? 0)" : job.outTradeNo.map { "order:\($0)" } ?? "job:\(job.id ?? 0)"
        await locks.lock(key)
        guard !Task.isShuttingDownGracefully && !Task.isCancelled else {
            // Not started: its lease is released with the others at the end of run().
            await locks.unlock(key)
            return .finished
        }
        let report = await withLeaseHeartbeat(job.lease.map { [$0] } ?? []) { await runner.run(job, owner: owner) }
        await stats.record(report.outcome)
        await locks.unlock(key)
        return .finished
    }

    /// Runs a batch of claimed notification jobs in one transaction, keeping their leases alive meanwhile.
    ///
    /// It takes no per-order lock: inside the batch's transaction each job reads its order for update (a row lock on
    /// PostgreSQL, the single writer on SQLite), which orders it with any other job of the same order on any host.
    private func executeBatch(_ jobs: [Job]) async -> Event {
        guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return .batchFinished(chosen: []) }
        let reports = await withLeaseHeartbeat(jobs.compactMap(\.lease)) { await runner.runBatch(jobs, owner: owner) }
        await stats.record(reports.map(\.outcome))
        return .batchFinished(chosen: [])
    }

    /// Runs a batch of chosen, unclaimed notification jobs: claimed and applied in one transaction. No lease
    /// outlives it, so there is nothing to keep alive and nothing to give back.
    private func executeCandidates(_ candidates: [Job], ids: [Int64]) async -> Event {
        guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return .batchFinished(chosen: ids) }
        let reports = await runner.runCandidates(candidates, owner: owner, lease: settings.lease)
        await stats.record(reports.map(\.outcome))
        return .batchFinished(chosen: ids)
    }

    /// Extends the jobs' leases every third of their length while `body` runs, so slow work keeps them.
    private func withLeaseHeartbeat<Result: Sendable>(_ leases: [JobLease], _ body: @Sendable () async -> Result) async -> Result {
        guard !leases.isEmpty else { return await body() }
        let lease = settings.lease
        let store = store
        let now = runner.now
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: lease / 3)
                    if Task.isCancelled { return }
                    try? await store.extendLeases(leases, until: now().addingTimeInterval(lease.seconds))
                }
            }
            let result = await body()
            group.cancelAll()
            return result
        }
    }
}
