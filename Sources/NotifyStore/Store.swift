import Foundation

/// The store contract: everything the domain, the receiver, the worker and `notifyctl` may ask of a database.
///
/// Two engines implement it — SQLite (`NotifyStoreSQLite`, the embedded default) and PostgreSQL
/// (`NotifyStorePostgres`, for several hosts) — and one conformance suite runs against both. No engine type, no SQL
/// text and no engine error code crosses it: failures arrive as ``StoreError``, whose cases say what the caller
/// should do (retry, report a duplicate, stop).
///
/// Work that must be atomic is a unit of work: ``write(_:)`` runs a synchronous closure inside one durable
/// transaction and commits when it returns (rolls back when it throws). The closure is synchronous on purpose: the
/// domain rules read top to bottom, and an engine decides how to run it (SQLite on its writer connection,
/// PostgreSQL on a pooled connection from a thread of its own).
///
/// ```swift
/// let applied = try await store.write { tx in
///     guard let order = try tx.order("A1", forUpdate: true) else { return false }
///     let moved = try tx.transition(order, to: .tradeSuccess, changes: OrderChanges(paidAt: now), event: event) != nil
///     try tx.complete(lease)
///     return moved
/// }
/// ```
///
/// The queue operations that are transactions of their own (claim, heartbeat, release, replay, prune) and the
/// receiver's group-commit append are methods of the store itself.
public protocol Store: AnyObject, Sendable {
    /// Where the data lives, for logs and `notifyctl config show`: never contains a password.
    var location: String { get }

    /// Runs `body` in one read transaction (a consistent snapshot).
    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws -> T

    /// Runs `body` in one durable write transaction: committed when it returns, rolled back when it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T

    /// Stores verified notifications in one transaction: each new `notify_id` with its `notification` job, each
    /// re-delivery as a bumped delivery count. Returns once committed durably, one result per notification, in order.
    /// Two hosts appending the same `notify_id` at once store it once; both get a result (one `.stored`, one `.duplicate`).
    func append(_ notifications: [IncomingNotification]) async throws -> [AppendResult]

    /// Leases up to `limit` due jobs to `owner` in one transaction: pending jobs whose `runAt` has come, and running
    /// jobs whose lease ended (their previous owner died or stalled). Each claimed job's `attempts` goes up by one;
    /// its lease (``Job/lease``) fences every later write of that attempt. Two claimers never get the same job.
    func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>?) async throws -> [Job]

    /// Whether a worker should claim notification batches inside the transaction that applies them
    /// (``StoreReading/claimableJobs(kinds:now:limit:)`` to choose them, ``StoreTransaction/take(_:owner:lease:now:)``
    /// to take them) rather than with ``claim(owner:limit:lease:now:kinds:)`` apart: true for an engine with a single
    /// writer, where a claim of its own is one more commit and no more concurrency.
    var claimsBatchesInsideWrites: Bool { get }

    /// Moves the lease end of those of `leases` still held, for long work; the others are skipped.
    func extendLeases(_ leases: [JobLease], until: Date) async throws

    /// Gives every job leased to `owner` back to pending without counting the attempt (graceful shutdown).
    func releaseLeases(owner: String) async throws

    /// Puts dead or done jobs back to pending with attempts reset; history is kept. `dryRun` only lists them.
    /// A job whose unique key is held by a live job is left alone (that job does the same work).
    func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job]

    /// Deletes done jobs last changed before `olderThan`, then notifications older than that which no job refers to,
    /// in bounded batches (short transactions). Pending, running and dead jobs and their notifications are kept.
    func prune(olderThan: Date) async throws -> (jobs: Int, notifications: Int)

    /// Keeps a refused body for diagnosis, then drops all but the newest `keep` (see ``RejectedNotification``).
    func recordRejected(_ rejected: RejectedNotification, keep: Int) async throws

    /// True when a write transaction commits now (for `/readyz`).
    func isWritable() async -> Bool

    /// The migrations this build knows, in order.
    var knownMigrations: [String] { get }

    /// The migrations this handle applied when it opened (empty when the schema was already current).
    var migrationsAppliedOnOpen: [String] { get }

    /// The known migrations the database has not applied. Throws ``StoreError/schemaTooNew(found:known:)`` when the
    /// database was migrated by a newer build.
    func pendingMigrations() async throws -> [String]

    /// Applies the pending migrations and returns their names (empty when up to date). Safe when several hosts start
    /// at once.
    @discardableResult
    func migrate() async throws -> [String]

    /// A stream that yields when another process may have enqueued jobs (a wake-up hint; polling stays the
    /// guarantee). Nil when the engine has no such signal.
    func jobWakeUps() -> AsyncStream<Void>?

    /// Releases connections and files. The store must not be used afterwards.
    func close() async
}

