import Foundation
import Logging
import NIOCore
import NotifyStore
import PostgresNIO

/// A unit of work on one pooled PostgreSQL connection: the contract's reads and writes as SQL.
///
/// The contract's closures are synchronous, so this type runs on a thread of the store's `NIOThreadPool` (never on
/// an event loop or the cooperative pool) and blocks on each statement's future. Writes run at READ COMMITTED: every
/// state change is a conditional UPDATE (an order's status and refund, a job's lease owner and attempt) or works on
/// rows it locked, so a concurrent change makes the condition fail instead of being overwritten. Reads run at
/// REPEATABLE READ READ ONLY, one consistent snapshot.
///
/// PostgreSQL aborts the whole transaction when one statement fails (SQLite only fails the statement). This type
/// remembers that failure: later statements and COMMIT throw it instead of committing a half-done unit of work;
/// ``savepoint(_:)`` is how a caller survives a failure.
final class PostgresTransaction: StoreTransaction {
    let connection: PostgresConnection
    let logger: Logger
    let readOnly: Bool
    /// How long one statement may take before the connection is given up (`statement_timeout` plus a margin): the
    /// driver never answers a query sent on a connection that died, and a unit of work must not hang on one.
    let answerTimeout: TimeAmount

    /// Savepoints opened so far (names stay unique within the transaction).
    private var savepointCount = 0
    /// The error of a statement that failed and aborted the transaction (not undone by a savepoint).
    private var failure: StoreError?
    /// The connection itself failed (no answer in time, or a socket-level error): it cannot even roll back and is
    /// closed. A server error (bad input, constraint) leaves a healthy connection that a ROLLBACK returns to service.
    private var connectionLost = false
    /// A job became due in this transaction: `NOTIFY` the listeners just before COMMIT (delivered at commit).
    var wakesWorkers = false
    /// The endpoints as this transaction read them, until it writes one or rolls back to a savepoint: publishing an
    /// event in every applied notification of a batch reads them once.
    var endpointsMemo: [WebhookEndpoint]?

    /// The channel `NOTIFY` uses and ``PostgresWakeUps`` listens on.
    static let wakeUpChannel = "alipay_notify_jobs"

    init(connection: PostgresConnection, logger: Logger, readOnly: Bool, answerTimeout: TimeAmount) {
        self.connection = connection
        self.logger = logger
        self.readOnly = readOnly
        self.answerTimeout = answerTimeout
    }

    // MARK: Running statements

