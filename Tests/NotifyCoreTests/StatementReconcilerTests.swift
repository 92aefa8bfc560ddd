import AlipayKit
import Foundation
import Logging
import ServiceLifecycle
import NotifyStore
import StoreTestSupport
import Testing

@testable import NotifyCore

/// The statement comparison on a real SQLite store, with the statement given directly; and the sweeper's schedule.
@Suite("Statement check")
struct StatementReconcilerTests {
    struct FixedSource: StatementSource {
        let statement: TradeStatement
        func statement(billDate: String) async throws -> TradeStatement { statement }
    }

    static let day = "2026-12-01"
    static let inDay = RequestSigner.date(fromTimestamp: "2026-12-01 10:00:00")!

    func row(_ outTradeNo: String, _ kind: StatementRow.Kind, _ fen: Int64, requestNo: String? = nil) -> StatementRow {
        StatementRow(
            line: 1, tradeNo: "T\(outTradeNo)", outTradeNo: outTradeNo, kind: kind, subject: nil, createdAt: nil, finishedAt: nil, amountFen: fen,
            refundRequestNo: requestNo)
    }

    func paid(_ fixture: WorkerFixture, _ number: String, fen: Int64, paidAt: Date? = inDay, status: OrderStatus = .tradeSuccess) async throws {
        try await fixture.orders.create(
            Order(outTradeNo: number, subject: "s", totalAmountFen: fen, status: status, createdAt: Self.inDay.addingTimeInterval(-60), paidAt: paidAt))
    }

    @Test("every kind of difference is found and stored; agreeing rows and other days are not reported")
    func everyKind() async throws {
        let fixture = try WorkerFixture()
        try await paid(fixture, "SAME", fen: 8888)
        try await paid(fixture, "ONLYHERE", fen: 100)
        try await paid(fixture, "AMOUNT", fen: 200)
        try await paid(fixture, "UNPAID", fen: 300, paidAt: nil, status: .waitBuyerPay)
        try await paid(fixture, "REFUND", fen: 1000)
        try await paid(fixture, "OTHERDAY", fen: 50, paidAt: Self.inDay.addingTimeInterval(86_400))
        try await fixture.database.write { tx in
            _ = try tx.insertRefund(
                Refund(outTradeNo: "REFUND", outRequestNo: "R1", amountFen: 300, status: .succeeded, refundedAt: Self.inDay.addingTimeInterval(3600)))
        }
        let statement = TradeStatement(
            preamble: [], summary: [],
            rows: [
                row("SAME", .payment, 8888), row("NOTHERE", .payment, 700), row("AMOUNT", .payment, 100), row("UNPAID", .payment, 300),
                row("REFUND", .payment, 1000), row("REFUND", .refund, -500, requestNo: "R1"), row("SAME", .other("其他"), 1),
            ])
        // A whole second: every engine stores it exactly, so the check reads back equal.
        let reconciler = StatementReconciler(
            store: fixture.database, source: FixedSource(statement: statement), now: { Date(timeIntervalSince1970: 1_764_547_200) })
        let check = try await reconciler.reconcile(billDate: Self.day)
        let found: [String] = check.differences.map { "\($0.kind.rawValue) \($0.outTradeNo)" }.sorted()
        let expected: [String] = [
            "amount_differs AMOUNT", "missing_at_alipay ONLYHERE", "missing_here NOTHERE", "refund_differs REFUND", "status_differs UNPAID",
        ]
        #expect(found == expected, "\(check.differences)")
        #expect(check.rows == 7)
        #expect(try await fixture.database.read { db in try db.statementCheck(billDate: Self.day) } == check)
        // Checking again replaces the day's check.
        let clean = StatementReconciler(
            store: fixture.database, source: FixedSource(statement: TradeStatement(preamble: [], summary: [], rows: [])))
        #expect(try await clean.reconcile(billDate: "2026-11-30").differences.isEmpty)
        #expect(try await fixture.database.read { db in try db.statementChecks(limit: 10) }.map(\.billDate) == ["2026-12-01", "2026-11-30"])
    }

