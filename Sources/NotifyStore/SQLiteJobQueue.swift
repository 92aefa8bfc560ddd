import Foundation
import GRDB

/// The job queue on SQLite: a job's whole life, top to bottom, with the SQL in plain sight.
///
/// Every method that changes rows runs inside one write transaction (`BEGIN IMMEDIATE`), either its own or the
/// caller's (`in db:` variants, so that a worker can change an order and complete its job atomically). The single
/// SQLite writer serialises those transactions, which is what makes "claim" hand a job to exactly one owner.
public final class SQLiteJobQueue: JobQueue {
    private let database: NotifyDatabase

    /// A queue on this database.
    public init(database: NotifyDatabase) {
        self.database = database
    }

    // MARK: Enqueue

    /// Idempotent on uniqueKey among jobs not done/dead (returns the existing job, inserted=false).
    public func enqueue(_ job: NewJob, in db: Database) throws -> (job: Job, inserted: Bool) {
        if let uniqueKey = job.uniqueKey,
            let live = try Job.fetchOne(
                db, sql: "SELECT * FROM jobs WHERE unique_key = ? AND state IN ('pending', 'running')", arguments: [uniqueKey])
        {
            return (live, false)
        }
        let now = Date().databaseValue
        let id = try Self.insertPending(
            kind: job.kind, uniqueKey: job.uniqueKey, outTradeNo: job.outTradeNo, notificationId: job.notificationId,
            notifyId: job.notifyId, runAt: job.runAt.databaseValue, now: now, in: db)
        let inserted = try Job.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id])
        return (inserted!, true)
    }

    /// Writes a new pending job row and returns its id: the one place a job is inserted.
    ///
    /// It does not look for a live job with the same unique key (the UNIQUE index on live keys refuses one, failing
    /// the caller's transaction); `enqueue` looks first, and the receiver's group commit calls this directly for a
    /// `notify_id` it has just stored for the first time, which cannot have a job yet. Dates come in as database
    /// values so that a batch converts its one timestamp once.
    static func insertPending(
        kind: JobKind, uniqueKey: String?, outTradeNo: String?, notificationId: Int64?, notifyId: String?,
        runAt: DatabaseValue, now: DatabaseValue, in db: Database
    ) throws -> Int64 {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO jobs (kind, state, unique_key, out_trade_no, notification_id, notify_id, attempts, run_at, created_at, updated_at)
                VALUES (?, 'pending', ?, ?, ?, ?, 0, ?, ?, ?)
                """)
        try statement.execute(arguments: [kind.rawValue, uniqueKey, outTradeNo, notificationId, notifyId, runAt, now, now])
        return db.lastInsertedRowID
    }

    /// Same as `enqueue(_:in:)` in its own transaction.
    public func enqueue(_ job: NewJob) async throws -> (job: Job, inserted: Bool) {
        let result = try await database.pool.write { db in try self.enqueue(job, in: db) }
        return (result.job, result.inserted)
    }

    // MARK: Claim

    /// One BEGIN IMMEDIATE transaction: due pending jobs, or running jobs whose lease expired, ordered by runAt; sets lease.
    ///
    /// Each candidate query reads one partial index (`jobs_pending_run_at`, `jobs_running_lease`) and at most `limit`
    /// rows of the wanted kinds, so claiming stays fast however many done jobs the table holds. `INDEXED BY` pins
    /// those indexes: without statistics SQLite prefers `jobs_state_kind` for `state = ?` and would then sort every
    /// pending job. A taken-over job gets a `lease_expired` history row for the attempt its previous owner never finished.
    public func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>?) async throws -> [Job] {
        guard limit > 0, kinds?.isEmpty != true else { return [] }
        let leaseExpiresAt = now.addingTimeInterval(lease.seconds)
        let kindFilter: SQL = kinds.map { "AND kind IN \($0.map(\.rawValue).sorted())" } ?? ""
        return try await database.pool.write { db in
            // Candidates: due pending jobs, and running jobs whose owner died or stalled past its lease.
            let due = try SQLRequest<Row>(
                literal: """
                    SELECT id, run_at FROM jobs INDEXED BY jobs_pending_run_at
                    WHERE state = 'pending' AND run_at <= \(now) \(kindFilter)
                    ORDER BY run_at, id LIMIT \(limit)
                    """, cached: true
            ).fetchAll(db)
            let abandoned = try SQLRequest<Row>(
                literal: """
                    SELECT id, run_at, attempts, lease_owner, lease_expires_at FROM jobs INDEXED BY jobs_running_lease
                    WHERE state = 'running' AND lease_expires_at <= \(now) \(kindFilter)
                    ORDER BY lease_expires_at, id LIMIT \(limit)
                    """, cached: true
            ).fetchAll(db)
            let chosen = try (due + abandoned)
                .map { row in (row: row, runAt: try row.decode(Date.self, forColumn: "run_at"), id: try row.decode(Int64.self, forColumn: "id")) }
                .sorted { ($0.runAt, $0.id) < ($1.runAt, $1.id) }
                .prefix(limit)
            guard !chosen.isEmpty else { return [] }

            for candidate in chosen where candidate.row.hasColumn("lease_owner") {
                let expiredAt: Date? = try candidate.row.decode(forColumn: "lease_expires_at")
                try Self.recordAttempt(
                    candidate.id, attempt: try candidate.row.decode(forColumn: "attempts"), owner: try candidate.row.decode(forColumn: "lease_owner"),
                    outcome: .leaseExpired, error: "lease expired at \(expiredAt.map { "\($0)" } ?? "?") and was claimed by \(owner)", at: now,
                    in: db)
            }
            // One statement leases them all.
            let ids = chosen.map(\.id)
            let claimed = try SQLRequest<Job>(
                literal: """
                    UPDATE jobs
                    SET state = 'running', attempts = attempts + 1, lease_owner = \(owner), lease_expires_at = \(leaseExpiresAt), updated_at = \(now)
                    WHERE id IN \(ids)
                    RETURNING *
                    """
            ).fetchAll(db)
            return claimed.sorted { ($0.runAt, $0.id!) < ($1.runAt, $1.id!) }
        }
    }

    /// Moves the lease end of those of `jobIds` still running under `owner` (a batch's heartbeat); jobs no longer
    /// ours are skipped, since finishing them is fenced anyway.
    public func extendLeases(_ jobIds: [Int64], owner: String, until: Date) async throws {
        guard !jobIds.isEmpty else { return }
        try await database.pool.write { db in
            try db.execute(
                literal: """
                    UPDATE jobs SET lease_expires_at = \(until), updated_at = \(Date())
                    WHERE id IN \(jobIds) AND state = 'running' AND lease_owner = \(owner)
                    """)
        }
    }

    // MARK: Finish an attempt (fenced by the lease owner)

    /// Marks a running job done. Fenced: throws `StoreError.leaseLost` unless it is still running under `owner`.
    public func complete(_ jobId: Int64, owner: String, in db: Database) throws {
        let now = Date().databaseValue  // converted once: Date → text goes through a DateFormatter
        let attempts = try Int.fetchOne(
            db.cachedStatement(
                sql: """
                UPDATE jobs
                SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ?
                RETURNING attempts
                """),
            arguments: [now, jobId, owner])
        guard let attempts else { throw try Self.fenceError(jobId, in: db) }
        try Self.recordAttempt(jobId, attempt: attempts, owner: owner, outcome: .done, error: nil, at: now, in: db)
    }

    /// Puts a running job back to pending until `at`, keeping `error`. Fenced like `complete`.
    public func retry(_ jobId: Int64, owner: String, at: Date, error: String, in db: Database) throws {
        let now = Date()
        let attempts = try Int.fetchOne(
            db.cachedStatement(
                sql: """
                UPDATE jobs
                SET state = 'pending', run_at = ?, lease_owner = NULL, lease_expires_at = NULL, last_error = ?, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ?
                RETURNING attempts
                """),
            arguments: [at, error, now, jobId, owner])
        guard let attempts else { throw try Self.fenceError(jobId, in: db) }
        try Self.recordAttempt(jobId, attempt: attempts, owner: owner, outcome: .retry, error: error, at: now, in: db)
    }

    /// Marks a running job dead with `reason`. Fenced like `complete`.
    public func deadLetter(_ jobId: Int64, owner: String, reason: String, in db: Database) throws {
        let now = Date()
        let attempts = try Int.fetchOne(
            db.cachedStatement(
                sql: """
                UPDATE jobs
                SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL, last_error = ?, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ?
                RETURNING attempts
                """),
            arguments: [reason, now, jobId, owner])
        guard let attempts else { throw try Self.fenceError(jobId, in: db) }
        try Self.recordAttempt(jobId, attempt: attempts, owner: owner, outcome: .dead, error: reason, at: now, in: db)
    }

    /// `complete(_:owner:in:)` in its own transaction.
    public func complete(_ jobId: Int64, owner: String) async throws {
        try await database.pool.write { db in try self.complete(jobId, owner: owner, in: db) }
    }

    /// `retry(_:owner:at:error:in:)` in its own transaction.
    public func retry(_ jobId: Int64, owner: String, at: Date, error: String) async throws {
        try await database.pool.write { db in try self.retry(jobId, owner: owner, at: at, error: error, in: db) }
    }

    /// `deadLetter(_:owner:reason:in:)` in its own transaction.
    public func deadLetter(_ jobId: Int64, owner: String, reason: String) async throws {
        try await database.pool.write { db in try self.deadLetter(jobId, owner: owner, reason: reason, in: db) }
    }

    /// Gives every job leased to `owner` back to pending without counting the attempt (graceful shutdown).
    public func releaseLeases(owner: String) async throws {
        let now = Date()
        try await database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at)
                    SELECT id, attempts, lease_owner, 'released', NULL, ? FROM jobs WHERE state = 'running' AND lease_owner = ?;

                    UPDATE jobs
                    SET state = 'pending', attempts = MAX(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                    WHERE state = 'running' AND lease_owner = ?;
                    """,
                arguments: [now, owner, now, owner])
        }
    }

    // MARK: Replay

    /// Puts dead or done jobs back to pending with attempts reset; history is kept. `dryRun` only lists them.
    ///
    /// A job whose unique key is held by another live job is left alone: that job will do the same work, and
    /// two live jobs never share a key.
    public func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job] {
        if dryRun {
            return try await database.pool.read { db in try Self.replayCandidates(selection, in: db) }
        }
        let now = Date()
        return try await database.pool.write { db in
            var replayed: [Job] = []
            for job in try Self.replayCandidates(selection, in: db) {
                try Self.recordAttempt(job.id!, attempt: job.attempts, owner: nil, outcome: .replayed, error: job.lastError, at: now, in: db)
                let row = try Job.fetchOne(
                    db,
                    sql: """
                        UPDATE jobs
                        SET state = 'pending', attempts = 0, run_at = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                        WHERE id = ?
                        RETURNING *
                        """,
                    arguments: [now, now, job.id])
                replayed.append(row!)
            }
            return replayed
        }
    }

    private static func replayCandidates(_ selection: ReplaySelection, in db: Database) throws -> [Job] {
        let request: SQLRequest<Job>
        switch selection {
        case .ids(let ids):
            request = "SELECT * FROM jobs WHERE id IN \(ids) AND state IN ('dead', 'done') ORDER BY id"
        case .dead:
            request = "SELECT * FROM jobs WHERE state = 'dead' ORDER BY id"
        case .outTradeNo(let outTradeNo):
            request = "SELECT * FROM jobs WHERE out_trade_no = \(outTradeNo) AND state IN ('dead', 'done') ORDER BY id"
        }
        var candidates: [Job] = []
        var keys: Set<String> = []
        for job in try request.fetchAll(db) {
            if let key = job.uniqueKey {
                let liveTwin = try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE unique_key = ? AND state IN ('pending', 'running'))", arguments: [key])!
                guard !liveTwin, keys.insert(key).inserted else { continue }
            }
            candidates.append(job)
        }
        return candidates
    }

    // MARK: Inspect

    /// Job counts by state.
    public func stats() async throws -> QueueStats {
        try await database.pool.read { db in
            var stats = QueueStats()
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS count FROM jobs GROUP BY state") {
                let count: Int = row["count"]
                switch JobState(rawValue: row["state"]) {
                case .pending: stats.pending = count
                case .running: stats.running = count
                case .done: stats.done = count
                case .dead: stats.dead = count
                case nil: break
                }
            }
            return stats
        }
    }

    /// Most recent jobs first, optionally filtered.
    public func list(state: JobState?, kind: JobKind?, limit: Int) async throws -> [Job] {
        try await database.pool.read { db in
            var sql: SQL = "SELECT * FROM jobs WHERE 1"
            if let state { sql += " AND state = \(state)" }
            if let kind { sql += " AND kind = \(kind)" }
            sql += " ORDER BY id DESC LIMIT \(limit)"
            return try SQLRequest<Job>(literal: sql).fetchAll(db)
        }
    }

    /// One job by id.
    public func job(_ id: Int64) async throws -> Job? {
        try await database.pool.read { db in try Job.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]) }
    }

    /// How each attempt of a job ended, oldest first.
    public func history(_ jobId: Int64) async throws -> [JobAttempt] {
        try await database.pool.read { db in
            try JobAttempt.fetchAll(db, sql: "SELECT * FROM job_attempts WHERE job_id = ? ORDER BY id", arguments: [jobId])
        }
    }

    /// Seconds since the oldest due pending job became due; nil when none is waiting.
    public func oldestPendingAge(now: Date) async throws -> TimeInterval? {
        let oldest = try await database.pool.read { db in
            try Date.fetchOne(
                db, sql: "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_pending_run_at WHERE state = 'pending' AND run_at <= ?", arguments: [now])
        }
        return oldest.map { max(0, now.timeIntervalSince($0)) }
    }

    // MARK: Prune

    /// Deletes done jobs last changed before `olderThan`, then notifications older than that which no job refers to any more.
    /// Pending, running and dead jobs and their notifications are never pruned.
    ///
    /// Deletes in chunks of 1,000 rows, one short transaction each, so that the receiver's commits never wait
    /// behind one huge delete.
    public func prune(olderThan cutoff: Date) async throws -> (jobs: Int, notifications: Int) {
        var jobs = 0
        while true {
            let deleted = try await database.pool.write { db in
                // job_attempts rows go with their job (ON DELETE CASCADE).
                try db.execute(
                    sql: """
                        DELETE FROM jobs WHERE id IN (
                            SELECT id FROM jobs INDEXED BY jobs_done_updated_at WHERE state = 'done' AND updated_at < ? LIMIT 1000
                        )
                        """,
                    arguments: [cutoff])
                return db.changesCount
            }
            jobs += deleted
            if deleted == 0 { break }
        }
        // Walk notifications by id so that old ones still held by pending, running or dead jobs are read once, not per chunk.
        var notifications = 0
        var afterId: Int64 = 0
        while true {
            let (lastId, deleted) = try await database.pool.write { [afterId] db -> (Int64?, Int) in
                let ids = try Int64.fetchAll(
                    db, sql: "SELECT id FROM notifications WHERE id > ? AND last_received_at < ? ORDER BY id LIMIT 1000",
                    arguments: [afterId, cutoff])
                guard let lastId = ids.last else { return (nil, 0) }
                try db.execute(
                    literal: """
                        DELETE FROM notifications
                        WHERE id IN \(ids)
                          AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.notification_id = notifications.id)
                        """)
                return (lastId, db.changesCount)
            }
            guard let lastId else { break }
            notifications += deleted
            afterId = lastId
        }
        return (jobs, notifications)
    }

    // MARK: Helpers

    private static func recordAttempt(
        _ jobId: Int64, attempt: Int, owner: String?, outcome: JobAttempt.Outcome, error: String?, at: some DatabaseValueConvertible,
        in db: Database
    ) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at) VALUES (?, ?, ?, ?, ?, ?)")
        try insert.execute(arguments: [jobId, attempt, owner, outcome, error, at])
    }

    /// The error for a fenced update that changed nothing: the job is gone, or no longer ours.
    private static func fenceError(_ jobId: Int64, in db: Database) throws -> StoreError {
        let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?)", arguments: [jobId])!
        return exists ? .leaseLost(jobId: jobId) : .notFound("job \(jobId)")
    }
}