/// Reads, inside a read or write transaction.
public protocol StoreReading {
    /// The order with this number, or nil.
    func order(_ outTradeNo: String) throws -> Order?
    /// Most recent orders first, optionally only those with `status`.
    func orders(status: OrderStatus?, limit: Int) throws -> [Order]
    /// How many orders are in each status (statuses without orders are absent).
    func orderCounts() throws -> [OrderStatus: Int]
    /// How many orders are flagged for review.
    func ordersNeedingReview() throws -> Int
    /// The order's events, oldest first.
    func orderEvents(_ outTradeNo: String) throws -> [OrderEvent]
    /// Oldest first: orders in one of `statuses`, created at or before `createdBefore`, not flagged for review, that
    /// have no live job of `liveKinds` and no dead job of `deadKinds` (what the sweeper settles next). A flagged order
    /// waits for a person: scheduling more queries would only add dead jobs for the same cause.
    func ordersWithoutJobs(
        statuses: Set<OrderStatus>, createdBefore: Date, liveKinds: Set<JobKind>, deadKinds: Set<JobKind>, limit: Int
    ) throws -> [Order]

    /// The order's refund requests, oldest first.
    func refunds(_ outTradeNo: String) throws -> [Refund]
    /// One refund request of an order by its `out_request_no`.
    func refund(_ outTradeNo: String, outRequestNo: String) throws -> Refund?
    /// Oldest first: pending refunds recorded at or before `createdBefore` whose `refund` job (``Refund/jobKey``) is
    /// neither live nor dead — what the sweeper hands to a new job (a dead one waits for a person).
    func pendingRefundsWithoutJobs(createdBefore: Date, limit: Int) throws -> [Refund]

    /// Oldest payment first: `TRADE_SUCCESS` orders paid within `paidAfter ... paidBefore`, not flagged for review,
    /// with no live job of `liveKinds` (the paid orders the sweeper asks Alipay about, for a lost refund notification).
    func paidOrdersWithoutJobs(paidAfter: Date, paidBefore: Date, liveKinds: Set<JobKind>, limit: Int) throws -> [Order]

    /// Orders whose `paidAt` is in `from ..< to`, oldest payment first (a day's payments, for the statement check).
    func ordersPaid(from: Date, to: Date) throws -> [Order]
    /// Refunds made (`succeeded`) whose `refundedAt` is in `from ..< to`, oldest first.
    func refundsMade(from: Date, to: Date) throws -> [Refund]
    /// The stored statement check of a day, or nil.
    func statementCheck(billDate: String) throws -> StatementCheck?
    /// Stored statement checks, latest day first.
    func statementChecks(limit: Int) throws -> [StatementCheck]

    /// Stored notifications by id, in no particular order; missing ids are absent.
    func notifications(ids: [Int64]) throws -> [StoredNotification]
    /// The stored notification with this `notify_id`.
    func notification(notifyId: String) throws -> StoredNotification?
    /// Refused bodies, newest first.
    func rejectedNotifications(limit: Int) throws -> [RejectedNotification]
    /// One refused body by id.
    func rejectedNotification(id: Int64) throws -> RejectedNotification?

