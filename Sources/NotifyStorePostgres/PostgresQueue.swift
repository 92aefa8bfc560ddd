import Foundation
import NotifyStore
import PostgresNIO
import Synchronization

/// The queue operations that are transactions of their own, and the receiver's group-commit append, with the SQL in
/// plain sight.
///
/// Several hosts run these at once. What keeps them apart: claims lock their candidates with `FOR UPDATE SKIP LOCKED`
/// (a job locked by another claimer is skipped, never waited for, never handed out twice); every write that ends or
/// extends an attempt is fenced on (id, `running`, owner, attempt); the unique index on `notify_id` decides which of
/// two receivers stores a notification; the partial unique index on live `unique_key`s keeps enqueue idempotent.
extension PostgresStore {
    // MARK: Append (the receiver's group commit)

    /// One transaction, two statements, whatever the batch size: an upsert of every distinct `notify_id` (arrays
    /// through `unnest`, so the statement text never changes), then the `notification` jobs of those stored for the
    /// first time. Repeats of a `notify_id` inside the batch are folded into its row first (an upsert may not touch
    /// one row twice); the first occurrence gets the row's fate, the later ones are duplicates.
    public func append(_ notifications: [IncomingNotification]) async throws -> [AppendResult] {
        guard !notifications.isEmpty else { return [] }
        // Distinct notify_ids in first-occurrence order, with how many times each was delivered in this batch.
        var firstIndex: [String: Int] = [:]
        var distinct: [IncomingNotification] = []
        var deliveries: [Int] = []
        for notification in notifications {
            if let index = firstIndex[notification.notifyId] {
                deliveries[index] += 1
            } else {
                firstIndex[notification.notifyId] = distinct.count
                distinct.append(notification)
                deliveries.append(1)
            }
        }
        return try await unitOfWork(readOnly: false) { [distinct, deliveries, firstIndex] tx in
            let now = Date()
            // Sorted by notify_id so that two receivers upserting overlapping batches lock rows in the same order.
            let rows = try tx.execute(
                """
                INSERT INTO notifications AS n (notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at, delivery_count, seal)
                SELECT incoming.notify_id, incoming.out_trade_no, incoming.trade_status, incoming.body, \(now), \(now), incoming.deliveries,
                       NULLIF(incoming.seal, '')
                FROM unnest(\(distinct.map(\.notifyId))::text[], \(distinct.map(\.outTradeNo))::text[], \(distinct.map(\.tradeStatus))::text[],
                            \(distinct.map(\.body))::text[], \(deliveries)::bigint[], \(distinct.map { $0.seal ?? "" })::text[])
                     AS incoming (notify_id, out_trade_no, trade_status, body, deliveries, seal)
                ORDER BY incoming.notify_id
                ON CONFLICT (notify_id) DO UPDATE
                SET delivery_count = n.delivery_count + EXCLUDED.delivery_count, last_received_at = EXCLUDED.last_received_at
                RETURNING id, notify_id, delivery_count
                """)
            // A row is new exactly when its count equals this batch's deliveries (an existing row had at least one).
            var outcome = [(id: Int64, stored: Bool)?](repeating: nil, count: distinct.count)
            for row in rows {
                let (id, notifyId, deliveryCount) = try row.decode((Int64, String, Int).self)
                guard let index = firstIndex[notifyId] else { continue }
                outcome[index] = (id, deliveryCount == deliveries[index])
            }
            var stored: [(id: Int64, notification: IncomingNotification)] = []
            for (index, result) in outcome.enumerated() {
                guard let result else { throw StoreError.unavailable("PostgreSQL: the upsert returned no row for a notify_id") }
                if result.stored { stored.append((result.id, distinct[index])) }
            }
            if !stored.isEmpty {
                try tx.execute(
                    """
                    INSERT INTO jobs (kind, state, unique_key, out_trade_no, notification_id, notify_id, attempts, run_at, created_at, updated_at)
                    SELECT 'notification', 'pending', 'notification:' || new.notify_id, new.out_trade_no, new.notification_id, new.notify_id,
                           0, \(now), \(now), \(now)
                    FROM unnest(\(stored.map(\.id))::bigint[], \(stored.map(\.notification.notifyId))::text[],
                                \(stored.map(\.notification.outTradeNo))::text[])
                         AS new (notification_id, notify_id, out_trade_no)
                    """)
                tx.wakesWorkers = true
            }
            var seen: Set<String> = []
            return notifications.map { notification in
                let index = firstIndex[notification.notifyId]!
                let result = outcome[index]!
                let first = seen.insert(notification.notifyId).inserted
                return first && result.stored ? .stored(notificationId: result.id) : .duplicate(notificationId: result.id)
            }
        }
    }

