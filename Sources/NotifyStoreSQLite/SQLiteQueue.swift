import Foundation
import GRDB
import NotifyStore

/// The store contract on SQLite: the queue's whole life top to bottom, with the SQL in plain sight.
///
/// Every method that changes rows runs inside one write transaction (`BEGIN IMMEDIATE`). The single SQLite writer
/// serialises those transactions, which is what makes "claim" hand a job to exactly one owner here; the fence on
/// (owner, attempt) is what keeps a stale owner out.
extension SQLiteStore: Store {
    public var location: String { "sqlite:\(path)" }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws -> T {
        do {
            return try await pool.read { db in try body(SQLiteTransaction(db)) }
        } catch {
            throw Self.translate(error)
        }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        let (result, wakes): (T, Bool)
        do {
            (result, wakes) = try await pool.write { db in
                let tx = SQLiteTransaction(db)
                return (try body(tx), tx.wakesWorkers)
            }
        } catch {
            throw Self.translate(error)
        }
        if wakes { wakeUps.notify() }
        return result
    }

    /// GRDB's errors in the contract's terms; errors of the caller's own (a domain failure thrown out of a unit of
    /// work) pass through unchanged.
    static func translate(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        let message = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError.busy("database locked past the busy timeout (\(message))")
        case .SQLITE_CONSTRAINT:
            switch error.extendedResultCode {
            case .SQLITE_CONSTRAINT_PRIMARYKEY, .SQLITE_CONSTRAINT_UNIQUE: return StoreError.duplicate(message)
            case .SQLITE_CONSTRAINT_TRIGGER where message.hasPrefix("over_refund"): return StoreError.overRefund(message)
            default: return StoreError.constraint(message)
            }
        default:
            // Disk full, I/O errors, a read-only or vanished file: nothing was committed; the caller retries later.
            return StoreError.unavailable("SQLite: \(message)")
        }
    }

    // MARK: Append (the receiver's group commit)

    public func append(_ notifications: [IncomingNotification]) async throws -> [AppendResult] {
        try await write { tx in
            let transaction = tx as! SQLiteTransaction
            // One timestamp for the whole batch, converted once: the batch commits at one instant anyway.
            let now = SQLiteTime.text(Date())
            let results = try notifications.map { try SQLiteQueue.append($0, now: now, in: transaction.db) }
            transaction.wakesWorkers = results.contains { if case .stored = $0 { true } else { false } }
            return results
        }
    }

    // MARK: Claim

    /// One BEGIN IMMEDIATE transaction: the claimable jobs (``SQLiteQueue/claimable(kinds:now:limit:in:)``) leased
    /// to `owner` (``SQLiteQueue/lease(_:owner:until:now:in:)``) — once a read on a reader connection has found any.
    ///
    /// The write would queue behind whatever the one writer commits meanwhile (a worker's batch of 256), and its
    /// caller with it: the worker's loop, polling the kinds other than notifications on every tick, chose no next
    /// batch while it waited, and the writer idled a third of the drain (BENCHMARKS.md, "Fourth pass"). A claim that
    /// finds nothing due now answers without the writer. (PostgreSQL's `SKIP LOCKED` claim never waits.)
    public func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>?) async throws -> [Job] {
        guard limit > 0, kinds?.isEmpty != true else { return [] }
        do {
            let due = try await pool.read { db in try SQLiteQueue.claimable(kinds: kinds, now: now, limit: 1, in: db) }
            guard !due.isEmpty else { return [] }
            return try await pool.write { db in
                let candidates = try SQLiteQueue.claimable(kinds: kinds, now: now, limit: limit, in: db)
                return try SQLiteQueue.lease(candidates, owner: owner, until: now.addingTimeInterval(lease.seconds), now: now, in: db)
            }
        } catch {
            throw Self.translate(error)
        }
    }

    /// SQLite has one writer: a claim committed apart from the apply that follows costs a commit (the jobs' pages
    /// written to the WAL twice) and lets no one else work meanwhile. So notification batches are claimed inside
    /// their apply transaction (``StoreTransaction/take(_:owner:lease:now:)``).
    public var claimsBatchesInsideWrites: Bool { true }

    /// Moves the lease end of those jobs still held under their lease (a batch's heartbeat); the others are skipped,
    /// since finishing them is fenced anyway.
    public func extendLeases(_ leases: [JobLease], until: Date) async throws {
        guard !leases.isEmpty else { return }
        try await write { tx in
            let db = (tx as! SQLiteTransaction).db
            let now = SQLiteTime.value(Date())
            let until = SQLiteTime.value(until)
            let statement = try db.cachedStatement(
                sql: "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?")
            for lease in leases {
                try statement.execute(arguments: [until, now, lease.jobId, lease.owner, lease.attempt])
            }
        }
    }

    public func releaseLeases(owner: String) async throws {
        let now = SQLiteTime.value(Date())
        try await write { tx in
            let transaction = tx as! SQLiteTransaction
            defer { transaction.wakesWorkers = transaction.db.changesCount > 0 }
            try transaction.db.execute(
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

    public func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job] {
        if dryRun {
            return try await read { tx in try SQLiteQueue.replayCandidates(selection, in: (tx as! SQLiteTransaction).db) }
        }
        let now = SQLiteTime.value(Date())
        return try await write { tx in
            let db = (tx as! SQLiteTransaction).db
            var replayed: [Job] = []
            for job in try SQLiteQueue.replayCandidates(selection, in: db) {
                try SQLiteQueue.recordAttempt(job.id!, attempt: job.attempts, owner: nil, outcome: .replayed, error: job.lastError, at: now, in: db)
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        UPDATE jobs
                        SET state = 'pending', attempts = 0, run_at = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                        WHERE id = ?
                        RETURNING *
                        """,
                    arguments: [now, now, job.id])
                replayed.append(try Job(row: row!))
            }
            (tx as! SQLiteTransaction).wakesWorkers = !replayed.isEmpty
            return replayed
        }
    }

    // MARK: Prune

    /// Deletes in chunks of 1,000 rows, one short transaction each, so that the receiver's commits never wait
    /// behind one huge delete.
    public func prune(olderThan cutoff: Date) async throws -> (jobs: Int, notifications: Int) {
        var jobs = 0
        while true {
            let deleted = try await write { tx in
                let db = (tx as! SQLiteTransaction).db
                // job_attempts rows go with their job (ON DELETE CASCADE).
                try db.execute(
                    sql: """
                        DELETE FROM jobs WHERE id IN (
                            SELECT id FROM jobs INDEXED BY jobs_done_updated_at WHERE state = 'done' AND updated_at < ? LIMIT 1000
                        )
                        """,
                    arguments: [SQLiteTime.value(cutoff)])
                return db.changesCount
            }
            jobs += deleted
            if deleted == 0 { break }
        }
        // Walk notifications by id so that old ones still held by pending, running or dead jobs are read once, not per chunk.
        var notifications = 0
        var afterId: Int64 = 0
        while true {
            let (lastId, deleted) = try await write { [afterId] tx -> (Int64?, Int) in
                let db = (tx as! SQLiteTransaction).db
                let ids = try Int64.fetchAll(
                    db, sql: SQLiteQueue.Reads.notificationsToPrune,
                    arguments: [afterId, SQLiteTime.value(cutoff)])
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

    // MARK: Rejected bodies

    public func recordRejected(_ rejected: RejectedNotification, keep: Int) async throws {
        try await write { tx in
            let db = (tx as! SQLiteTransaction).db
            try db.execute(
                sql: "INSERT INTO rejected_notifications (received_at, reason, detail, body) VALUES (?, ?, ?, ?)",
                arguments: [SQLiteTime.value(rejected.receivedAt), rejected.reason, rejected.detail, rejected.body])
            try db.execute(
                sql: "DELETE FROM rejected_notifications WHERE id <= (SELECT MAX(id) FROM rejected_notifications) - ?", arguments: [max(1, keep)])
        }
    }

    // MARK: Migrations and health

    public var knownMigrations: [String] { Self.knownMigrations }

    public func pendingMigrations() async throws -> [String] {
        try pendingMigrationsNow()
    }

    @discardableResult
    public func migrate() async throws -> [String] {
        try migrateNow()
    }

    public func jobWakeUps() -> AsyncStream<Void>? { wakeUps.stream() }

    public func close() async {
        try? pool.close()
    }
}

/// The SQL the engine shares between its transaction type and its store-level operations.
enum SQLiteQueue {
    /// Writes a new pending job row and returns its id: the one place a job is inserted.
    ///
    /// It does not look for a live job with the same unique key (the UNIQUE index on live keys refuses one, failing
    /// the caller's transaction); `enqueue` looks first, and the receiver's group commit calls this directly for a
    /// `notify_id` it has just stored for the first time, which cannot have a job yet. Dates come in as their stored
    /// text (``SQLiteTime/text(_:)``) so that a batch converts its one timestamp once.
    static func insertPending(
        kind: JobKind, uniqueKey: String?, outTradeNo: String?, notificationId: Int64?, notifyId: String?, payload: String?,
        runAt: String, now: String, in db: Database
    ) throws -> Int64 {
        var insert = try HandBoundStatement(
            db,
            sql: """
                INSERT INTO jobs (kind, state, unique_key, out_trade_no, notification_id, notify_id, payload, attempts, run_at, created_at, updated_at)
                VALUES (?, 'pending', ?, ?, ?, ?, ?, 0, ?, ?, ?)
                """)
        for text in [kind.rawValue, uniqueKey, outTradeNo] { try insert.bind(text) }
        try insert.bind(notificationId)
        for text in [notifyId, payload, runAt, now, now] { try insert.bind(text) }
        try insert.run()
        return db.lastInsertedRowID
    }

    /// One notification inside the batch's transaction: insert it with its job, or count the re-delivery.
    ///
    /// The receiver's hot path: a cached statement, and the job written by `insertPending` without `enqueue`'s
    /// look-up of a live job with the same key (a `notify_id` stored for the first time has none).
    static func append(_ notification: IncomingNotification, now: String, in db: Database) throws -> AppendResult {
        var upsert = try HandBoundStatement(
            db,
            sql: """
                INSERT INTO notifications (notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at, delivery_count, seal)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                ON CONFLICT (notify_id) DO UPDATE SET delivery_count = delivery_count + 1, last_received_at = excluded.last_received_at
                RETURNING id, delivery_count
                """)
        for text in [notification.notifyId, notification.outTradeNo, notification.tradeStatus, notification.body, now, now, notification.seal] {
            try upsert.bind(text)
        }
        let returned = try upsert.step() ? (upsert.int64(at: 0), upsert.int64(at: 1)) : (nil, nil)
        upsert.reset()  // before the job's INSERT, as GRDB's fetchOne left it
        guard let id = returned.0, let deliveryCount = returned.1 else {
            throw StoreError.unavailable("SQLite: the notification upsert returned no row")
        }
        guard deliveryCount == 1 else { return .duplicate(notificationId: id) }
        _ = try insertPending(
            kind: .notification, uniqueKey: "notification:\(notification.notifyId)", outTradeNo: notification.outTradeNo,
            notificationId: id, notifyId: notification.notifyId, payload: nil, runAt: now, now: now, in: db)
        return .stored(notificationId: id)
    }

    static func replayCandidates(_ selection: ReplaySelection, in db: Database) throws -> [Job] {
        let request: SQLRequest<Row>
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
        for job in try request.fetchAll(db).map(Job.init(row:)) {
            if let key = job.uniqueKey {
                let liveTwin = try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE unique_key = ? AND state IN ('pending', 'running'))", arguments: [key])!
                guard !liveTwin, keys.insert(key).inserted else { continue }
            }
            candidates.append(job)
        }
        return candidates
    }

    /// Due jobs a claim may take, oldest first: pending jobs whose `run_at` has come, and running jobs whose lease
    /// ended (their owner died or stalled). Pending jobs are read per kind from `jobs_pending_kind_run_at` (at most
    /// `limit` of each, already in order: a claim of the rare kinds never walks a backlog of notifications), running
    /// ones from `jobs_running_lease`; `INDEXED BY` pins those indexes (without statistics SQLite may prefer another
    /// and sort). Without kinds, those of every kind pending (``pendingKinds(in:)``), merged. Jobs in `excluding` (chosen by
    /// batches still running) are passed over on their id; the pending rows, read on every batch the worker chooses,
    /// are decoded column by column (GRDB's row decoding of three batches' worth was an eighth of the drain).
    static func claimable(kinds: Set<JobKind>?, now: Date, limit: Int, excluding: Set<Int64> = [], in db: Database) throws -> [Job] {
        let at = SQLiteTime.text(now)
        let scan = Int64(limit + excluding.count)
        var found: [Job] = []
        func readPending(_ select: inout HandBoundStatement) throws {
            defer { select.reset() }
            var kept = 0
            while kept < limit, try select.step() {
                guard !excluding.contains(try select.requiredInt64(at: 0, "id")) else { continue }
                found.append(try job(select))
                kept += 1
            }
        }
        let pendingKinds = try kinds.map { $0.sorted { $0.rawValue < $1.rawValue } } ?? SQLiteQueue.pendingKinds(in: db)
        for kind in pendingKinds {
            var select = try HandBoundStatement(db, sql: Reads.dueOfKind)
            try select.bind(kind.rawValue)
            try select.bind(at)
            try select.bind(scan)
            try readPending(&select)
        }
        let kindFilter: SQL = kinds.map { "AND kind IN \($0.map(\.rawValue).sorted())" } ?? ""
        found += try SQLRequest<Row>(
            literal: """
                SELECT * FROM jobs INDEXED BY jobs_running_lease
                WHERE state = 'running' AND lease_expires_at <= \(at) \(kindFilter)
                ORDER BY lease_expires_at, id LIMIT \(scan)
                """, cached: true
        ).fetchAll(db).map(Job.init(row:)).filter { !excluding.contains($0.id!) }.prefix(limit)
        if pendingKinds.count <= 1 && found.allSatisfy({ $0.state == .pending }) { return found }
        return Array(found.sorted { ($0.runAt, $0.id!) < ($1.runAt, $1.id!) }.prefix(limit))
    }

    /// The kinds that have pending jobs, in name order: one seek of `jobs_pending_kind_run_at` per kind (a handful),
    /// not a walk of a backlog of notifications. The index on `run_at` alone that kind-less reads used was written by
    /// every job enqueued and finished for those rare reads (migration v12).
    static func pendingKinds(in db: Database) throws -> [JobKind] {
        var kinds: [JobKind] = []
        var kind = try String.fetchOne(db.cachedStatement(sql: Reads.firstPendingKind))
        while let found = kind {
            kinds.append(JobKind(rawValue: found))
            kind = try String.fetchOne(db.cachedStatement(sql: Reads.nextPendingKind), arguments: [found])
        }
        return kinds
    }

    /// The text of the queue's index-bound reads, read by the code and by the test of their query plans alike.
    enum Reads {
        /// A kind's due pending jobs, oldest first: kind, now, limit.
        static let dueOfKind = """
            SELECT \(jobColumns) FROM jobs INDEXED BY jobs_pending_kind_run_at
            WHERE state = 'pending' AND kind = ? AND run_at <= ?
            ORDER BY run_at, id LIMIT ?
            """
        /// The first kind, in name order, that has pending jobs.
        static let firstPendingKind = "SELECT kind FROM jobs INDEXED BY jobs_pending_kind_run_at WHERE state = 'pending' ORDER BY kind LIMIT 1"
        /// The next kind after `?` that has pending jobs.
        static let nextPendingKind =
            "SELECT kind FROM jobs INDEXED BY jobs_pending_kind_run_at WHERE state = 'pending' AND kind > ? ORDER BY kind LIMIT 1"
        /// When a kind's oldest due pending job was due: kind, now.
        static let oldestDueOfKind =
            "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_pending_kind_run_at WHERE state = 'pending' AND kind = ? AND run_at <= ?"
        /// Prune's walk of notifications by id (the primary key; no index on last_received_at since migration v11).
        static let notificationsToPrune = "SELECT id FROM notifications WHERE id > ? AND last_received_at < ? ORDER BY id LIMIT 1000"
    }

    /// The columns ``job(_:)`` reads, in its order.
    private static let jobColumns = """
        id, kind, state, unique_key, out_trade_no, notification_id, notify_id, payload, attempts, run_at, lease_owner,
        lease_expires_at, last_error, created_at, updated_at
        """

    /// The job in the current row of a statement selecting ``jobColumns``.
    private static func job(_ row: HandBoundStatement) throws -> Job {
        Job(
            id: try row.requiredInt64(at: 0, "id"), kind: JobKind(rawValue: try row.requiredText(at: 1, "kind")),
            state: try row.requiredWord(at: 2, "state"), uniqueKey: row.text(at: 3), outTradeNo: row.text(at: 4),
            notificationId: row.int64(at: 5), notifyId: row.text(at: 6), payload: row.text(at: 7),
            attempts: Int(try row.requiredInt64(at: 8, "attempts")), runAt: try row.requiredDate(at: 9, "run_at"),
            leaseOwner: row.text(at: 10), leaseExpiresAt: try row.date(at: 11, "lease_expires_at"), lastError: row.text(at: 12),
            createdAt: try row.requiredDate(at: 13, "created_at"), updatedAt: try row.requiredDate(at: 14, "updated_at"))
    }

    /// Leases those of `candidates` that are still claimable inside this write transaction (another process may
    /// have taken or finished some since they were read): one UPDATE for all of them. A taken-over job gets a
    /// `lease_expired` history row for the attempt its previous owner never finished. Returns the leased jobs as they
    /// are now, in the order of `candidates`.
    static func lease(_ candidates: [Job], owner: String, until: Date, now: Date, in db: Database) throws -> [Job] {
        guard !candidates.isEmpty else { return [] }
        let at = SQLiteTime.value(now)
        let expiresAt = SQLiteTime.value(until)
        // The fence: a job read as pending is leased only if it is still pending and due; one read as running only if
        // it still runs on an expired lease (re-read here, with its history row).
        var current = Dictionary(uniqueKeysWithValues: candidates.map { ($0.id!, $0) })
        var conditions: [SQL] = []
        let pending = candidates.filter { $0.state == .pending }.map { $0.id! }
        if !pending.isEmpty { conditions.append("(id IN \(pending) AND state = 'pending' AND run_at <= \(at))") }
        let running = candidates.filter { $0.state == .running }.map { $0.id! }
        if !running.isEmpty {
            var expired: [Int64] = []
            for job in try SQLRequest<Row>(literal: "SELECT * FROM jobs WHERE id IN \(running)").fetchAll(db).map(Job.init(row:))
            where job.state == .running && (job.leaseExpiresAt ?? .distantFuture) <= now {
                current[job.id!] = job
                expired.append(job.id!)
                let expiredAt = job.leaseExpiresAt.map { "\($0)" } ?? "?"
                try recordAttempt(
                    job.id!, attempt: job.attempts, owner: job.leaseOwner, outcome: .leaseExpired,
                    error: "lease expired at \(expiredAt) and was claimed by \(owner)", at: at, in: db)
            }
            if !expired.isEmpty { conditions.append("(id IN \(expired) AND state = 'running' AND lease_expires_at <= \(at))") }
        }
        guard !conditions.isEmpty else { return [] }
        let leased = try SQLRequest<Row>(
            literal: """
                UPDATE jobs
                SET state = 'running', attempts = attempts + 1, lease_owner = \(owner), lease_expires_at = \(expiresAt),
                    updated_at = \(at)
                WHERE \(conditions.joined(separator: " OR "))
                RETURNING id, attempts
                """
        ).fetchAll(db)
        var attempts: [Int64: Int] = [:]
        for row in leased { attempts[row[0]] = row[1] }
        return candidates.compactMap { candidate -> Job? in
            guard let attempt = attempts[candidate.id!], var leasedJob = current[candidate.id!] else { return nil }
            leasedJob.state = .running
            leasedJob.attempts = attempt
            leasedJob.leaseOwner = owner
            leasedJob.leaseExpiresAt = until
            leasedJob.updatedAt = now
            return leasedJob
        }
    }

    static func recordAttempt(
        _ jobId: Int64, attempt: Int, owner: String?, outcome: JobAttempt.Outcome, error: String?, at: some DatabaseValueConvertible,
        in db: Database
    ) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at) VALUES (?, ?, ?, ?, ?, ?)")
        try insert.execute(arguments: [jobId, attempt, owner, outcome.rawValue, error, at])
    }
}
