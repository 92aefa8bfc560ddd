import Foundation
import GRDB
import NotifyStore

/// A unit of work on the SQLite writer (or a read on a reader connection): the contract's reads and writes as SQL.
///
/// The single SQLite writer serialises write transactions (`BEGIN IMMEDIATE`), so an order read inside one cannot
/// change before the transaction ends; `forUpdate` therefore needs no lock here. Transitions are still conditional
/// on the status and refunded amount read, like on PostgreSQL, so the rule lives in the SQL and not in the engine.
final class SQLiteTransaction: StoreTransaction {
    let db: Database
    /// A job became due in this transaction: wake the workers once it committed.
    var wakesWorkers = false
    /// The endpoints as this transaction read them, until it writes one: publishing an event in every applied
    /// notification of a batch reads them once.
    var endpointsMemo: [WebhookEndpoint]?
    /// The jobs ``take(_:owner:lease:now:)`` leased in this unit of work without writing: their leases, until when,
    /// and whether a completion adds a history row. A job stays here once it ran or finished, since a savepoint rolled
    /// back can make it pending again.
    private var taken: [Int64: (lease: JobLease, until: Date, recordsHistory: Bool)] = [:]
    /// Taken jobs an attempt has finished (done, retried, dead, postponed): their lease is spent, even where the row
    /// is pending again as it was taken (a postponed job). A savepoint rolled back restores the set as it was.
    private var finishedTaken: Set<Int64> = []

    init(_ db: Database) {
        self.db = db
    }

    // MARK: Orders

    /// Read column by column through SQLite's C API: every applied notification reads its order, and GRDB's row
    /// copy and generic decoding were most of that read (BENCHMARKS.md, "Fifth pass"). ``Order/init(row:)`` reads the
    /// same columns for the listings.
    func order(_ outTradeNo: String, forUpdate: Bool) throws -> Order? {
        var select = try HandBoundStatement(
            db,
            sql: """
                SELECT out_trade_no, subject, total_amount_fen, status, trade_no, refunded_fen, needs_review, review_reason,
                       created_at, updated_at, paid_at, closed_at, refunded_at, product
                FROM orders WHERE out_trade_no = ?
                """)
        try select.bind(outTradeNo)
        defer { select.reset() }
        guard try select.step() else { return nil }
        return Order(
            outTradeNo: try select.requiredText(at: 0, "out_trade_no"), subject: try select.requiredText(at: 1, "subject"),
            totalAmountFen: try select.requiredInt64(at: 2, "total_amount_fen"), status: try select.requiredWord(at: 3, "status"),
            tradeNo: select.text(at: 4), refundedFen: try select.requiredInt64(at: 5, "refunded_fen"),
            needsReview: try select.requiredInt64(at: 6, "needs_review") != 0, reviewReason: select.text(at: 7),
            createdAt: try select.requiredDate(at: 8, "created_at"), updatedAt: try select.requiredDate(at: 9, "updated_at"),
            paidAt: try select.date(at: 10, "paid_at"), closedAt: try select.date(at: 11, "closed_at"),
            refundedAt: try select.date(at: 12, "refunded_at"), product: try select.requiredWord(at: 13, "product"))
    }

    func orders(status: OrderStatus?, limit: Int) throws -> [Order] {
        if let status {
            return try Row.fetchAll(
                db, sql: "SELECT * FROM orders WHERE status = ? ORDER BY created_at DESC LIMIT ?", arguments: [status, limit]
            ).map(Order.init(row:))
        }
        return try Row.fetchAll(db, sql: "SELECT * FROM orders ORDER BY created_at DESC LIMIT ?", arguments: [limit]).map(Order.init(row:))
    }

    func orderCounts() throws -> [OrderStatus: Int] {
        var counts: [OrderStatus: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS count FROM orders GROUP BY status") {
            if let status = OrderStatus(rawValue: row["status"]) { counts[status] = row["count"] }
        }
        return counts
    }

