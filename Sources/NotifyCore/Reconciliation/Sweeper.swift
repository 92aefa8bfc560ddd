import AlipayKit
import Foundation
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
        /// When paid orders are queried, measured from the payment (a lost refund notification).
        public var paidSchedule: ReconcileSchedule
        /// Seconds after payment past which a paid order is no longer queried; 0: paid orders are never queried.
        public var paidWindow: Double
        /// From this China time of day (`HH:mm`) yesterday's statement is checked; nil: statements are not checked.
        public var statementsTimeOfDay: String?
        /// Days back whose unchecked statement is checked too (a worker that was down).
        public var statementsCatchUpDays = 3

        /// A policy from its parts.
        public init(
            schedule: ReconcileSchedule, timeout: Double, interval: Duration, batchSize: Int = 500,
            paidSchedule: ReconcileSchedule = ReconcileSchedule(first: 3600), paidWindow: Double = 0, statementsTimeOfDay: String? = nil
        ) {
            self.statementsTimeOfDay = statementsTimeOfDay
            self.schedule = schedule
            self.timeout = timeout
            self.interval = interval
            self.batchSize = batchSize
            self.paidSchedule = paidSchedule
            self.paidWindow = paidWindow
        }

        /// The policy of a configuration (`worker.reconcileAfterSeconds`, `worker.sweepIntervalSeconds`, `orders.timeoutMinutes`).
        public init(_ configuration: NotifyConfiguration) {
            self.init(
                schedule: ReconcileSchedule(first: configuration.worker.reconcileAfterSeconds),
                timeout: Double(configuration.ordersTimeoutMinutes) * 60,
                interval: .milliseconds(Int64(max(0.05, configuration.worker.sweepIntervalSeconds) * 1000)),
                paidSchedule: ReconcileSchedule(first: configuration.worker.reconcilePaidAfterSeconds),
                paidWindow: configuration.worker.reconcilePaidForHours * 3600,
                statementsTimeOfDay: configuration.statements.enabled ? configuration.statements.timeOfDay : nil)
        }
    }

    /// What one sweep enqueued.
    public struct Report: Sendable, Equatable {
        /// New `reconcile` jobs.
        public var reconcile: Int
        /// New `close` jobs.
        public var close: Int
        /// New `reconcile` jobs for paid orders.
        public var paid: Int = 0
        /// New `refund` jobs for pending refunds whose job ended without settling them.
        public var refunds: Int = 0
        /// New `statement` jobs.
        public var statements: Int = 0
    }

    /// The store holding orders and jobs.
    public let store: any Store
    /// What to look for.
    public let policy: Policy
    /// Log lines.
    public let logger: Logger
    /// The clock.
    public let now: @Sendable () -> Date

    /// A sweeper from its parts.
    public init(
        store: any Store, policy: Policy, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.policy = policy
        self.logger = logger
        self.now = now
    }

    /// Sweeps every `policy.interval` until graceful shutdown.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let report = try await sweep()
                if report.reconcile + report.close + report.paid + report.refunds + report.statements > 0 {
                    logger.info(
                        "sweep enqueued jobs",
                        metadata: [
                            "reconcile": "\(report.reconcile)", "close": "\(report.close)", "reconcile_paid": "\(report.paid)",
                            "refund": "\(report.refunds)", "statement": "\(report.statements)",
                        ])
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
        return try await store.write { db in
            let orders = try db.ordersWithoutJobs(
                statuses: OrderStatus.unpaid, createdBefore: now.addingTimeInterval(-policy.schedule.first),
                liveKinds: [.reconcile, .close], deadKinds: [.close], limit: policy.batchSize)
            var report = Report(reconcile: 0, close: 0)
            for order in orders {
                switch try Self.enqueueNext(order, now: now, policy: policy, in: db) {
                case .reconcile: report.reconcile += 1
                case .close: report.close += 1
                default: break
                }
            }
            // Only orders young enough for another point of the schedule: so every order read gets a job, and a large
            // number of older paid orders cannot starve newer ones.
            if let lastAge = policy.paidSchedule.ages(upTo: policy.paidWindow).last {
                let paid = try db.paidOrdersWithoutJobs(
                    paidAfter: now.addingTimeInterval(-lastAge), paidBefore: now.addingTimeInterval(-policy.paidSchedule.first),
                    liveKinds: [.reconcile], limit: policy.batchSize)
                for order in paid where try Self.enqueueNextPaid(order, now: now, policy: policy, in: db) { report.paid += 1 }
            }
            // A refund whose job ended without settling it (a worker that did not know `refund` jobs, a pruned job):
            // a new job asks Alipay again, with the same out_request_no. A dead one waits for an operator's replay.
            for refund in try db.pendingRefundsWithoutJobs(createdBefore: now.addingTimeInterval(-policy.schedule.first), limit: policy.batchSize)
            where try db.enqueue(Refunder.job(for: refund, runAt: now)).inserted {
                report.refunds += 1
            }
            report.statements = try Self.enqueueStatements(now: now, policy: policy, in: db)
            return report
        }
    }

    /// Enqueues the check of each recent day's statement not checked yet: yesterday's once the China time of day has
    /// passed `statementsTimeOfDay`, the days before whenever they are missing (a worker that was down). One live job per
    /// day (its unique key), whatever the number of workers; a day whose job is dead waits for an operator's replay.
    static func enqueueStatements(now: Date, policy: Policy, in db: any StoreTransaction) throws -> Int {
        guard let timeOfDay = policy.statementsTimeOfDay else { return 0 }
        let chinaNow = RequestSigner.timestamp(now)
        let yesterdayReady = chinaNow.dropFirst(11).prefix(5) >= timeOfDay
        var unchecked: [String] = []
        for back in 1...max(1, policy.statementsCatchUpDays) where back > 1 || yesterdayReady {
            let day = ChinaTime.day(now.addingTimeInterval(-86_400 * Double(back)))
            if try db.statementCheck(billDate: day) == nil { unchecked.append(day) }
        }
        // Dead statement jobs are only looked for when a day lacks its check (every sweep, most days have theirs).
        guard !unchecked.isEmpty else { return 0 }
        let dead = Set(try db.jobs(state: .dead, kind: .statement, outTradeNo: nil, limit: 1000).compactMap(\.uniqueKey))
        var enqueued = 0
        for day in unchecked where !dead.contains(StatementCheck.jobKey(billDate: day)) {
            if try db.enqueue(StatementReconciler.job(billDate: day, runAt: now)).inserted { enqueued += 1 }
        }
        return enqueued
    }

    /// Enqueues the next query of a paid order on its schedule measured from the payment, while it is within the
    /// window; true when a job was added.
    static func enqueueNextPaid(_ order: Order, now: Date, policy: Policy, in db: any StoreTransaction) throws -> Bool {
        guard let paidAt = order.paidAt else { return false }
        let last = try db.latestJob(kind: .reconcile, outTradeNo: order.outTradeNo)
        // Only queries made after the payment count: the unpaid order's own schedule came before.
        let lastAge = last.map { max($0.runAt, $0.updatedAt).timeIntervalSince(paidAt) }.flatMap { $0 >= 0 ? $0 : nil }
        let nextAge = policy.paidSchedule.next(after: lastAge)
        guard nextAge <= policy.paidWindow else { return false }
        let job = NewJob(
            kind: .reconcile, uniqueKey: "reconcile:\(order.outTradeNo)", outTradeNo: order.outTradeNo,
            runAt: max(now, paidAt.addingTimeInterval(nextAge)))
        return try db.enqueue(job).inserted
    }

    /// Enqueues what comes next for an unpaid order without a live job: the next reconcile on the schedule, measured
    /// from when the previous one ran; or, once no query is left before the timeout, the close job, due at the timeout.
    static func enqueueNext(_ order: Order, now: Date, policy: Policy, in db: any StoreTransaction) throws -> JobKind? {
        let age = now.timeIntervalSince(order.createdAt)
        if age < policy.timeout {
            let last = try db.latestJob(kind: .reconcile, outTradeNo: order.outTradeNo)
            // From when the last query actually ran, so a worker that was down does not fire a burst of catch-up queries.
            let lastAge = last.map { max($0.runAt, $0.updatedAt).timeIntervalSince(order.createdAt) }
            let nextAge = policy.schedule.next(after: lastAge)
            if nextAge < policy.timeout {
                let job = NewJob(
                    kind: .reconcile, uniqueKey: "reconcile:\(order.outTradeNo)", outTradeNo: order.outTradeNo,
                    runAt: max(now, order.createdAt.addingTimeInterval(nextAge)))
                return try db.enqueue(job).inserted ? .reconcile : nil
            }
        }
        let job = NewJob(
            kind: .close, uniqueKey: "close:\(order.outTradeNo)", outTradeNo: order.outTradeNo,
            runAt: max(now, order.createdAt.addingTimeInterval(policy.timeout)))
        return try db.enqueue(job).inserted ? .close : nil
    }
}