    /// One job by id.
    func job(_ id: Int64) throws -> Job?
    /// Most recent jobs first, optionally filtered.
    func jobs(state: JobState?, kind: JobKind?, outTradeNo: String?, limit: Int) throws -> [Job]
    /// The most recent job of `kind` for the order, whatever its state.
    func latestJob(kind: JobKind, outTradeNo: String) throws -> Job?
    /// How each attempt of a job ended, oldest first.
    func jobHistory(_ jobId: Int64) throws -> [JobAttempt]
    /// Job counts by state.
    func queueStats() throws -> QueueStats
    /// What a claim would take now, oldest first, at most `limit` (nothing is leased): due pending jobs of `kinds`,
    /// and running ones whose lease ended, leaving out the jobs in `excluding` (chosen by batches still running).
    func claimableJobs(kinds: Set<JobKind>?, now: Date, limit: Int, excluding: Set<Int64>) throws -> [Job]
    /// The `runAt` of the oldest due pending job; nil when none is waiting.
    func oldestDueJob(now: Date) throws -> Date?

    /// Webhook endpoints, oldest first.
    func webhookEndpoints() throws -> [WebhookEndpoint]
    /// One endpoint by its id (`ep_…`).
    func webhookEndpoint(_ endpointId: String) throws -> WebhookEndpoint?
    /// Order events for webhooks, newest first, optionally only one order's, one type's, or those written at or
    /// after `since`.
    func webhookEvents(outTradeNo: String?, type: String?, since: Date?, limit: Int) throws -> [WebhookEvent]
    /// One event by its id (`evt_…`).
    func webhookEvent(_ eventId: String) throws -> WebhookEvent?
    /// The highest `sequence` of the order's events; 0 when it has none.
    func lastWebhookSequence(outTradeNo: String) throws -> Int64
    /// Delivery attempts, oldest first, of one event (all endpoints) or of one event to one endpoint.
    func deliveryAttempts(eventId: String, endpointId: String?) throws -> [DeliveryAttempt]
    /// For each endpoint with a live (pending or running) `deliver` job: when the oldest of them was enqueued.
    func oldestUndeliveredByEndpoint() throws -> [String: Date]

    /// Rows per table (for `notifyctl db copy`'s check).
    func rowCounts() throws -> [StoreTable: Int]
    /// Up to `limit` rows of `table` in key order, after `key` (from the start when nil), keys included.
    func page(_ table: StoreTable, after key: StoreCopyKey?, limit: Int) throws -> StoreRows
}

/// Reads and writes inside one write transaction (``Store/write(_:)``).
public protocol StoreTransaction: StoreReading {
    /// The order with this number, held until the transaction ends when `forUpdate` (PostgreSQL: a row lock; SQLite's
    /// single writer holds everything already), so that the status read is the status the transition starts from.
    func order(_ outTradeNo: String, forUpdate: Bool) throws -> Order?

    /// Inserts a new order and its creation event. A taken `outTradeNo` throws ``StoreError/duplicate(_:)``.
    func insertOrder(_ order: Order) throws

    /// Moves `order` to `to`, only if the row still has the status and refunded amount of `order` (the snapshot the
    /// caller decided on); returns nil and writes nothing otherwise. When it moved the order exactly one event was
    /// appended (`fromStatus`/`toStatus` from the arguments; source, job, notification, detail from `event`), and its
    /// row id is returned (so that what reports the change — the outbox — need not read it back).
    @discardableResult
    func transition(_ order: Order, to: OrderStatus, changes: OrderChanges, event: OrderEvent) throws -> Int64?

    /// Marks the order for a person to look at, with the reason. Returns false when there is no such order.
    @discardableResult
    func flagForReview(_ outTradeNo: String, reason: String) throws -> Bool

    /// Records a refund request and returns it with its id. A taken (`outTradeNo`, `outRequestNo`) throws
    /// ``StoreError/duplicate(_:)``; one that would make the order's refunds that did not fail exceed its amount
    /// throws ``StoreError/overRefund(_:)`` and writes nothing (the engine enforces it, concurrent writers included).
    @discardableResult
    func insertRefund(_ refund: Refund) throws -> Refund