    func ordersNeedingReview() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM orders WHERE needs_review = 1") ?? 0
    }

    func orderEvents(_ outTradeNo: String) throws -> [OrderEvent] {
        try Row.fetchAll(db, sql: "SELECT * FROM order_events WHERE out_trade_no = ? ORDER BY id", arguments: [outTradeNo])
            .map(OrderEvent.init(row:))
    }

    func refunds(_ outTradeNo: String) throws -> [Refund] {
        try Row.fetchAll(db, sql: "SELECT * FROM refunds WHERE out_trade_no = ? ORDER BY id", arguments: [outTradeNo]).map(Refund.init(row:))
    }

    func refund(_ outTradeNo: String, outRequestNo: String) throws -> Refund? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM refunds WHERE out_trade_no = ? AND out_request_no = ?", arguments: [outTradeNo, outRequestNo]
        ).map(Refund.init(row:))
    }

    func pendingRefundsWithoutJobs(createdBefore: Date, limit: Int) throws -> [Refund] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM refunds r
                WHERE r.status = 'pending' AND r.created_at <= ?
                  AND NOT EXISTS (SELECT 1 FROM jobs j
                                  WHERE j.unique_key = 'refund:' || r.out_trade_no || ':' || r.out_request_no
                                    AND j.state IN ('pending', 'running', 'dead'))
                ORDER BY r.created_at LIMIT ?
                """,
            arguments: [SQLiteTime.value(createdBefore), limit]
        ).map(Refund.init(row:))
    }

    func insertRefund(_ refund: Refund) throws -> Refund {
        guard try insertRefundRow(refund, keepingId: false) else {
            throw StoreError.duplicate("refund \(refund.outRequestNo) of order \(refund.outTradeNo)")
        }
        var inserted = refund
        inserted.id = db.lastInsertedRowID
        return inserted
    }

    /// The one refunds INSERT (`insertRefund` and `importRows`); false when the request number is taken.
    private func insertRefundRow(_ refund: Refund, keepingId: Bool) throws -> Bool {
        try db.cachedStatement(
            sql: """
                INSERT INTO refunds (id, out_trade_no, out_request_no, amount_fen, reason, status, refunded_at, fund_change, failure,
                                     created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """
        ).execute(arguments: [
            keepingId ? refund.id : nil, refund.outTradeNo, refund.outRequestNo, refund.amountFen, refund.reason, refund.status,
            SQLiteTime.value(refund.refundedAt), refund.fundChange, refund.failure, SQLiteTime.value(refund.createdAt),
            SQLiteTime.value(refund.updatedAt),
        ])
        return db.changesCount == 1
    }

    func settleRefund(outTradeNo: String, outRequestNo: String, _ settlement: RefundSettlement, now: Date) throws -> Bool {
        try db.execute(
            sql: """
                UPDATE refunds SET status = ?, refunded_at = COALESCE(?, refunded_at), fund_change = COALESCE(?, fund_change),
                                   failure = ?, updated_at = ?
                WHERE out_trade_no = ? AND out_request_no = ? AND status = 'pending'
                """,
            arguments: [
                settlement.status, SQLiteTime.value(settlement.refundedAt), settlement.fundChange, settlement.failure, SQLiteTime.value(now),
                outTradeNo, outRequestNo,
            ])
        return db.changesCount == 1
    }

    func ordersWithoutJobs(
        statuses: Set<OrderStatus>, createdBefore: Date, liveKinds: Set<JobKind>, deadKinds: Set<JobKind>, limit: Int
    ) throws -> [Order] {
        let statusList = statuses.map(\.rawValue).sorted()
        let live = liveKinds.map(\.rawValue).sorted()
        let dead = deadKinds.map(\.rawValue).sorted()
        return try SQLRequest<Row>(
            literal: """
                SELECT * FROM orders
                WHERE status IN \(statusList) AND created_at <= \(SQLiteTime.value(createdBefore)) AND needs_review = 0
                  AND NOT EXISTS (
                      SELECT 1 FROM jobs
                      WHERE jobs.out_trade_no = orders.out_trade_no
                        AND ((jobs.kind IN \(live) AND jobs.state IN ('pending', 'running'))
                             OR (jobs.kind IN \(dead) AND jobs.state = 'dead')))
                ORDER BY created_at
                LIMIT \(limit)
                """
        ).fetchAll(db).map(Order.init(row:))
    }

    func paidOrdersWithoutJobs(paidAfter: Date, paidBefore: Date, liveKinds: Set<JobKind>, limit: Int) throws -> [Order] {
        let live = liveKinds.map(\.rawValue).sorted()
        return try SQLRequest<Row>(
            literal: """
                SELECT * FROM orders
                WHERE status = 'TRADE_SUCCESS' AND paid_at > \(SQLiteTime.value(paidAfter)) AND paid_at <= \(SQLiteTime.value(paidBefore)) AND needs_review = 0
                  AND NOT EXISTS (
                      SELECT 1 FROM jobs
                      WHERE jobs.out_trade_no = orders.out_trade_no AND jobs.kind IN \(live) AND jobs.state IN ('pending', 'running'))
                ORDER BY paid_at
                LIMIT \(limit)
                """
        ).fetchAll(db).map(Order.init(row:))
    }

    func ordersPaid(from: Date, to: Date) throws -> [Order] {
        try Row.fetchAll(
            db, sql: "SELECT * FROM orders WHERE paid_at >= ? AND paid_at < ? ORDER BY paid_at", arguments: [SQLiteTime.value(from), SQLiteTime.value(to)]
        ).map(Order.init(row:))
    }

    func refundsMade(from: Date, to: Date) throws -> [Refund] {
        try Row.fetchAll(
            db, sql: "SELECT * FROM refunds WHERE status = 'succeeded' AND refunded_at >= ? AND refunded_at < ? ORDER BY refunded_at",
            arguments: [SQLiteTime.value(from), SQLiteTime.value(to)]
        ).map(Refund.init(row:))
    }

    func statementCheck(billDate: String) throws -> StatementCheck? {
        try Row.fetchOne(db, sql: "SELECT * FROM statement_checks WHERE bill_date = ?", arguments: [billDate]).map(StatementCheck.init(row:))
    }

    func statementChecks(limit: Int) throws -> [StatementCheck] {
        try Row.fetchAll(db, sql: "SELECT * FROM statement_checks ORDER BY bill_date DESC LIMIT ?", arguments: [limit]).map(StatementCheck.init(row:))
    }

    func saveStatementCheck(_ check: StatementCheck) throws {
        try db.execute(
            sql: """
                INSERT INTO statement_checks (bill_date, checked_at, rows, report) VALUES (?, ?, ?, ?)
                ON CONFLICT (bill_date) DO UPDATE SET checked_at = excluded.checked_at, rows = excluded.rows, report = excluded.report
                """,
            arguments: [check.billDate, check.checkedAt, check.rows, try StatementCheck.reportText(check.differences)])
    }

    func insertOrder(_ order: Order) throws {
        guard try insertOrderRow(order) else { throw StoreError.duplicate("order \(order.outTradeNo)") }
        try insertEvent(
            OrderEvent(outTradeNo: order.outTradeNo, fromStatus: nil, toStatus: order.status, source: "create", createdAt: order.createdAt))
    }

    /// Writes the order's row unless its number is taken; true when written. The one orders INSERT (`insertOrder`
    /// and `importRows` share it).
    private func insertOrderRow(_ order: Order) throws -> Bool {
        try db.cachedStatement(
            sql: """
                INSERT INTO orders (out_trade_no, subject, total_amount_fen, status, trade_no, refunded_fen, needs_review,
                                              review_reason, created_at, updated_at, paid_at, closed_at, refunded_at, product)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """
        ).execute(arguments: [
            order.outTradeNo, order.subject, order.totalAmountFen, order.status, order.tradeNo, order.refundedFen, order.needsReview,
            order.reviewReason, order.createdAt, order.updatedAt, order.paidAt, order.closedAt, order.refundedAt, order.product,
        ])
        return db.changesCount == 1
    }

    func transition(_ order: Order, to: OrderStatus, changes: OrderChanges, event: OrderEvent) throws -> Int64? {
        var update = try HandBoundStatement(
            db,
            sql: """
                UPDATE orders
                SET status = ?,
                    trade_no = COALESCE(?, trade_no),
                    refunded_fen = COALESCE(?, refunded_fen),
                    paid_at = COALESCE(?, paid_at),
                    closed_at = COALESCE(?, closed_at),
                    refunded_at = COALESCE(?, refunded_at),
                    updated_at = ?
                WHERE out_trade_no = ? AND status = ? AND refunded_fen = ?
                """)
        try update.bind(to.rawValue)
        try update.bind(changes.tradeNo)
        try update.bind(changes.refundedFen)
        try update.bind(changes.paidAt.map(SQLiteTime.text))
        try update.bind(changes.closedAt.map(SQLiteTime.text))
        try update.bind(changes.refundedAt.map(SQLiteTime.text))
        try update.bind(SQLiteTime.text(Date()))
        try update.bind(order.outTradeNo)
        try update.bind(order.status.rawValue)
        try update.bind(order.refundedFen)
        try update.run()
        guard db.changesCount == 1 else { return nil }
        var event = event
        event.outTradeNo = order.outTradeNo
        event.fromStatus = order.status
        event.toStatus = to
        try insertEvent(event)
        return db.lastInsertedRowID
    }

    private func insertEvent(_ event: OrderEvent) throws {
        var insert = try HandBoundStatement(
            db,
            sql: """
                INSERT INTO order_events (out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        try insert.bind(event.outTradeNo)
        try insert.bind(event.fromStatus?.rawValue)
        try insert.bind(event.toStatus.rawValue)
        try insert.bind(event.source)
        try insert.bind(event.jobId)
        try insert.bind(event.notifyId)
        try insert.bind(event.detail)
        try insert.bind(SQLiteTime.text(event.createdAt))
        try insert.run()
    }

    func flagForReview(_ outTradeNo: String, reason: String) throws -> Bool {
        try db.execute(
            sql: "UPDATE orders SET needs_review = 1, review_reason = ?, updated_at = ? WHERE out_trade_no = ?",
            arguments: [reason, SQLiteTime.value(Date()), outTradeNo])
        return db.changesCount == 1
    }

    // MARK: Notifications

    func notifications(ids: [Int64]) throws -> [StoredNotification] {
        guard !ids.isEmpty else { return [] }
        return try SQLRequest<Row>(literal: "SELECT * FROM notifications WHERE id IN \(ids)").fetchAll(db).map(StoredNotification.init(row:))
    }

    func notification(notifyId: String) throws -> StoredNotification? {
        try Row.fetchOne(db, sql: "SELECT * FROM notifications WHERE notify_id = ?", arguments: [notifyId]).map(StoredNotification.init(row:))
    }

    func rejectedNotifications(limit: Int) throws -> [RejectedNotification] {
        try Row.fetchAll(db, sql: "SELECT * FROM rejected_notifications ORDER BY id DESC LIMIT ?", arguments: [limit]).map(RejectedNotification.init(row:))
    }

    func rejectedNotification(id: Int64) throws -> RejectedNotification? {
        try Row.fetchOne(db, sql: "SELECT * FROM rejected_notifications WHERE id = ?", arguments: [id]).map(RejectedNotification.init(row:))
    }

    // MARK: Jobs

    func job(_ id: Int64) throws -> Job? {
        try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Job.init(row:))
    }

    func jobs(state: JobState?, kind: JobKind?, outTradeNo: String?, limit: Int) throws -> [Job] {
        var sql: SQL = "SELECT * FROM jobs WHERE 1"
        if let state { sql += " AND state = \(state)" }
        if let kind { sql += " AND kind = \(kind)" }
        if let outTradeNo { sql += " AND out_trade_no = \(outTradeNo)" }
        sql += " ORDER BY id DESC LIMIT \(limit)"
        return try SQLRequest<Row>(literal: sql).fetchAll(db).map(Job.init(row:))
    }

    func latestJob(kind: JobKind, outTradeNo: String) throws -> Job? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM jobs WHERE kind = ? AND out_trade_no = ? ORDER BY id DESC LIMIT 1", arguments: [kind, outTradeNo]
        ).map(Job.init(row:))
    }

    func jobHistory(_ jobId: Int64) throws -> [JobAttempt] {
        try Row.fetchAll(db, sql: "SELECT * FROM job_attempts WHERE job_id = ? ORDER BY id", arguments: [jobId]).map(JobAttempt.init(row:))
    }

    func queueStats() throws -> QueueStats {
        var stats = QueueStats()
        // Each state's count from its own partial index (no index on the state column itself: see migration v9).
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT (SELECT COUNT(*) FROM jobs INDEXED BY jobs_pending_kind_run_at WHERE state = 'pending'),
                           (SELECT COUNT(*) FROM jobs INDEXED BY jobs_running_lease WHERE state = 'running'),
                           (SELECT COUNT(*) FROM jobs INDEXED BY jobs_done_updated_at WHERE state = 'done'),
                           (SELECT COUNT(*) FROM jobs INDEXED BY jobs_dead_updated_at WHERE state = 'dead')
                    """))!
        for (index, state) in [JobState.pending, .running, .done, .dead].enumerated() { stats.set(state, row[index]) }
        return stats
    }

    func claimableJobs(kinds: Set<JobKind>?, now: Date, limit: Int, excluding: Set<Int64>) throws -> [Job] {
        guard limit > 0, kinds?.isEmpty != true else { return [] }
        return try SQLiteQueue.claimable(kinds: kinds, now: now, limit: limit, excluding: excluding, in: db)
    }

    func claim(_ candidates: [Job], owner: String, lease: Duration, now: Date) throws -> [Job] {
        try SQLiteQueue.lease(candidates, owner: owner, until: now.addingTimeInterval(lease.seconds), now: now, in: db)
    }

    /// Leases nothing yet for a job read as pending: it checks the job still is pending and due (the single writer
    /// keeps it so until this unit of work ends) and remembers the lease. ``complete(_:)`` then writes pending → done
    /// in one UPDATE; retrying or dead-lettering it first makes it run under that lease (``leaseTaken(_:)``), so that
    /// those paths and their history are a claimed job's. A job read as running (an ended lease) is claimed for real.
    func take(_ candidates: [Job], owner: String, lease: Duration, now: Date) throws -> [Job] {
        let until = now.addingTimeInterval(lease.seconds)
        let takenOver = try SQLiteQueue.lease(candidates.filter { $0.state != .pending }, owner: owner, until: until, now: now, in: db)
        var leased = Dictionary(uniqueKeysWithValues: takenOver.map { ($0.id!, $0) })
        let at = SQLiteTime.text(now)
        for candidate in candidates where candidate.state == .pending {
            var select = try HandBoundStatement(
                db,
                sql: """
                    SELECT attempts, last_error IS NOT NULL OR EXISTS (SELECT 1 FROM job_attempts WHERE job_id = jobs.id)
                    FROM jobs WHERE id = ? AND state = 'pending' AND run_at <= ?
                    """)
            try select.bind(candidate.id!)
            try select.bind(at)
            guard try select.step(), let attempts = select.int64(at: 0) else {
                select.reset()
                continue
            }
            let hasHistory = select.int64(at: 1) != 0
            select.reset()
            var job = candidate
            job.state = .running
            job.attempts = Int(attempts) + 1
            job.leaseOwner = owner
            job.leaseExpiresAt = until
            job.updatedAt = now
            // Like complete's first-try rule: a first attempt of a job with no history at all leaves none.
            taken[job.id!] = (job.lease!, until, job.attempts > 1 || hasHistory)
            leased[job.id!] = job
        }
        return candidates.compactMap { leased[$0.id!] }
    }

    /// A job taken and still pending under `lease` is made to run under it, as a claim would have (no-op otherwise).
    private func leaseTaken(_ lease: JobLease) throws {
        guard let entry = taken[lease.jobId], entry.lease == lease, !finishedTaken.contains(lease.jobId) else { return }
        var update = try HandBoundStatement(
            db,
            sql: """
                UPDATE jobs SET state = 'running', attempts = ?, lease_owner = ?, lease_expires_at = ?, updated_at = ?
                WHERE id = ? AND state = 'pending' AND attempts = ?
                """)
        try update.bind(Int64(lease.attempt))
        try update.bind(lease.owner)
        try update.bind(SQLiteTime.text(entry.until))
        try update.bind(SQLiteTime.text(Date()))
        try update.bind(lease.jobId)
        try update.bind(Int64(lease.attempt - 1))
        try update.run()
    }

    /// Completes a job taken and still pending under `lease` straight to done; false when it is not pending (it was
    /// made to run, or finished).
    private func completeTaken(_ lease: JobLease) throws -> Bool {
        guard let entry = taken[lease.jobId], entry.lease == lease, !finishedTaken.contains(lease.jobId) else { return false }
        let now = SQLiteTime.text(Date())
        var update = try HandBoundStatement(
            db,
            sql: """
                UPDATE jobs SET state = 'done', attempts = ?, last_error = NULL, updated_at = ?
                WHERE id = ? AND state = 'pending' AND attempts = ?
                """)
        try update.bind(Int64(lease.attempt))
        try update.bind(now)
        try update.bind(lease.jobId)
        try update.bind(Int64(lease.attempt - 1))
        try update.run()
        guard db.changesCount == 1 else { return false }
        finishedTaken.insert(lease.jobId)
        if entry.recordsHistory {
            try SQLiteQueue.recordAttempt(lease.jobId, attempt: lease.attempt, owner: lease.owner, outcome: .done, error: nil, at: now, in: db)
        }
        return true
    }

    func oldestDueJob(now: Date) throws -> Date? {
        // The oldest of each pending kind's oldest: one seek per kind.
        var oldest: Date?
        for kind in try SQLiteQueue.pendingKinds(in: db) {
            let row = try Row.fetchOne(
                db.cachedStatement(sql: SQLiteQueue.Reads.oldestDueOfKind),
                arguments: [kind.rawValue, SQLiteTime.value(now)])!
            if let runAt = try SQLiteTime.decodeIfPresent(row, 0), oldest.map({ runAt < $0 }) ?? true { oldest = runAt }
        }
        return oldest
    }

    func enqueue(_ job: NewJob) throws -> (job: Job, inserted: Bool) {
        if let uniqueKey = job.uniqueKey,
            let live = try Row.fetchOne(
                db, sql: "SELECT * FROM jobs WHERE unique_key = ? AND state IN ('pending', 'running')", arguments: [uniqueKey])
        {
            return (try Job(row: live), false)
        }
        let id = try SQLiteQueue.insertPending(
            kind: job.kind, uniqueKey: job.uniqueKey, outTradeNo: job.outTradeNo, notificationId: job.notificationId,
            notifyId: job.notifyId, payload: job.payload, runAt: SQLiteTime.text(job.runAt), now: SQLiteTime.text(Date()), in: db)
        if job.runAt <= Date() { wakesWorkers = true }  // a job due later wakes nobody now
        return (try self.job(id)!, true)
    }

    func complete(_ lease: JobLease) throws {
        if try completeTaken(lease) { return }
        if lease.attempt == 1 {
            // A first-try success of a job with no history at all (never failed, released, expired or replayed): its
            // row (done, attempts 1) is its whole record, and the hot path saves the history INSERT (an index probe
            // instead). Anything with history keeps adding to it.
            var update = try HandBoundStatement(
                db,
                sql: """
                    UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                    WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = 1 AND last_error IS NULL
                      AND NOT EXISTS (SELECT 1 FROM job_attempts WHERE job_id = jobs.id)
                    """)
            try update.bind(SQLiteTime.text(Date()))
            try update.bind(lease.jobId)
            try update.bind(lease.owner)
            try update.run()
            if db.changesCount == 1 {
                if taken[lease.jobId] != nil { finishedTaken.insert(lease.jobId) }
                return
            }
        }
        try finish(
            lease, outcome: .done, error: nil,
            sql: """
                UPDATE jobs
                SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?
                """, arguments: [])
    }

    func retry(_ lease: JobLease, at: Date, error: String) throws {
        try finish(
            lease, outcome: .retry, error: error,
            sql: """
                UPDATE jobs
                SET run_at = ?, last_error = ?, state = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?
                """, arguments: [SQLiteTime.value(at), error])
    }

    func deadLetter(_ lease: JobLease, reason: String) throws {
        try finish(
            lease, outcome: .dead, error: reason,
            sql: """
                UPDATE jobs
                SET last_error = ?, state = 'dead', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?
                """, arguments: [reason])
    }

    /// Puts the job back without counting the attempt, and without a history row: the attempt did not run (a delivery
    /// waiting for its endpoint's concurrency limit), so there is nothing to tell about it. Wakes nobody, like retry.
    func postpone(_ lease: JobLease, at: Date) throws {
        try finish(
            lease, outcome: nil, error: nil,
            sql: """
                UPDATE jobs
                SET run_at = ?, state = 'pending', attempts = MAX(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?
                """, arguments: [SQLiteTime.value(at)])
    }

    /// One fenced update that ends an attempt, then its history row (none when `outcome` is nil). `arguments` come
    /// before the common ones (`updated_at`, id, owner, attempt).
    private func finish(_ lease: JobLease, outcome: JobAttempt.Outcome?, error: String?, sql: String, arguments: StatementArguments) throws {
        try leaseTaken(lease)
        let now = SQLiteTime.value(Date())
        try db.cachedStatement(sql: sql).execute(arguments: arguments + [now, lease.jobId, lease.owner, lease.attempt])
        guard db.changesCount == 1 else {
            let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?)", arguments: [lease.jobId])!
            throw exists ? StoreError.leaseLost(jobId: lease.jobId) : StoreError.notFound("job \(lease.jobId)")
        }
        if taken[lease.jobId] != nil { finishedTaken.insert(lease.jobId) }
        guard let outcome else { return }
        try SQLiteQueue.recordAttempt(lease.jobId, attempt: lease.attempt, owner: lease.owner, outcome: outcome, error: error, at: now, in: db)
    }

    // MARK: Webhooks

    func webhookEndpoints() throws -> [WebhookEndpoint] {
        if let endpointsMemo { return endpointsMemo }
        let endpoints = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM webhook_endpoints ORDER BY created_at, endpoint_id"))
            .map(WebhookEndpoint.init(row:))
        endpointsMemo = endpoints
        return endpoints
    }

    func webhookEndpoint(_ endpointId: String) throws -> WebhookEndpoint? {
        try Row.fetchOne(db, sql: "SELECT * FROM webhook_endpoints WHERE endpoint_id = ?", arguments: [endpointId]).map(WebhookEndpoint.init(row:))
    }

    func webhookEvents(outTradeNo: String?, type: String?, since: Date?, limit: Int) throws -> [WebhookEvent] {
        var sql: SQL = "SELECT * FROM webhook_events WHERE 1"
        if let outTradeNo { sql += " AND out_trade_no = \(outTradeNo)" }
        if let type { sql += " AND type = \(type)" }
        if let since { sql += " AND created_at >= \(since)" }
        sql += " ORDER BY id DESC LIMIT \(limit)"
        return try SQLRequest<Row>(literal: sql).fetchAll(db).map(WebhookEvent.init(row:))
    }

    func webhookEvent(_ eventId: String) throws -> WebhookEvent? {
        try Row.fetchOne(db, sql: "SELECT * FROM webhook_events WHERE event_id = ?", arguments: [eventId]).map(WebhookEvent.init(row:))
    }

    func lastWebhookSequence(outTradeNo: String) throws -> Int64 {
        var select = try HandBoundStatement(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM webhook_events WHERE out_trade_no = ?")
        try select.bind(outTradeNo)
        return try select.int64() ?? 0
    }

    func deliveryAttempts(eventId: String, endpointId: String?) throws -> [DeliveryAttempt] {
        if let endpointId {
            return try Row.fetchAll(
                db, sql: "SELECT * FROM delivery_attempts WHERE event_id = ? AND endpoint_id = ? ORDER BY id", arguments: [eventId, endpointId]
            ).map(DeliveryAttempt.init(row:))
        }
        return try Row.fetchAll(db, sql: "SELECT * FROM delivery_attempts WHERE event_id = ? ORDER BY id", arguments: [eventId])
            .map(DeliveryAttempt.init(row:))
    }

    /// The endpoint is the middle part of the job's unique key, `deliver:<endpointId>:<eventId>` (endpoint ids hold
    /// no ':').
    func oldestUndeliveredByEndpoint() throws -> [String: Date] {
        var oldest: [String: Date] = [:]
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT substr(unique_key, 9, instr(substr(unique_key, 9), ':') - 1) AS endpoint_id, MIN(created_at) AS oldest
                FROM jobs
                WHERE kind = ? AND state IN ('pending', 'running') AND unique_key LIKE 'deliver:%:%'
                GROUP BY 1
                """, arguments: [JobKind.deliver])
        for row in rows {
            oldest[try row.decode(String.self, forColumn: "endpoint_id")] = try row.decode(Date.self, forColumn: "oldest")
        }
        return oldest
    }

    func insertWebhookEvent(_ event: WebhookEvent) throws -> WebhookEvent {
        var stored = event
        stored.id = nil
        guard try insertWebhookEventRow(stored) else {
            throw StoreError.duplicate("webhook event \(event.eventId) (or sequence \(event.sequence) of order \(event.outTradeNo))")
        }
        stored.id = db.lastInsertedRowID
        return stored
    }

    /// Writes the event's row unless its id, `event_id`, (order, sequence) or order event is taken; true when
    /// written. A nil id is assigned. The one webhook_events INSERT (`insertWebhookEvent` and `importRows` share it).
    private func insertWebhookEventRow(_ event: WebhookEvent) throws -> Bool {
        var insert = try HandBoundStatement(
            db,
            sql: """
                INSERT INTO webhook_events (id, event_id, type, out_trade_no, sequence, order_event_id, payload, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """)
        try insert.bind(event.id)
        try insert.bind(event.eventId)
        try insert.bind(event.type)
        try insert.bind(event.outTradeNo)
        try insert.bind(event.sequence)
        try insert.bind(event.orderEventId)
        try insert.bind(event.payload)
        try insert.bind(SQLiteTime.text(event.createdAt))
        try insert.run()
        return db.changesCount == 1
    }

    func insertWebhookEndpoint(_ endpoint: WebhookEndpoint) throws {
        guard try insertWebhookEndpointRow(endpoint) else { throw StoreError.duplicate("webhook endpoint \(endpoint.endpointId)") }
    }

    /// Writes the endpoint's row unless its id is taken; true when written (`insertWebhookEndpoint` and `importRows`).
    private func insertWebhookEndpointRow(_ endpoint: WebhookEndpoint) throws -> Bool {
        endpointsMemo = nil
        try db.cachedStatement(
            sql: """
                INSERT INTO webhook_endpoints (endpoint_id, url, event_types, note, secret, previous_secret, previous_secret_expires_at,
                                               enabled, disabled_reason, failing_since, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """
        ).execute(arguments: [
            endpoint.endpointId, endpoint.url, WebhookEventTypes.column(endpoint.eventTypes), endpoint.note, endpoint.secret,
            endpoint.previousSecret, endpoint.previousSecretExpiresAt, endpoint.enabled, endpoint.disabledReason, endpoint.failingSince,
            endpoint.createdAt, endpoint.updatedAt,
        ])
        return db.changesCount == 1
    }

    func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) throws -> Bool {
        endpointsMemo = nil
        try db.cachedStatement(
            sql: """
                UPDATE webhook_endpoints
                SET url = ?, event_types = ?, note = ?, secret = ?, previous_secret = ?, previous_secret_expires_at = ?, enabled = ?,
                    disabled_reason = ?, failing_since = ?, created_at = ?, updated_at = ?
                WHERE endpoint_id = ?
                """
        ).execute(arguments: [
            endpoint.url, WebhookEventTypes.column(endpoint.eventTypes), endpoint.note, endpoint.secret, endpoint.previousSecret,
            endpoint.previousSecretExpiresAt, endpoint.enabled, endpoint.disabledReason, endpoint.failingSince, endpoint.createdAt,
            endpoint.updatedAt, endpoint.endpointId,
        ])
        return db.changesCount == 1
    }

    func deleteWebhookEndpoint(_ endpointId: String) throws -> Bool {
        endpointsMemo = nil
        try db.execute(sql: "DELETE FROM webhook_endpoints WHERE endpoint_id = ?", arguments: [endpointId])
        return db.changesCount == 1
    }

    func insertDeliveryAttempt(_ attempt: DeliveryAttempt) throws -> DeliveryAttempt {
        var stored = attempt
        stored.id = nil
        guard try insertDeliveryAttemptRow(stored) else { throw StoreError.duplicate("delivery attempt") }  // a fresh id: never
        stored.id = db.lastInsertedRowID
        return stored
    }

    func deleteDeliveryAttempts(before cutoff: Date, limit: Int) throws -> Int {
        try db.execute(
            sql: "DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE at < ? ORDER BY id LIMIT ?)",
            arguments: [cutoff, limit])
        return db.changesCount
    }

    func deleteWebhookEvents(before cutoff: Date, keeping: Set<String>, limit: Int) throws -> Int {
        // Enough candidates that the kept ones cannot crowd out a full batch.
        let candidates = try String.fetchAll(
            db,
            sql: """
                SELECT event_id FROM webhook_events e
                WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.event_id = e.event_id)
                ORDER BY id LIMIT ?
                """,
            arguments: [cutoff, limit + keeping.count])
        let doomed = Array(candidates.filter { !keeping.contains($0) }.prefix(limit))
        guard !doomed.isEmpty else { return 0 }
        try db.execute(literal: "DELETE FROM webhook_events WHERE event_id IN \(doomed)")
        return db.changesCount
    }

    /// Writes the attempt's row (a nil id is assigned; a taken one is skipped); true when written.
    private func insertDeliveryAttemptRow(_ attempt: DeliveryAttempt) throws -> Bool {
        try db.cachedStatement(
            sql: """
                INSERT INTO delivery_attempts (id, event_id, endpoint_id, job_id, attempt, status, response, error, duration_ms, at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """
        ).execute(arguments: [
            attempt.id, attempt.eventId, attempt.endpointId, attempt.jobId, attempt.attempt, attempt.status, attempt.response, attempt.error,
            attempt.durationMilliseconds, attempt.at,
        ])
        return db.changesCount == 1
    }

    // MARK: Copy (notifyctl db copy)

    func rowCounts() throws -> [StoreTable: Int] {
        var counts: [StoreTable: Int] = [:]
        for table in StoreTable.allCases {
            counts[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.rawValue)") ?? 0
        }
        return counts
    }

    func page(_ table: StoreTable, after key: StoreCopyKey?, limit: Int) throws -> StoreRows {
        switch (table, key) {
        case (.orders, let key):
            let after: String
            if case .text(let text) = key { after = text } else { after = "" }
            return .orders(
                try Row.fetchAll(db, sql: "SELECT * FROM orders WHERE out_trade_no > ? ORDER BY out_trade_no LIMIT ?", arguments: [after, limit])
                    .map(Order.init(row:)))
        case (.webhookEndpoints, let key):
            let after: String
            if case .text(let text) = key { after = text } else { after = "" }
            return .webhookEndpoints(
                try Row.fetchAll(
                    db, sql: "SELECT * FROM webhook_endpoints WHERE endpoint_id > ? ORDER BY endpoint_id LIMIT ?", arguments: [after, limit]
                ).map(WebhookEndpoint.init(row:)))
        case (_, let key):
            var after: Int64 = 0
            if case .id(let id) = key { after = id }
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table.rawValue) WHERE id > ? ORDER BY id LIMIT ?", arguments: [after, limit])
            switch table {
            case .orders: return .orders([])
            case .refunds: return .refunds(try rows.map(Refund.init(row:)))
            case .orderEvents: return .orderEvents(try rows.map(OrderEvent.init(row:)))
            case .notifications: return .notifications(try rows.map(StoredNotification.init(row:)))
            case .jobs: return .jobs(try rows.map(Job.init(row:)))
            case .jobAttempts: return .jobAttempts(try rows.map(JobAttempt.init(row:)))
            case .webhookEndpoints: return .webhookEndpoints([])
            case .webhookEvents: return .webhookEvents(try rows.map(WebhookEvent.init(row:)))
            case .deliveryAttempts: return .deliveryAttempts(try rows.map(DeliveryAttempt.init(row:)))
            }
        }
    }

    /// `ON CONFLICT DO NOTHING` keeps a clashing row that is there (a broken CHECK still fails, unlike `OR IGNORE`);
    /// AUTOINCREMENT continues after the highest id inserted.
    func importRows(_ rows: StoreRows) throws -> Int {
        var inserted = 0
        func insert(_ sql: String, _ arguments: StatementArguments) throws {
            try db.cachedStatement(sql: sql).execute(arguments: arguments)
            inserted += db.changesCount
        }
        switch rows {
        case .orders(let orders):
            for order in orders where try insertOrderRow(order) { inserted += 1 }
        case .refunds(let refunds):
            for refund in refunds where try insertRefundRow(refund, keepingId: true) { inserted += 1 }
        case .orderEvents(let events):
            for event in events {
                try insert(
                    """
                    INSERT INTO order_events (id, out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                    [
                        event.id, event.outTradeNo, event.fromStatus, event.toStatus, event.source, event.jobId, event.notifyId, event.detail,
                        event.createdAt,
                    ])
            }
        case .notifications(let notifications):
            for notification in notifications {
                try insert(
                    """
                    INSERT INTO notifications (id, notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at, delivery_count, seal)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                    [
                        notification.id, notification.notifyId, notification.outTradeNo, notification.tradeStatus, notification.body,
                        notification.firstReceivedAt, notification.lastReceivedAt, notification.deliveryCount, notification.seal,
                    ])
            }
        case .jobs(let jobs):
            for job in jobs {
                try insert(
                    """
                    INSERT INTO jobs (id, kind, state, unique_key, out_trade_no, notification_id, notify_id, payload, attempts, run_at,
                                                lease_owner, lease_expires_at, last_error, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                    [
                        job.id, job.kind, job.state, job.uniqueKey, job.outTradeNo, job.notificationId, job.notifyId, job.payload, job.attempts,
                        job.runAt, job.leaseOwner, job.leaseExpiresAt, job.lastError, job.createdAt, job.updatedAt,
                    ])
            }
        case .jobAttempts(let attempts):
            for attempt in attempts {
                try insert(
                    "INSERT INTO job_attempts (id, job_id, attempt, owner, outcome, error, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [attempt.id, attempt.jobId, attempt.attempt, attempt.owner, attempt.outcome.rawValue, attempt.error, attempt.at])
            }
        case .webhookEndpoints(let endpoints):
            for endpoint in endpoints where try insertWebhookEndpointRow(endpoint) { inserted += 1 }
        case .webhookEvents(let events):
            for event in events where try insertWebhookEventRow(event) { inserted += 1 }
        case .deliveryAttempts(let attempts):
            for attempt in attempts where try insertDeliveryAttemptRow(attempt) { inserted += 1 }
        }
        return inserted
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        let finished = finishedTaken
        do {
            try db.inSavepoint {
                result = try body()
                return .commit
            }
        } catch {
            endpointsMemo = nil  // what the savepoint undid may include an endpoint write
            finishedTaken = finished  // and the attempts it finished
            throw error
        }
        return result!
    }
}
