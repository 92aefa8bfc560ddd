import AlipayKit
import Foundation
import GRDB
import Logging
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import ServiceLifecycle
import Synchronization
import Testing

@testable import NotifyCore

/// Waits until `condition` holds, polling the database-backed state; fails after `timeout`.
func waitUntil(
    _ what: String, timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw FixtureError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

@Suite("Worker service")
struct WorkerServiceTests {
    static let quiet: Logger = {
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        return logger
    }()

    /// `count` unpaid orders of 1.00 (`prefix` + index), each with its signed TRADE_SUCCESS notification queued.
    func queuePayments(_ fixture: WorkerFixture, prefix: String, count: Int) async throws {
        let now = fixture.clock.now
        try await fixture.database.write { db in
            for index in 0..<count {
                try db.insertOrder(Order(outTradeNo: "\(prefix)\(index)", subject: "n", totalAmountFen: 100, status: .waitBuyerPay, createdAt: now))
            }
        }
        for index in 0..<count {
            try await fixture.notify(TestAlipay.notification("\(prefix)\(index)", .tradeSuccess, total: "1.00"))
        }
    }

    /// The payment and 40 cumulative refunds of one order, delivered in shuffled order, duplicates included.
    func enqueueRefundStorm(_ fixture: WorkerFixture, _ outTradeNo: String) async throws -> Int64 {
        try await fixture.order(outTradeNo, fen: 100_000)
        var notifications = [TestAlipay.notification(outTradeNo, .tradeSuccess, total: "1000.00")]
        for step in 1...40 {
            let refund = Amount(fen: Int64(step) * 1_000).description
            notifications.append(TestAlipay.notification(outTradeNo, .tradeSuccess, total: "1000.00", refundFee: refund))
            if step % 5 == 0 {
                notifications.append(TestAlipay.notification(outTradeNo, .tradeSuccess, total: "1000.00", refundFee: refund))
            }
        }
        var generator = SplitMix64(seed: 42)
        notifications.shuffle(using: &generator)
        for parameters in notifications { try await fixture.notify(parameters) }
        return 40_000
    }

    /// What every run on one order must leave behind, whatever the interleaving.
    func expectConsistent(_ fixture: WorkerFixture, _ outTradeNo: String, maxRefund: Int64) async throws {
        let order = try await fixture.currentOrder(outTradeNo)
        #expect(order.status == .tradeSuccess)
        #expect(order.refundedFen == maxRefund, "a lost update would leave a smaller refund")
        let events = try await fixture.transitions(outTradeNo)
        #expect(events.filter { $0.fromStatus == .waitBuyerPay }.count == 1, "paid exactly once")
        // Every refund event raised the amount: refunds in the event log strictly increase.
        let refunds = events.compactMap { event -> Int64? in
            guard let detail = event.detail, let range = detail.range(of: "partial refund: ") ?? detail.range(of: "; ") else { return nil }
            let amount = detail[range.upperBound...].prefix { $0 != " " }
            return (try? Amount(String(amount)))?.fen
        }
        #expect(zip(refunds, refunds.dropFirst()).allSatisfy { $0 < $1 }, "\(refunds)")
        let stats = try await fixture.queue.stats()
        let dead = try await fixture.queue.list(state: .dead, kind: nil, limit: 10).map { $0.lastError ?? "" }
        #expect(stats.pending == 0 && stats.running == 0 && stats.dead == 0, "dead: \(dead)")
    }

    @Test("no lost update: 49 jobs of one order run all at once by two runtimes on two connections, without the worker's lock")
    func concurrentRunners() async throws {
        let fixture = try WorkerFixture()
        let maxRefund = try await enqueueRefundStorm(fixture, "CC1")
        // A second process's view: its own database pool on the same file, its own runtime.
        let otherDatabase = try SQLiteStore(path: fixture.databasePath)
        let other = try WorkerRuntime(
            configuration: fixture.configuration, store: otherDatabase, gateway: fixture.gateway, logger: Self.quiet)

        for _ in 0..<5 {
            let jobs = try await fixture.claim(owner: "shared")
            if jobs.isEmpty { break }
            let reports = await withTaskGroup(of: JobReport.self) { group in
                for (index, job) in jobs.enumerated() {
                    let runner = index % 2 == 0 ? fixture.runner : other.runner
                    group.addTask { await runner.run(job, owner: "shared") }
                }
                return await group.reduce(into: [JobReport]()) { $0.append($1) }
            }
            #expect(reports.allSatisfy { $0.outcome != .dead && $0.outcome != .review }, "\(reports.map(\.message))")
            // Database-busy conflicts are retried: make them due again.
            fixture.clock.advance(3600)
        }
        try await expectConsistent(fixture, "CC1", maxRefund: maxRefund)
    }

    @Test("no lost update: two Worker services (concurrency 8 each, two connections) drain 49 jobs of one order")
    func concurrentWorkers() async throws {
        // Real time here (a moved clock would expire the leases of running jobs), with quick retries for busy conflicts.
        let fixture = try WorkerFixture(configure: {
            $0.worker.retryBaseSeconds = 0.01
            $0.worker.retryMaxSeconds = 0.05
            $0.worker.maxAttempts = 50
        })
        let maxRefund = try await enqueueRefundStorm(fixture, "CW1")
        let runtimes = try [fixture.database, SQLiteStore(path: fixture.databasePath)].map { database in
            try WorkerRuntime(configuration: fixture.configuration, store: database, gateway: fixture.gateway, logger: Self.quiet)
        }
        let ready = Mutex(0)
        let settings = Worker.Settings(concurrency: 8, lease: .seconds(30), pollInterval: .milliseconds(5))
        let workers = runtimes.enumerated().map { index, runtime in
            Worker(
                runner: runtime.runner, store: runtime.store, owner: "worker-\(index)", settings: settings, logger: Self.quiet,
                onReady: { ready.withLock { $0 += 1 } })
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: workers, logger: Self.quiet))
        let running = Task { try await group.run() }
        try await waitUntil("the queue to drain") {
            let stats = try await fixture.queue.stats()
            return stats.pending == 0 && stats.running == 0
        }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(ready.withLock { $0 } == 2)
        try await expectConsistent(fixture, "CW1", maxRefund: maxRefund)
    }

    @Test("worker.concurrency 1: a due reconcile job takes its turn between notification batches, not after the whole backlog")
    func reconcileNotStarvedByBatches() async throws {
        let fixture = try WorkerFixture()
        // Two full batches and a bit: without turns, the reconcile job would run only after all of them.
        let settings = Worker.Settings(concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(5))
        let count = 2 * settings.batchSize + 8
        try await queuePayments(fixture, prefix: "N", count: count)
        try await fixture.order("R1", fen: 100, age: 300)
        // The reconcile job finds R1 paid, so it writes an order event: event ids give the order in which jobs applied.
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "1.00") }
        let reconcile = try await fixture.queue.enqueue(
            NewJob(kind: .reconcile, uniqueKey: "reconcile:R1", outTradeNo: "R1", runAt: fixture.clock.now)
        ).job

        let worker = Worker(
            runner: fixture.runner, store: fixture.database, owner: "single", settings: settings, logger: Self.quiet)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [worker], logger: Self.quiet))
        let running = Task { try await group.run() }
        try await waitUntil("the queue to drain") {
            let stats = try await fixture.queue.stats()
            return stats.pending == 0 && stats.running == 0
        }
        await group.triggerGracefulShutdown()
        try await running.value

        // order_events ids follow the order in which the jobs' transactions applied.
        #expect(try await fixture.job(reconcile.id).state == .done)
        let (reconcileDone, notificationsDone) = try await fixture.database.pool.read { db in
            let reconcileDone = try Int64.fetchOne(
                db, sql: "SELECT id FROM order_events WHERE out_trade_no = 'R1' AND source = 'query'")
            let finished = try Int64.fetchAll(
                db, sql: "SELECT id FROM order_events WHERE source = 'notification' AND out_trade_no LIKE 'N%' ORDER BY id")
            return (reconcileDone, finished)
        }
        #expect(notificationsDone.count == count)
        let done = try #require(reconcileDone)
        #expect(notificationsDone.filter { $0 > done }.count >= settings.batchSize, "at least the last full batch ran after the reconcile job")
    }

    @Test("the worker reports ready only once the database takes writes, though its claims so far may all have been reads")
    func readyOnlyWhenWritable() async throws {
        let fixture = try WorkerFixture()
        let store = ObservingStore(fixture.database)
        store.setWritable(false)
        let ready = Mutex(false)
        let worker = Worker(
            runner: fixture.runner, store: store, owner: "ready-check",
            settings: Worker.Settings(concurrency: 8, lease: .seconds(30), pollInterval: .milliseconds(5)), logger: Self.quiet,
            onReady: { ready.withLock { $0 = true } })
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [worker], logger: Self.quiet))
        let running = Task { try await group.run() }
        // The loop asks every 5 ms; the generous bound is for a full suite's load (twice it ran past 20 s there).
        try await waitUntil("the worker to ask twice whether the database takes writes", timeout: .seconds(60)) { store.writabilityChecks >= 2 }
        #expect(!ready.withLock { $0 }, "READY=1 while the database refuses writes")
        store.setWritable(true)
        try await waitUntil("the worker to report ready") { ready.withLock { $0 } }
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("graceful shutdown: stops claiming, the running job finishes, a claimed job that had not started goes back to pending")
    func gracefulShutdown() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("G1", fen: 100, age: 300)
        let gate = Gate()
        defer { gate.open() }  // never leave the held call waiting, even when the test fails early
        fixture.gateway.onQuery { outTradeNo in
            await gate.wait()
            return TestAlipay.queryAnswer(outTradeNo, .tradeSuccess, total: "1.00")
        }
        // Two jobs of the same order that both start with trade.query: whichever takes the order's lock first blocks in
        // the gateway, the other waits for the lock and has not started when the shutdown comes.
        var jobs: [Job] = []
        for kind in [JobKind.reconcile, .close] {
            jobs.append(
                try await fixture.queue.enqueue(
                    NewJob(kind: kind, uniqueKey: "\(kind.rawValue):G1", outTradeNo: "G1", runAt: fixture.clock.now)
                ).job)
        }

        let worker = Worker(
            runner: fixture.runner, store: fixture.database, owner: "shutdown-test",
            settings: Worker.Settings(concurrency: 2, lease: .seconds(30), pollInterval: .milliseconds(5)), logger: Self.quiet)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [worker], logger: Self.quiet))
        let running = Task { try await group.run() }
        try await waitUntil("the query to start") { gate.arrivals > 0 }
        #expect(try await fixture.queue.stats().running == 2)

        await group.triggerGracefulShutdown()
        gate.open()
        try await running.value

        let finished = try await [fixture.job(jobs[0].id), fixture.job(jobs[1].id)]
        #expect(finished.map(\.state).sorted { $0.rawValue < $1.rawValue } == [.done, .pending])
        #expect(try await fixture.currentOrder("G1").status == .tradeSuccess)
        let released = try #require(finished.first { $0.state == .pending })
        #expect(released.attempts == 0 && released.leaseOwner == nil)
        #expect(try await fixture.queue.history(released.id!).map(\.outcome) == [.released])
        #expect(fixture.gateway.queries == ["G1"], "the released job never reached the gateway")
        // The released job runs later, and changes nothing.
        #expect(try await fixture.drain().map(\.outcome) == [.unchanged])
    }
}