    /// Settles a pending refund as Alipay said; a refund already settled is left as it is (false). A failed refund
    /// stops counting against the order's amount.
    @discardableResult
    func settleRefund(outTradeNo: String, outRequestNo: String, _ settlement: RefundSettlement, now: Date) throws -> Bool

    /// Stores a day's statement check, replacing an earlier one of the same day.
    func saveStatementCheck(_ check: StatementCheck) throws

    /// Enqueues a job. Idempotent on `uniqueKey` among live (pending or running) jobs: returns the live job with
    /// `inserted` false instead of adding another.
    func enqueue(_ job: NewJob) throws -> (job: Job, inserted: Bool)

    /// Leases to `owner`, in this transaction, those of `candidates` (read by ``StoreReading/claimableJobs(kinds:now:limit:)``)
    /// that are still claimable: a job read as pending only if it still is and is due, one read as running only if
    /// its lease still has ended (it gets a `lease_expired` history row). The others — taken or finished by another
    /// worker meanwhile, or locked by one right now — are left out. Returns the leased jobs, in the candidates' order.
    func claim(_ candidates: [Job], owner: String, lease: Duration, now: Date) throws -> [Job]

    /// ``claim(_:owner:lease:now:)`` for jobs that this unit of work finishes itself (a batch claimed inside its
    /// apply), whose leases serve that unit of work only. Same choice of jobs, and the same fences for ``complete(_:)``,
    /// ``retry(_:at:error:)``, ``deadLetter(_:reason:)`` and ``postpone(_:at:)`` in it. An engine may write less for
    /// it: SQLite completes a job taken from pending straight to done, without making it run first, and a lease
    /// used after the unit of work is lost (the default leases for real, as a claim does). Every job taken is to be
    /// finished in the unit of work: on SQLite one that is not stays as it was (pending, its attempt not counted).
    func take(_ candidates: [Job], owner: String, lease: Duration, now: Date) throws -> [Job]

    /// Marks the leased job done. Fenced: throws ``StoreError/leaseLost(jobId:)`` unless the job is still running
    /// under this very lease (owner and attempt).
    func complete(_ lease: JobLease) throws
    /// Puts the leased job back to pending until `at`, keeping `error`. Fenced like ``complete(_:)``.
    func retry(_ lease: JobLease, at: Date, error: String) throws
    /// Marks the leased job dead with `reason`. Fenced like ``complete(_:)``.
    func deadLetter(_ lease: JobLease, reason: String) throws

    /// Puts the leased job back to pending until `at` without counting this attempt (it did not run: a delivery
    /// waiting for its endpoint's concurrency limit). Fenced like ``complete(_:)``.
    func postpone(_ lease: JobLease, at: Date) throws

    /// Inserts an order event for webhooks and returns it with its row id. A taken `eventId`, or a taken
    /// (`outTradeNo`, `sequence`), throws ``StoreError/duplicate(_:)``.
    func insertWebhookEvent(_ event: WebhookEvent) throws -> WebhookEvent
    /// Adds an endpoint. A taken `endpointId` throws ``StoreError/duplicate(_:)``.
    func insertWebhookEndpoint(_ endpoint: WebhookEndpoint) throws
    /// Replaces every column of the endpoint with this `endpointId`; false when there is none.
    @discardableResult
    func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) throws -> Bool
    /// Deletes the endpoint (its past attempts stay); false when there is none.
    @discardableResult
    func deleteWebhookEndpoint(_ endpointId: String) throws -> Bool
    /// Deletes up to `limit` delivery attempts recorded before `cutoff`; returns how many.
    func deleteDeliveryAttempts(before cutoff: Date, limit: Int) throws -> Int
    /// Deletes up to `limit` events written before `cutoff` that no delivery attempt refers to and whose id is not in
    /// `keeping`; returns how many.
    func deleteWebhookEvents(before cutoff: Date, keeping: Set<String>, limit: Int) throws -> Int
    /// Records one delivery attempt and returns it with its row id.
    @discardableResult
    func insertDeliveryAttempt(_ attempt: DeliveryAttempt) throws -> DeliveryAttempt

    /// Runs `body` so that, when it throws, only its own writes are undone and the transaction goes on.
    func savepoint<T>(_ body: () throws -> T) throws -> T

    /// Inserts rows exactly as another store exported them, keys included; a row that clashes with one already there
    /// (its key, or a unique value such as a `notify_id`) is skipped.
    /// Returns how many were inserted. New rows written afterwards get keys after the highest one imported.
    func importRows(_ rows: StoreRows) throws -> Int
}