    @Test("the sweeper checks yesterday from statements.timeOfDay (China time), catches up missed days, once per day")
    func schedule() async throws {
        let fixture = try WorkerFixture()
        var configuration = fixture.configuration
        configuration.statements.enabled = true
        configuration.statements.timeOfDay = "10:30"
        let clock = TestClock(RequestSigner.date(fromTimestamp: "2026-12-05 09:00:00")!)
        let sweeper = Sweeper(store: fixture.database, policy: Sweeper.Policy(configuration), logger: Logger(label: "test"), now: { clock.now })
        // Before 10:30: the days before yesterday only.
        #expect(try await sweeper.sweep().statements == 2)
        #expect(try await sweeper.sweep().statements == 0, "one live job per day, however many workers sweep")
        clock.set(RequestSigner.date(fromTimestamp: "2026-12-05 10:31:00")!)
        #expect(try await sweeper.sweep().statements == 1)
        let keys = try await fixture.database.read { db in try db.jobs(state: nil, kind: .statement, outTradeNo: nil, limit: 10) }.compactMap(\.uniqueKey)
        #expect(Set(keys) == ["statement:2026-12-04", "statement:2026-12-03", "statement:2026-12-02"])
        // A checked day gets no new job.
        try await fixture.database.write { tx in
            try tx.saveStatementCheck(StatementCheck(billDate: "2026-12-01", checkedAt: Date(), rows: 0, differences: []))
        }
        clock.set(RequestSigner.date(fromTimestamp: "2026-12-02 11:00:00")!)
        #expect(try await sweeper.sweep().statements == 2, "12-01 is checked already: only 11-30 and 11-29")
        // Off: nothing.
        configuration.statements.enabled = false
        let off = Sweeper(store: fixture.database, policy: Sweeper.Policy(configuration), logger: Logger(label: "test"), now: { clock.now })
        clock.set(RequestSigner.date(fromTimestamp: "2026-12-20 11:00:00")!)
        #expect(try await off.sweep().statements == 0)
    }

    @Test("a runner without a statement source leaves statement jobs to one that has it (they stay pending, not dead)")
    func runnerWithoutSourceDoesNotClaimStatements() async throws {
        let fixture = try WorkerFixture()  // a fake gateway: no Alipay client, so no statement source
        #expect(fixture.runner.statements == nil)
        #expect(!fixture.runner.runnableKinds.contains(.statement) && fixture.runner.runnableKinds.contains(.refund))
        // A statement job, and after it a job this runner does run: once that one has run, the worker has claimed
        // with the statement job due.
        let probe = try await fixture.database.write { tx -> Job in
            _ = try tx.enqueue(StatementReconciler.job(billDate: Self.day, runAt: Date()))
            return try tx.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:NONE", outTradeNo: "NONE", runAt: Date())).job
        }
        let worker = Worker(
            runner: fixture.runner, store: fixture.database, owner: "no-statements",
            settings: Worker.Settings(concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(5)), logger: Logger(label: "test"))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [worker], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        try await waitUntil("the probe job to run") { try await fixture.job(probe.id).state != .pending }
        await group.triggerGracefulShutdown()
        try await running.value
        let job = try #require(try await fixture.database.read { db in try db.jobs(state: nil, kind: .statement, outTradeNo: nil, limit: 1) }.first)
        #expect(job.state == .pending && job.attempts == 0)
    }

    struct RefusingSource: StatementSource {
        func statement(billDate: String) async throws -> TradeStatement {
            Issue.record("the statement of \(billDate) was downloaded although the day has its check")
            throw JobFailure.permanent("not expected")
        }
    }

    @Test("a statement job for a day already checked completes without downloading it (a second host's late enqueue)")
    func jobForACheckedDaySkips() async throws {
        let fixture = try WorkerFixture()
        let first = StatementCheck(billDate: Self.day, checkedAt: Date(timeIntervalSince1970: 1_764_547_200), rows: 4, differences: [])
        try await fixture.database.write { tx in
            try tx.saveStatementCheck(first)
            _ = try tx.enqueue(StatementReconciler.job(billDate: Self.day, runAt: Date()))
        }
        let job = try #require(try await fixture.claim(kinds: [.statement]).first)
        let reconciler = StatementReconciler(store: fixture.database, source: RefusingSource())
        #expect(try await reconciler.run(billDate: Self.day, lease: try #require(job.lease)) == nil)
        #expect(try await fixture.job(job.id).state == .done)
        #expect(try await fixture.database.read { db in try db.statementCheck(billDate: Self.day) } == first)
    }
}
