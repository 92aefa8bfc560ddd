import Foundation
import GRDB
import Logging
import NotifyStore
import ServiceLifecycle

/// Finds unpaid orders and enqueues the jobs that settle them: `reconcile` (ask Alipay) on a decaying schedule once
/// an order is `worker.reconcileAfterSeconds` old, and `close` once `orders.timeoutMinutes` have passed.
///
/// Both are enqueued with a unique key per order (`reconcile:<out_trade_no>`, `close:<out_trade_no>`), and an order gets
/// its next job only once the previous one finished, so sweeps never pile jobs up: an unpaid order has at most one live
/// reconcile-or-close job at any time. After the last scheduled query the close job is enqueued ahead, due at the timeout.
public struct Sweeper: Service {
    /// What the sweeper looks for.
    public struct Policy: Sendable {
        /// When unpaid orders are queried.
        public var schedule: ReconcileSchedule
        /// Age (seconds) after which an unpaid order is closed.
        public var timeout: Double
        /// Pause between sweeps.
        public var interval: Duration
        /// Orders looked at per sweep, oldest first.
        public var batchSize: Int

        /// A policy from its parts.
        public init(schedule: ReconcileSchedule, timeout: Double, interval: Duration, batchSize: Int = 500) {
            self.schedule = schedule
            self.timeout = timeout
            self.interval = interval
            self.batchSize = batchSize
        }

        /// The policy of a configuration (`worker.reconcileAfterSeconds`, `worker.sweepIntervalSeconds`, `orders.timeoutMinutes`).
        public init(_ configuration: NotifyConfiguration) {
            self.init(
                schedule: ReconcileSchedule(first: configuration.worker.reconcileAfterSeconds),
                timeout: Double(configuration.ordersTimeoutMinutes) * 60,
                interval: .milliseconds(Int64(max(0.05, configuration.worker.sweepIntervalSeconds) * 1000)))
        }
    }

    /// What one sweep enqueued.
    public struct Report: Sendable, Equatable {
        /// New `reconcile` jobs.
        public var reconcile: Int
        /// New `close` jobs.
        public var close: Int
    }

    /// The database holding orders and jobs.
    public let database: NotifyDatabase
    /// The queue to enqueue into.
    public let queue: any JobQueue
    /// What to look for.
    public let policy: Policy
    /// Log lines.
    public let logger: Logger
    /// The clock.
    public let now: @Sendable () -> Date

    /// A sweeper from its parts.
    public init(
        database: NotifyDatabase, queue: any JobQueue, policy: Policy, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.database = database
        self.queue = queue
        self.policy = policy
        self.logger = logger
        self.now = now
    }

    /// Sweeps every `policy.interval` until graceful shutdown.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let report = try await sweep()
                if report.reconcile + report.close > 0 {
                    logger.info("sweep enqueued jobs", metadata: ["reconcile": "\(report.reconcile)", "close": "\(report.close)"])
                }
            } catch {
                logger.error("sweep failed; trying again at the next interval", metadata: ["error": "\(error)"])
            }
            let interval = policy.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One sweep, in one transaction.
    ///
    /// It only looks at unpaid orders that have no live `reconcile` or `close` job and no dead `close` job (a dead close
    /// waits for an operator's replay), so every order it reads gets a job: a large backlog cannot starve newer orders.
    @discardableResult
    public func sweep() async throws -> Report {
        let now = now()
        let policy = policy
        let queue = queue
        return try await database.pool.write { db in
            let orders = try Order.fetchAll(
                db,
                sql: """
                    SELECT * FROM orders
                    WHERE status IN ('CREATED', 'WAIT_BUYER_PAY') AND created_at <= ?
                      AND NOT EXISTS (
                          SELECT 1 FROM jobs
                          WHERE jobs.out_trade_no = orders.out_trade_no
                            AND ((jobs.kind IN ('reconcile', 'close') AND jobs.state IN ('pending', 'running'))
                                 OR (jobs.kind = 'close' AND jobs.state = 'dead')))
                    ORDER BY created_at
                    LIMIT ?
                    """,
                arguments: [now.addingTimeInterval(-policy.schedule.first), policy.batchSize])
            var report = Report(reconcile: 0, close: 0)
            for order in orders {
                switch try Self.enqueueNext(order, now: now, policy: policy, queue: queue, in: db) {
                case .reconcile: report.reconcile += 1
                case .close: report.close += 1
                default: break
                }
            }
            return report
        }
    }

    /// Enqueues what comes next for an unpaid order without a live job: the next reconcile on the schedule, measured
    /// from when the previous one ran; or, once no query is left before the timeout, the close job, due at the timeout.
    static func enqueueNext(_ order: Order, now: Date, policy: Policy, queue: any JobQueue, in db: Database) throws -> JobKind? {
        let age = now.timeIntervalSince(order.createdAt)
        if age < policy.timeout {
            let last = try Job.fetchOne(
                db, sql: "SELECT * FROM jobs WHERE kind = 'reconcile' AND out_trade_no = ? ORDER BY id DESC LIMIT 1",
                arguments: [order.outTradeNo])
            // From when the last query actually ran, so a worker that was down does not fire a burst of catch-up queries.
            let lastAge = last.map { max($0.runAt, $0.updatedAt).timeIntervalSince(order.createdAt) }
            let nextAge = policy.schedule.next(after: lastAge)
            if nextAge < policy.timeout {
                let job = NewJob(
                    kind: .reconcile, uniqueKey: "reconcile:\(order.outTradeNo)", outTradeNo: order.outTradeNo,
                    runAt: max(now, order.createdAt.addingTimeInterval(nextAge)))
                return try queue.enqueue(job, in: db).inserted ? .reconcile : nil
            }
        }
        let job = NewJob(
            kind: .close, uniqueKey: "close:\(order.outTradeNo)", outTradeNo: order.outTradeNo,
            runAt: max(now, order.createdAt.addingTimeInterval(policy.timeout)))
        return try queue.enqueue(job, in: db).inserted ? .close : nil
    }
}