extension StoreReading {
    /// What a claim would take now (``claimableJobs(kinds:now:limit:excluding:)``, nothing left out).
    public func claimableJobs(kinds: Set<JobKind>?, now: Date, limit: Int) throws -> [Job] {
        try claimableJobs(kinds: kinds, now: now, limit: limit, excluding: [])
    }

    /// Seconds since the oldest due pending job became due; nil when none is waiting.
    public func oldestPendingAge(now: Date) throws -> TimeInterval? {
        try oldestDueJob(now: now).map { max(0, now.timeIntervalSince($0)) }
    }
}

extension StoreTransaction {
    /// Leases for real: correct for every engine, and what one without a cheaper way does.
    public func take(_ candidates: [Job], owner: String, lease: Duration, now: Date) throws -> [Job] {
        try claim(candidates, owner: owner, lease: lease, now: now)
    }

    /// The order with this number, or nil (not locked).
    public func order(_ outTradeNo: String) throws -> Order? {
        try order(outTradeNo, forUpdate: false)
    }
}

extension Store {
    /// Inserts a new order and its creation event in its own transaction.
    public func insertOrder(_ order: Order) async throws {
        try await write { tx in try tx.insertOrder(order) }
    }

    /// The order with this number, or nil.
    public func order(_ outTradeNo: String) async throws -> Order? {
        try await read { db in try db.order(outTradeNo) }
    }

    /// Claims due jobs of any kind (see ``claim(owner:limit:lease:now:kinds:)``).
    public func claim(owner: String, limit: Int, lease: Duration, now: Date) async throws -> [Job] {
        try await claim(owner: owner, limit: limit, lease: lease, now: now, kinds: nil)
    }

    /// Enqueues a job in its own transaction (see ``StoreTransaction/enqueue(_:)``).
    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> (job: Job, inserted: Bool) {
        let result = try await write { tx in try tx.enqueue(job) }
        return (result.job, result.inserted)
    }

    /// Job counts by state.
    public func queueStats() async throws -> QueueStats {
        try await read { db in try db.queueStats() }
    }

    /// Seconds since the oldest due pending job became due; nil when none is waiting.
    public func oldestPendingAge(now: Date) async throws -> TimeInterval? {
        try await read { db in try db.oldestPendingAge(now: now) }
    }
}

/// Counts of jobs by state; JSON keys are exactly `pending`, `running`, `done`, `dead`.
public struct QueueStats: Codable, Sendable, Equatable {
    /// Waiting to run.
    public var pending: Int
    /// Leased to a worker.
    public var running: Int
    /// Finished.
    public var done: Int
    /// Given up on.
    public var dead: Int

    /// Counts by state.
    public init(pending: Int = 0, running: Int = 0, done: Int = 0, dead: Int = 0) {
        self.pending = pending
        self.running = running
        self.done = done
        self.dead = dead
    }

    /// Sets the count of one state.
    public mutating func set(_ state: JobState, _ count: Int) {
        switch state {
        case .pending: pending = count
        case .running: running = count
        case .done: done = count
        case .dead: dead = count
        }
    }
}

/// Which finished jobs a replay puts back to pending.
public enum ReplaySelection: Sendable, Equatable {
    /// These jobs, if they are dead or done.
    case ids([Int64])
    /// Every dead job.
    case dead
    /// Every dead or done job of this order.
    case outTradeNo(String)
}