    /// Runs one statement and waits for all its rows. Driver errors come out as `StoreError`.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> PostgresQueryResult {
        if let failure { throw failure }
        do {
            return try bounded(query)
        } catch {
            if !PostgresErrors.isServerError(error) { connectionLost = true }
            let translated = PostgresErrors.storeError(error)
            failure = translated
            throw translated
        }
    }

    /// Sends `query` and waits for its answer at most `answerTimeout`: the driver never answers a query sent on a
    /// connection that died (a server crash), and a pool thread must never wait forever. On timeout the connection is
    /// closed, so the pool replaces it. Reported as unavailable: the caller retries, and every write is idempotent or
    /// fenced, so a commit that did happen after all is found, not repeated.
    private func bounded(_ query: PostgresQuery) throws -> PostgresQueryResult {
        let answer = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
        connection.query(query, logger: logger).cascade(to: answer)
        let connection = connection
        let timeout = answerTimeout
        let timer = connection.eventLoop.scheduleTask(in: timeout) {
            answer.fail(StoreError.unavailable("PostgreSQL: no answer within \(timeout.nanoseconds / 1_000_000_000) s; connection dropped"))
            connection.close().whenComplete { _ in }
        }
        defer { timer.cancel() }
        return try answer.futureResult.wait()
    }

    /// The number of rows a statement changed, from its command tag.
    func changes(_ query: PostgresQuery) throws -> Int {
        try execute(query).metadata.rows ?? 0
    }

    /// BEGIN, `body`, COMMIT; ROLLBACK when anything throws.
    func run<T>(_ body: (PostgresTransaction) throws -> T) throws -> T {
        try execute(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED")
        let result: T
        do {
            result = try body(self)
            // A statement failed and the body went on: PostgreSQL would turn the COMMIT into a ROLLBACK.
            if let failure { throw failure }
            if wakesWorkers { try execute(PostgresQuery(unsafeSQL: "NOTIFY \(Self.wakeUpChannel)")) }
        } catch {
            rollback()
            throw error
        }
        let committed = try execute("COMMIT")
        guard committed.metadata.command == "COMMIT" else {
            throw StoreError.unavailable("PostgreSQL: the transaction was rolled back at COMMIT (\(committed.metadata.command))")
        }
        return result
    }

    /// Rolls back; a connection that cannot even roll back is closed so that the pool never lends it out inside a
    /// transaction.
    private func rollback() {
        if connectionLost {
            // The connection is gone (or timed out): the server has rolled back already; only the socket is left.
            closeConnection()
            return
        }
        do {
            _ = try bounded("ROLLBACK")
        } catch {
            logger.warning("ROLLBACK failed; closing the connection", metadata: ["error": "\(PostgresErrors.storeError(error))"])
            closeConnection()
        }
    }

    /// Closes the connection and waits for it, so that the pool never lends out a connection still closing.
    private func closeConnection() {
        _ = try? connection.close().wait()
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepointCount += 1
        let name = "sp_\(savepointCount)"
        try execute(PostgresQuery(unsafeSQL: "SAVEPOINT \(name)"))
        do {
            let result = try body()
            // The body swallowed a failed statement: the savepoint is what undoes it.
            if let failure { throw failure }
            try execute(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
            return result
        } catch {
            failure = nil
            endpointsMemo = nil
            try execute(PostgresQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(name)"))
            try execute(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
            throw error
        }
    }

    // MARK: Orders

    func order(_ outTradeNo: String, forUpdate: Bool) throws -> Order? {
        let query: PostgresQuery =
            forUpdate
            ? "SELECT * FROM orders WHERE out_trade_no = \(outTradeNo) FOR UPDATE"
            : "SELECT * FROM orders WHERE out_trade_no = \(outTradeNo)"
        return try execute(query).first.map(Order.init(row:))
    }

    func orders(status: OrderStatus?, limit: Int) throws -> [Order] {
        let query: PostgresQuery =
            if let status {
                "SELECT * FROM orders WHERE status = \(status.rawValue) ORDER BY created_at DESC LIMIT \(limit)"
            } else {
                "SELECT * FROM orders ORDER BY created_at DESC LIMIT \(limit)"
            }
        return try execute(query).map(Order.init(row:))
    }

    func orderCounts() throws -> [OrderStatus: Int] {
        var counts: [OrderStatus: Int] = [:]
        for row in try execute("SELECT status, count(*) AS count FROM orders GROUP BY status") {
            let (status, count) = try row.decode((String, Int).self)
            if let status = OrderStatus(rawValue: status) { counts[status] = count }
        }
        return counts
    }

    func ordersNeedingReview() throws -> Int {
        try execute("SELECT count(*) FROM orders WHERE needs_review").first?.decode(Int.self) ?? 0
    }

    func orderEvents(_ outTradeNo: String) throws -> [OrderEvent] {
        try execute("SELECT * FROM order_events WHERE out_trade_no = \(outTradeNo) ORDER BY id").map(OrderEvent.init(row:))
    }

    func ordersWithoutJobs(
        statuses: Set<OrderStatus>, createdBefore: Date, liveKinds: Set<JobKind>, deadKinds: Set<JobKind>, limit: Int
    ) throws -> [Order] {
        let statusList = statuses.map(\.rawValue).sorted()
        let live = liveKinds.map(\.rawValue).sorted()
        let dead = deadKinds.map(\.rawValue).sorted()
        return try execute(
            """
            SELECT * FROM orders
            WHERE status = ANY(\(statusList)) AND created_at <= \(createdBefore) AND NOT needs_review
              AND NOT EXISTS (
                  SELECT 1 FROM jobs
                  WHERE jobs.out_trade_no = orders.out_trade_no
                    AND ((jobs.kind = ANY(\(live)) AND jobs.state IN ('pending', 'running'))
                         OR (jobs.kind = ANY(\(dead)) AND jobs.state = 'dead')))
            ORDER BY created_at
            LIMIT \(limit)
            """
        ).map(Order.init(row:))
    }

    func paidOrdersWithoutJobs(paidAfter: Date, paidBefore: Date, liveKinds: Set<JobKind>, limit: Int) throws -> [Order] {
        let live = liveKinds.map(\.rawValue).sorted()
        return try execute(
            """
            SELECT * FROM orders
            WHERE status = 'TRADE_SUCCESS' AND paid_at > \(paidAfter) AND paid_at <= \(paidBefore) AND NOT needs_review
              AND NOT EXISTS (
                  SELECT 1 FROM jobs
                  WHERE jobs.out_trade_no = orders.out_trade_no AND jobs.kind = ANY(\(live)) AND jobs.state IN ('pending', 'running'))
            ORDER BY paid_at
            LIMIT \(limit)
            """
        ).map(Order.init(row:))
    }

    func ordersPaid(from: Date, to: Date) throws -> [Order] {
        try execute("SELECT * FROM orders WHERE paid_at >= \(from) AND paid_at < \(to) ORDER BY paid_at").map(Order.init(row:))
    }

    func refundsMade(from: Date, to: Date) throws -> [Refund] {
        try execute(
            "SELECT * FROM refunds WHERE status = 'succeeded' AND refunded_at >= \(from) AND refunded_at < \(to) ORDER BY refunded_at"
        ).map(Refund.init(row:))
    }

    func statementCheck(billDate: String) throws -> StatementCheck? {
        try execute("SELECT * FROM statement_checks WHERE bill_date = \(billDate)").first.map(StatementCheck.init(row:))
    }

    func statementChecks(limit: Int) throws -> [StatementCheck] {
        try execute("SELECT * FROM statement_checks ORDER BY bill_date DESC LIMIT \(limit)").map(StatementCheck.init(row:))
    }

    func saveStatementCheck(_ check: StatementCheck) throws {
        try execute(
            """
            INSERT INTO statement_checks (bill_date, checked_at, rows, report)
            VALUES (\(check.billDate), \(check.checkedAt), \(check.rows), \(try StatementCheck.reportText(check.differences)))
            ON CONFLICT (bill_date) DO UPDATE SET checked_at = EXCLUDED.checked_at, rows = EXCLUDED.rows, report = EXCLUDED.report
            """)
    }

    // MARK: Refunds

    func refunds(_ outTradeNo: String) throws -> [Refund] {
        try execute("SELECT * FROM refunds WHERE out_trade_no = \(outTradeNo) ORDER BY id").map(Refund.init(row:))
    }

    func refund(_ outTradeNo: String, outRequestNo: String) throws -> Refund? {
        try execute("SELECT * FROM refunds WHERE out_trade_no = \(outTradeNo) AND out_request_no = \(outRequestNo)").first.map(Refund.init(row:))
    }

    func pendingRefundsWithoutJobs(createdBefore: Date, limit: Int) throws -> [Refund] {
        try execute(
            """
            SELECT * FROM refunds r
            WHERE r.status = 'pending' AND r.created_at <= \(createdBefore)
              AND NOT EXISTS (SELECT 1 FROM jobs j
                              WHERE j.unique_key = 'refund:' || r.out_trade_no || ':' || r.out_request_no
                                AND j.state IN ('pending', 'running', 'dead'))
            ORDER BY r.created_at LIMIT \(limit)
            """
        ).map(Refund.init(row:))
    }

    func insertRefund(_ refund: Refund) throws -> Refund {
        guard let id = try insertRefundRow(refund, keepingId: false) else {
            throw StoreError.duplicate("refund \(refund.outRequestNo) of order \(refund.outTradeNo)")
        }
        var inserted = refund
        inserted.id = id
        return inserted
    }

    /// The one refunds INSERT (`insertRefund` and `importRows`): the new id, nil when the request number is taken.
    func insertRefundRow(_ refund: Refund, keepingId: Bool) throws -> Int64? {
        let columns = """
            out_trade_no, out_request_no, amount_fen, reason, status, refunded_at, fund_change, failure, created_at, updated_at
            """
        let query: PostgresQuery =
            keepingId
            ? """
            INSERT INTO refunds (id, \(unescaped: columns)) OVERRIDING SYSTEM VALUE
            VALUES (\(refund.id), \(refund.outTradeNo), \(refund.outRequestNo), \(refund.amountFen), \(refund.reason)::text,
                    \(refund.status.rawValue), \(refund.refundedAt)::timestamptz, \(refund.fundChange)::boolean, \(refund.failure)::text,
                    \(refund.createdAt), \(refund.updatedAt))
            ON CONFLICT DO NOTHING RETURNING id
            """
            : """
            INSERT INTO refunds (\(unescaped: columns))
            VALUES (\(refund.outTradeNo), \(refund.outRequestNo), \(refund.amountFen), \(refund.reason)::text,
                    \(refund.status.rawValue), \(refund.refundedAt)::timestamptz, \(refund.fundChange)::boolean, \(refund.failure)::text,
                    \(refund.createdAt), \(refund.updatedAt))
            ON CONFLICT DO NOTHING RETURNING id
            """
        return try execute(query).first.map { try $0.decode(Int64.self) }
    }

    func settleRefund(outTradeNo: String, outRequestNo: String, _ settlement: RefundSettlement, now: Date) throws -> Bool {
        try changes(
            """
            UPDATE refunds SET status = \(settlement.status.rawValue), refunded_at = COALESCE(\(settlement.refundedAt)::timestamptz, refunded_at),
                               fund_change = COALESCE(\(settlement.fundChange)::boolean, fund_change), failure = \(settlement.failure)::text,
                               updated_at = \(now)
            WHERE out_trade_no = \(outTradeNo) AND out_request_no = \(outRequestNo) AND status = 'pending'
            """) == 1
    }

    /// `ON CONFLICT DO NOTHING` rather than catching the unique violation: the transaction stays usable after a
    /// duplicate, as on SQLite.
    func insertOrder(_ order: Order) throws {
        guard try insertOrderRow(order) else { throw StoreError.duplicate("order \(order.outTradeNo)") }
        try insertEvent(
            OrderEvent(outTradeNo: order.outTradeNo, fromStatus: nil, toStatus: order.status, source: "create", createdAt: order.createdAt))
    }

    /// Writes the order's row unless its number is taken; true when written. The one orders INSERT (`insertOrder` and
    /// `importRows` share it).
    func insertOrderRow(_ order: Order) throws -> Bool {
        try changes(
            """
            INSERT INTO orders (out_trade_no, subject, total_amount_fen, status, trade_no, refunded_fen, needs_review,
                                review_reason, created_at, updated_at, paid_at, closed_at, refunded_at, product)
            VALUES (\(order.outTradeNo), \(order.subject), \(order.totalAmountFen), \(order.status.rawValue), \(order.tradeNo)::text,
                    \(order.refundedFen), \(order.needsReview), \(order.reviewReason)::text, \(order.createdAt), \(order.updatedAt),
                    \(order.paidAt)::timestamptz, \(order.closedAt)::timestamptz, \(order.refundedAt)::timestamptz, \(order.product.rawValue))
            ON CONFLICT DO NOTHING
            """) == 1
    }

    /// One statement: the conditional UPDATE, and the event row only when it changed the order.
    func transition(_ order: Order, to: OrderStatus, changes orderChanges: OrderChanges, event: OrderEvent) throws -> Int64? {
        let inserted = try execute(
            """
            WITH moved AS (
                UPDATE orders
                SET status = \(to.rawValue),
                    trade_no = COALESCE(\(orderChanges.tradeNo)::text, trade_no),
                    refunded_fen = COALESCE(\(orderChanges.refundedFen)::bigint, refunded_fen),
                    paid_at = COALESCE(\(orderChanges.paidAt)::timestamptz, paid_at),
                    closed_at = COALESCE(\(orderChanges.closedAt)::timestamptz, closed_at),
                    refunded_at = COALESCE(\(orderChanges.refundedAt)::timestamptz, refunded_at),
                    updated_at = \(Date())
                WHERE out_trade_no = \(order.outTradeNo) AND status = \(order.status.rawValue) AND refunded_fen = \(order.refundedFen)
                RETURNING out_trade_no
            )
            INSERT INTO order_events (out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at)
            SELECT out_trade_no, \(order.status.rawValue), \(to.rawValue), \(event.source), \(event.jobId)::bigint,
                   \(event.notifyId)::text, \(event.detail)::text, \(event.createdAt)
            FROM moved
            RETURNING id
            """
        ).first
        return try inserted?.decode(Int64.self)
    }

    private func insertEvent(_ event: OrderEvent) throws {
        try execute(
            """
            INSERT INTO order_events (out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at)
            VALUES (\(event.outTradeNo), \(event.fromStatus?.rawValue)::text, \(event.toStatus.rawValue), \(event.source),
                    \(event.jobId)::bigint, \(event.notifyId)::text, \(event.detail)::text, \(event.createdAt))
            """)
    }

    func flagForReview(_ outTradeNo: String, reason: String) throws -> Bool {
        try changes(
            "UPDATE orders SET needs_review = true, review_reason = \(reason), updated_at = \(Date()) WHERE out_trade_no = \(outTradeNo)"
        ) == 1
    }

    // MARK: Notifications

    func notifications(ids: [Int64]) throws -> [StoredNotification] {
        guard !ids.isEmpty else { return [] }
        return try execute("SELECT * FROM notifications WHERE id = ANY(\(ids))").map(StoredNotification.init(row:))
    }

    func notification(notifyId: String) throws -> StoredNotification? {
        try execute("SELECT * FROM notifications WHERE notify_id = \(notifyId)").first.map(StoredNotification.init(row:))
    }

    func rejectedNotifications(limit: Int) throws -> [RejectedNotification] {
        try execute("SELECT * FROM rejected_notifications ORDER BY id DESC LIMIT \(limit)").map(RejectedNotification.init(row:))
    }

    func rejectedNotification(id: Int64) throws -> RejectedNotification? {
        try execute("SELECT * FROM rejected_notifications WHERE id = \(id)").first.map(RejectedNotification.init(row:))
    }

    // MARK: Jobs

    func job(_ id: Int64) throws -> Job? {
        try execute("SELECT * FROM jobs WHERE id = \(id)").first.map(Job.init(row:))
    }

    func jobs(state: JobState?, kind: JobKind?, outTradeNo: String?, limit: Int) throws -> [Job] {
        var sql = "SELECT * FROM jobs WHERE true"
        var binds = PostgresBindings()
        if let state {
            binds.append(state.rawValue)
            sql += " AND state = $\(binds.count)"
        }
        if let kind {
            binds.append(kind.rawValue)
            sql += " AND kind = $\(binds.count)"
        }
        if let outTradeNo {
            binds.append(outTradeNo)
            sql += " AND out_trade_no = $\(binds.count)"
        }
        binds.append(limit)
        sql += " ORDER BY id DESC LIMIT $\(binds.count)"
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Job.init(row:))
    }

    func latestJob(kind: JobKind, outTradeNo: String) throws -> Job? {
        try execute("SELECT * FROM jobs WHERE kind = \(kind.rawValue) AND out_trade_no = \(outTradeNo) ORDER BY id DESC LIMIT 1")
            .first.map(Job.init(row:))
    }

    func jobHistory(_ jobId: Int64) throws -> [JobAttempt] {
        try execute("SELECT * FROM job_attempts WHERE job_id = \(jobId) ORDER BY id").map(JobAttempt.init(row:))
    }

    func queueStats() throws -> QueueStats {
        var stats = QueueStats()
        for row in try execute("SELECT state, count(*) AS count FROM jobs GROUP BY state") {
            let (state, count) = try row.decode((String, Int).self)
            if let state = JobState(rawValue: state) { stats.set(state, count) }
        }
        return stats
    }

    func claimableJobs(kinds: Set<JobKind>?, now: Date, limit: Int, excluding: Set<Int64>) throws -> [Job] {
        guard limit > 0, kinds?.isEmpty != true else { return [] }
        let kinds = kinds.map { $0.map(\.rawValue).sorted() }
        let excluding = excluding.sorted()
        return try execute(
            """
            (SELECT * FROM jobs WHERE state = 'pending' AND run_at <= \(now) AND (\(kinds)::text[] IS NULL OR kind = ANY(\(kinds)))
               AND id <> ALL(\(excluding))
             ORDER BY run_at, id LIMIT \(limit))
            UNION ALL
            (SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at <= \(now) AND (\(kinds)::text[] IS NULL OR kind = ANY(\(kinds)))
               AND id <> ALL(\(excluding))
             ORDER BY lease_expires_at, id LIMIT \(limit))
            ORDER BY run_at, id
            LIMIT \(limit)
            """
        ).map(Job.init(row:))
    }

    func claim(_ candidates: [Job], owner: String, lease: Duration, now: Date) throws -> [Job] {
        guard !candidates.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(now)  // $1
        binds.append(candidates.filter { $0.state == .pending }.compactMap(\.id))  // $2
        binds.append(owner)  // $3
        binds.append(now.addingTimeInterval(lease.seconds))  // $4
        binds.append(candidates.filter { $0.state == .running }.compactMap(\.id))  // $5
        // Rows another worker holds right now are skipped, not waited for: it is applying them.
        let claimed = try execute(
            PostgresQuery(
                unsafeSQL: """
                    WITH chosen AS MATERIALIZED (
                        SELECT id, run_at, state, attempts, lease_owner, lease_expires_at FROM jobs
                        WHERE (id = ANY($2::bigint[]) AND state = 'pending' AND run_at <= $1)
                           OR (id = ANY($5::bigint[]) AND state = 'running' AND lease_expires_at <= $1)
                        FOR UPDATE SKIP LOCKED
                    )
                    \(PostgresStore.leaseChosen)
                    """, binds: binds)
        ).map(Job.init(row:))
        let byId = Dictionary(uniqueKeysWithValues: claimed.map { ($0.id!, $0) })
        return candidates.compactMap { $0.id.flatMap { byId[$0] } }
    }

    func oldestDueJob(now: Date) throws -> Date? {
        try execute("SELECT min(run_at) FROM jobs WHERE state = 'pending' AND run_at <= \(now)").first?.decode(Date?.self) ?? nil
    }

    /// Looks for the live job first (the common case when a key is re-enqueued), then inserts with
    /// `ON CONFLICT DO NOTHING` on the live-key index: a concurrent enqueue of the same key waits for the other
    /// transaction and then finds its job instead of failing this one.
    func enqueue(_ job: NewJob) throws -> (job: Job, inserted: Bool) {
        for _ in 0..<3 {
            if let uniqueKey = job.uniqueKey,
                let live = try execute("SELECT * FROM jobs WHERE unique_key = \(uniqueKey) AND state IN ('pending', 'running')").first
            {
                return (try Job(row: live), false)
            }
            let now = Date()
            let rows = try execute(
                """
                INSERT INTO jobs (kind, state, unique_key, out_trade_no, notification_id, notify_id, payload, attempts, run_at,
                                  created_at, updated_at)
                VALUES (\(job.kind.rawValue), 'pending', \(job.uniqueKey)::text, \(job.outTradeNo)::text, \(job.notificationId)::bigint,
                        \(job.notifyId)::text, \(job.payload)::text, 0, \(job.runAt), \(now), \(now))
                ON CONFLICT (unique_key) WHERE state IN ('pending', 'running') DO NOTHING
                RETURNING *
                """)
            if let row = rows.first {
                if job.runAt <= now { wakesWorkers = true }
                return (try Job(row: row), true)
            }
            // The live twin finished between the conflict and this look-up: try again.
        }
        throw StoreError.busy("PostgreSQL: the unique key \(job.uniqueKey ?? "") kept changing during enqueue")
    }

    func complete(_ lease: JobLease) throws {
        // A first-try success of a job with no history at all (never failed, released, expired or replayed): its row
        // (done, attempts 1) is its whole record, and the hot path saves the history INSERT (an index probe instead).
        // Anything with history keeps adding to it.
        if lease.attempt == 1,
            try changes(
                """
                UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = \(Date())
                WHERE id = \(lease.jobId) AND state = 'running' AND lease_owner = \(lease.owner) AND attempts = 1 AND last_error IS NULL
                  AND NOT EXISTS (SELECT 1 FROM job_attempts WHERE job_id = jobs.id)
                """) == 1
        {
            return
        }
        try finish(lease, outcome: .done, error: nil, set: "state = 'done', last_error = NULL")
    }

    func retry(_ lease: JobLease, at: Date, error: String) throws {
        try finish(lease, outcome: .retry, error: error, set: "state = 'pending', run_at = \(at), last_error = \(error)")
    }

    func deadLetter(_ lease: JobLease, reason: String) throws {
        try finish(lease, outcome: .dead, error: reason, set: "state = 'dead', last_error = \(reason)")
    }

    /// One statement ends an attempt: the fenced UPDATE (still running under this owner and attempt) and its history
    /// row, written only when the UPDATE matched. `set` holds the columns of the outcome (its binds come first).
    private func finish(_ lease: JobLease, outcome: JobAttempt.Outcome, error: String?, set: PostgresQuery) throws {
        let now = Date()
        var query = set
        let first = query.binds.count
        query.sql = """
            WITH finished AS (
                UPDATE jobs
                SET \(set.sql), lease_owner = NULL, lease_expires_at = NULL, updated_at = $\(first + 1)
                WHERE id = $\(first + 2) AND state = 'running' AND lease_owner = $\(first + 3) AND attempts = $\(first + 4)
                RETURNING id
            )
            INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at)
            SELECT id, $\(first + 4), $\(first + 3), $\(first + 5), $\(first + 6)::text, $\(first + 1) FROM finished
            """
        query.binds.append(now)
        query.binds.append(lease.jobId)
        query.binds.append(lease.owner)
        query.binds.append(lease.attempt)
        query.binds.append(outcome.rawValue)
        query.binds.append(error)
        guard try changes(query) == 1 else { throw try fenceFailure(lease) }
    }

    /// Puts the job back without counting the attempt, and without a history row: the attempt did not run (a delivery
    /// waiting for its endpoint's concurrency limit), so there is nothing to tell about it. No NOTIFY, like retry.
    /// Fenced like ``finish(_:outcome:error:set:)``.
    func postpone(_ lease: JobLease, at: Date) throws {
        let postponed = try changes(
            """
            UPDATE jobs
            SET state = 'pending', run_at = \(at), attempts = GREATEST(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
                updated_at = \(Date())
            WHERE id = \(lease.jobId) AND state = 'running' AND lease_owner = \(lease.owner) AND attempts = \(lease.attempt)
            """)
        guard postponed == 1 else { throw try fenceFailure(lease) }
    }

    /// Why a fenced write matched no row: the job is there under another lease (or finished), or it is gone.
    private func fenceFailure(_ lease: JobLease) throws -> StoreError {
        let exists = try execute("SELECT EXISTS (SELECT 1 FROM jobs WHERE id = \(lease.jobId))").first?.decode(Bool.self) ?? false
        return exists ? StoreError.leaseLost(jobId: lease.jobId) : StoreError.notFound("job \(lease.jobId)")
    }
}
