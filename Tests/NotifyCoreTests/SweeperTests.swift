import Foundation
import GRDB
import Logging
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

@Suite("Sweeper")
struct SweeperTests {
    func sweeper(_ fixture: WorkerFixture, timeoutMinutes: Int = 30) -> Sweeper {
        var configuration = fixture.configuration
        configuration.ordersTimeoutMinutes = timeoutMinutes
        let clock = fixture.clock
        return Sweeper(
            store: fixture.database, policy: Sweeper.Policy(configuration), logger: Logger(label: "test"),
            now: { clock.now })
    }

    func jobs(_ fixture: WorkerFixture, _ outTradeNo: String) async throws -> [Job] {
        try await fixture.database.read { db in try db.jobs(state: nil, kind: nil, outTradeNo: outTradeNo, limit: 1000).reversed() }
    }

    @Test("the schedule decays: 2 min, 5 min, 10 min, 20 min, 40 min for reconcileAfter = 120 s")
    func schedule() {
        let schedule = ReconcileSchedule(first: 120)
        #expect(schedule.ages(upTo: 3600) == [120, 300, 600, 1200, 2400])
        #expect(schedule.next(after: nil) == 120)
        #expect(schedule.next(after: 60) == 120)
        #expect(schedule.next(after: 130) == 300)
        #expect(schedule.next(after: 300) == 600)
        #expect(schedule.next(after: 1500) == 2400)
    }