    // MARK: Rejected bodies

    public func recordRejected(_ rejected: RejectedNotification, keep: Int) async throws {
        let keep = max(1, keep)
        try await unitOfWork(readOnly: false) { tx in
            try tx.execute(
                """
                INSERT INTO rejected_notifications (received_at, reason, detail, body)
                VALUES (\(rejected.receivedAt), \(rejected.reason), \(rejected.detail), \(rejected.body))
                """)
            try tx.execute("DELETE FROM rejected_notifications WHERE id <= (SELECT max(id) FROM rejected_notifications) - \(keep)")
        }
    }

    // MARK: Claim

    /// One statement. Each locking CTE reads one partial index (`jobs_pending_run_at`, `jobs_running_lease`) and
    /// locks at most `limit` rows, skipping rows another claimer holds; the oldest `limit` of both are leased. A
    /// taken-over job gets its `lease_expired` history row in the same statement, from the row as locked.
    public func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>?) async throws -> [Job] {
        guard limit > 0, kinds?.isEmpty != true else { return [] }
        var binds = PostgresBindings()
        binds.append(now)  // $1
        binds.append(limit)  // $2
        binds.append(owner)  // $3
        binds.append(now.addingTimeInterval(lease.seconds))  // $4: the new lease end
        var kindFilter = ""
        if let kinds {
            binds.append(kinds.map(\.rawValue).sorted())  // $5
            kindFilter = " AND kind = ANY($5)"
        }
        let query = PostgresQuery(
            unsafeSQL: """
                WITH pending AS MATERIALIZED (
                    SELECT id, run_at, state, attempts, lease_owner, lease_expires_at FROM jobs
                    WHERE state = 'pending' AND run_at <= $1\(kindFilter)
                    ORDER BY run_at, id
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                ), abandoned AS MATERIALIZED (
                    SELECT id, run_at, state, attempts, lease_owner, lease_expires_at FROM jobs
                    WHERE state = 'running' AND lease_expires_at <= $1\(kindFilter)
                    ORDER BY lease_expires_at, id
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                ), chosen AS (
                    SELECT * FROM pending
                    UNION ALL
                    SELECT * FROM abandoned
                    ORDER BY run_at, id
                    LIMIT $2
                )
                \(Self.leaseChosen)
                """, binds: binds)
        let claimed = try await unitOfWork(readOnly: false) { [query] tx in try tx.execute(query).map(Job.init(row:)) }
        return claimed.sorted { ($0.runAt, $0.id ?? 0) < ($1.runAt, $1.id ?? 0) }
    }

    /// The end of every claim statement, after a `chosen` CTE of locked candidate rows (`id, run_at, state, attempts,
    /// lease_owner, lease_expires_at`): a `lease_expired` history row for each taken-over job, then the lease. Binds
    /// $1 now, $3 the owner, $4 the lease end.
    static let leaseChosen = """
        , expired AS (
            INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at)
            SELECT id, attempts, lease_owner, 'lease_expired',
                   'lease expired at ' || to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                       || ' +0000 and was claimed by ' || $3,
                   $1
            FROM chosen
            WHERE state = 'running'
        )
        UPDATE jobs
        SET state = 'running', attempts = jobs.attempts + 1, lease_owner = $3, lease_expires_at = $4, updated_at = $1
        FROM chosen
        WHERE jobs.id = chosen.id
        RETURNING jobs.*
        """

    /// PostgreSQL's row locks let several workers claim at once (`SKIP LOCKED`): a claim of its own per batch keeps
    /// them from choosing the same jobs.
    public var claimsBatchesInsideWrites: Bool { false }

    /// Moves the lease end of those jobs still held under their lease (a batch's heartbeat), in one statement; the
    /// others are skipped, since finishing them is fenced anyway.
    public func extendLeases(_ leases: [JobLease], until: Date) async throws {
        guard !leases.isEmpty else { return }
        let ids = leases.map(\.jobId)
        let owners = leases.map(\.owner)
        let attempts = leases.map(\.attempt)
        _ = try await unitOfWork(readOnly: false) { tx in
            try tx.execute(
                """
                UPDATE jobs
                SET lease_expires_at = \(until), updated_at = \(Date())
                FROM unnest(\(ids)::bigint[], \(owners)::text[], \(attempts)::bigint[]) AS held (id, owner, attempt)
                WHERE jobs.id = held.id AND jobs.state = 'running' AND jobs.lease_owner = held.owner AND jobs.attempts = held.attempt
                """)
        }
    }

    /// Gives every job leased to `owner` back to pending, uncounted, with a `released` history row each; one
    /// statement over the rows it locked, so a job another claimer took over meanwhile is left alone.
    public func releaseLeases(owner: String) async throws {
        let now = Date()
        try await unitOfWork(readOnly: false) { tx in
            let released = try tx.changes(
                """
                WITH held AS (
                    SELECT id, attempts FROM jobs WHERE state = 'running' AND lease_owner = \(owner) FOR UPDATE
                ), history AS (
                    INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at)
                    SELECT id, attempts, $1, 'released', NULL, \(now) FROM held
                )
                UPDATE jobs
                SET state = 'pending', attempts = GREATEST(jobs.attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
                FROM held
                WHERE jobs.id = held.id
                """)
            // Released jobs are due at once: another worker may take them.
            if released > 0 { tx.wakesWorkers = true }
        }
    }

    // MARK: Replay

    public func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job] {
        if dryRun {
            return try await unitOfWork(readOnly: true) { tx in try Self.replayCandidates(selection, lock: false, in: tx) }
        }
        let now = Date()
        return try await unitOfWork(readOnly: false) { tx in
            var replayed: [Job] = []
            for job in try Self.replayCandidates(selection, lock: true, in: tx) {
                let row = try tx.execute(
                    """
                    WITH history AS (
                        INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at)
                        VALUES (\(job.id!), \(job.attempts), NULL, 'replayed', \(job.lastError)::text, \(now))
                    )
                    UPDATE jobs
                    SET state = 'pending', attempts = 0, run_at = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
                    WHERE id = $1
                    RETURNING *
                    """
                ).first
                if let row { replayed.append(try Job(row: row)) }
            }
            if !replayed.isEmpty { tx.wakesWorkers = true }
            return replayed
        }
    }

    /// Dead or done jobs of the selection, oldest first, leaving out a job whose unique key a live job holds (that
    /// job does the same work) and all but the first of several with one key. Locked when replaying for real, so two
    /// operators replaying at once cannot both reset a job.
    static func replayCandidates(_ selection: ReplaySelection, lock: Bool, in tx: PostgresTransaction) throws -> [Job] {
        var query: PostgresQuery =
            switch selection {
            case .ids(let ids): "SELECT * FROM jobs WHERE id = ANY(\(ids)) AND state IN ('dead', 'done') ORDER BY id"
            case .dead: "SELECT * FROM jobs WHERE state = 'dead' ORDER BY id"
            case .outTradeNo(let outTradeNo): "SELECT * FROM jobs WHERE out_trade_no = \(outTradeNo) AND state IN ('dead', 'done') ORDER BY id"
            }
        if lock { query.sql += " FOR UPDATE" }
        let jobs = try tx.execute(query).map(Job.init(row:))
        let keys = Array(Set(jobs.compactMap(\.uniqueKey)))
        var taken: Set<String> = []
        if !keys.isEmpty {
            for row in try tx.execute("SELECT DISTINCT unique_key FROM jobs WHERE unique_key = ANY(\(keys)) AND state IN ('pending', 'running')") {
                taken.insert(try row.decode(String.self))
            }
        }
        return jobs.filter { job in
            guard let key = job.uniqueKey else { return true }
            return taken.insert(key).inserted
        }
    }

    // MARK: Prune

    /// Deletes in chunks of 1,000 rows, one short transaction each, so that no commit waits behind one huge delete.
    /// Each DELETE repeats its conditions on the row itself: a job replayed or a notification re-delivered while the
    /// chunk was chosen is kept.
    public func prune(olderThan cutoff: Date) async throws -> (jobs: Int, notifications: Int) {
        var jobs = 0
        while true {
            // job_attempts rows go with their job (ON DELETE CASCADE).
            let deleted = try await unitOfWork(readOnly: false) { tx in
                try tx.changes(
                    """
                    DELETE FROM jobs
                    WHERE id IN (SELECT id FROM jobs WHERE state = 'done' AND updated_at < \(cutoff) ORDER BY id LIMIT 1000)
                      AND state = 'done' AND updated_at < $1
                    """)
            }
            jobs += deleted
            if deleted == 0 { break }
        }
        // Walk notifications by id so that old ones still held by pending, running or dead jobs are read once, not per chunk.
        var notifications = 0
        var afterId: Int64 = 0
        while true {
            let (lastId, deleted) = try await unitOfWork(readOnly: false) { [afterId] tx -> (Int64?, Int) in
                let row = try tx.execute(
                    """
                    WITH chunk AS (
                        SELECT id FROM notifications WHERE id > \(afterId) AND last_received_at < \(cutoff) ORDER BY id LIMIT 1000
                    ), deleted AS (
                        DELETE FROM notifications
                        WHERE id IN (SELECT id FROM chunk) AND last_received_at < $2
                          AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.notification_id = notifications.id)
                        RETURNING 1
                    )
                    SELECT (SELECT max(id) FROM chunk), (SELECT count(*) FROM deleted)
                    """
                ).first
                guard let row else { return (nil, 0) }
                let (lastId, deleted) = try row.decode((Int64?, Int).self)
                return (lastId, deleted)
            }
            guard let lastId else { break }
            notifications += deleted
            afterId = lastId
        }
        return (jobs, notifications)
    }

    // MARK: Health

    /// Commits one heartbeat row within `connect_timeout`; false on any error or when it takes longer. The answer does
    /// not wait for a commit that is late (a probe and the systemd watchdog must hear back in time): the unit of work
    /// goes on beside, bounded by its own statement timeout.
    public func isWritable() async -> Bool {
        let timeout = leaseTimeout
        return await withCheckedContinuation { continuation in
            let answer = ResumeOnce(continuation)
            Task {
                let committed = (try? await self.unitOfWork(readOnly: false) { tx in
                    try tx.execute(
                        "INSERT INTO store_heartbeat (id, at) VALUES (1, \(Date())) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at")
                }) != nil
                answer.resume(committed)
            }
            Task {
                try? await Task.sleep(for: timeout)
                answer.resume(false)
            }
        }
    }
}

/// Resumes a continuation with the first answer only.
final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Bool) {
        let first = continuation.withLock { slot -> CheckedContinuation<Bool, Never>? in
            defer { slot = nil }
            return slot
        }
        first?.resume(returning: value)
    }
}