    @Test("young and paid orders are left alone; an old unpaid order gets one reconcile job however often the sweep runs")
    func noPileUp() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("YOUNG", fen: 100, age: 60)
        try await fixture.order("OLD", fen: 100, age: 150)
        try await fixture.order("PAID", fen: 100, status: .tradeSuccess, age: 150)
        let sweeper = sweeper(fixture)
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 1, close: 0))
        for _ in 0..<5 { #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 0)) }
        #expect(try await jobs(fixture, "YOUNG").isEmpty)
        #expect(try await jobs(fixture, "PAID").isEmpty)
        let old = try await jobs(fixture, "OLD")
        #expect(old.count == 1 && old.first?.kind == .reconcile && old.first?.uniqueKey == "reconcile:OLD")
    }

    @Test("after a reconcile finishes, the next one waits for the next point of the schedule")
    func decaying() async throws {
        let fixture = try WorkerFixture()
        let order = try await fixture.order("D1", fen: 100, age: 121)
        let sweeper = sweeper(fixture, timeoutMinutes: 60)
        var runAges: [Double] = []
        for _ in 0..<4 {
            try await sweeper.sweep()
            let pending = try #require(try await jobs(fixture, "D1").last)
            #expect(pending.state == .pending)
            let age = pending.runAt.timeIntervalSince(order.createdAt).rounded()
            runAges.append(age)
            fixture.clock.set(max(fixture.clock.now, pending.runAt))
            #expect(try await fixture.drain().map(\.outcome) == [.unchanged])  // TRADE_NOT_EXIST: still waiting
            try await sweeper.sweep()
            try await sweeper.sweep()
            #expect(try await jobs(fixture, "D1").filter { $0.state == .pending }.count == 1)
        }
        #expect(runAges == [121, 300, 600, 1200])
        #expect(fixture.gateway.queries.count == 4)
    }

    @Test("past orders.timeoutMinutes an unpaid order gets one close job, and the worker closes it")
    func timeout() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("T1", fen: 100, age: 31 * 60)
        let sweeper = sweeper(fixture)
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 1))
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 0))
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("T1").status == .tradeClosed)
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 0))
    }

    @Test("after the last query before the timeout, the close job is enqueued ahead, due exactly at the timeout")
    func closeAhead() async throws {
        let fixture = try WorkerFixture()
        let order = try await fixture.order("A1", fen: 100, age: 21 * 60)
        let sweeper = sweeper(fixture)
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 1, close: 0))
        #expect(try await fixture.drain().map(\.outcome) == [.unchanged])
        // The next point (40 min) is past the 30-minute timeout: the close job is next.
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 1))
        let close = try #require(try await jobs(fixture, "A1").last)
        #expect(close.kind == .close && close.state == .pending)
        #expect(close.runAt.timeIntervalSince(order.createdAt).rounded() == 1800)
        #expect(try await fixture.drain().isEmpty, "not due before the timeout")
        fixture.clock.set(close.runAt)
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("A1").status == .tradeClosed)
    }

    @Test("a dead close job is left for an operator: sweeps do not enqueue another")
    func deadClose() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("E1", fen: 100, age: 31 * 60)
        fixture.gateway.onQuery { _ in .configurationError("40002 isv.invalid-app-id") }
        let sweeper = sweeper(fixture)
        #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 1))
        #expect(try await fixture.drain().map(\.outcome) == [.dead])
        for _ in 0..<3 { #expect(try await sweeper.sweep() == Sweeper.Report(reconcile: 0, close: 0)) }
        #expect(try await jobs(fixture, "E1").count == 1)
    }

    @Test("paid orders are queried on the decaying schedule from the payment, within reconcilePaidForHours; TRADE_CLOSED closes one as refunded")
    func paidOrdersAreQueried() async throws {
        let fixture = try WorkerFixture()
        let now = fixture.clock.now
        for (number, paidAgo) in [("PAID", 3700.0), ("YOUNG", 60.0), ("OLD", 200_000.0)] {
            try await fixture.orders.create(
                Order(
                    outTradeNo: number, subject: "x", totalAmountFen: 8888, status: .tradeSuccess, createdAt: now.addingTimeInterval(-paidAgo - 60),
                    paidAt: now.addingTimeInterval(-paidAgo)))
        }
        var configuration = fixture.configuration
        configuration.worker.reconcilePaidAfterSeconds = 3600
        configuration.worker.reconcilePaidForHours = 24
        let clock = fixture.clock
        let sweeper = Sweeper(store: fixture.database, policy: Sweeper.Policy(configuration), logger: Logger(label: "test"), now: { clock.now })
        #expect(try await sweeper.sweep().paid == 1)
        #expect(try await sweeper.sweep().paid == 0, "one live job per order")
        #expect(try await jobs(fixture, "PAID").map(\.kind) == [.reconcile])
        #expect(try await jobs(fixture, "OLD").isEmpty)
        #expect(try await jobs(fixture, "YOUNG").isEmpty)
        // Alipay says the trade closed: the lost notification of a full refund.
        fixture.gateway.onQuery { outTradeNo in TestAlipay.queryAnswer(outTradeNo, .tradeClosed, total: "88.88") }
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        let order = try await fixture.currentOrder("PAID")
        #expect(order.status == .tradeClosed && order.refundedFen == 8888)
        // Closed orders are no longer queried.
        #expect(try await sweeper.sweep().paid == 0)

        // With reconcilePaidForHours = 0, paid orders are never queried.
        configuration.worker.reconcilePaidForHours = 0
        let off = Sweeper(store: fixture.database, policy: Sweeper.Policy(configuration), logger: Logger(label: "test"), now: { clock.now.addingTimeInterval(7200) })
        #expect(try await off.sweep().paid == 0)
    }

    @Test("a pending refund whose job ended without settling it gets a new refund job; a dead one waits for an operator")
    func pendingRefundsGetAJob() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("P1", fen: 10_000, status: .tradeSuccess)
        let old = fixture.clock.now.addingTimeInterval(-3600)
        try await fixture.database.write { tx in
            _ = try tx.insertRefund(Refund(outTradeNo: "P1", outRequestNo: "R1", amountFen: 100, createdAt: old))
        }
        let sweeper = sweeper(fixture)
        #expect(try await sweeper.sweep().refunds == 1)
        #expect(try await sweeper.sweep().refunds == 0)
        let job = try #require(try await jobs(fixture, "P1").first)
        #expect(job.kind == .refund && job.uniqueKey == Refund.jobKey(outTradeNo: "P1", outRequestNo: "R1"))
        #expect(Refunder.Payload.decoded(job.payload)?.outRequestNo == "R1")
    }
}
