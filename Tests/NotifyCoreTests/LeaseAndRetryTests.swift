import AlipayKit
import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// Invariant 8 and the retry policy: leases, fencing, backoff, dead letters, replay.
@Suite("Leases, retries, replay")
struct LeaseAndRetryTests {
    @Test("invariant 8: an expired lease is claimed again; the old owner is fenced and its order change rolled back; applied once")
    func leaseExpiry() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("L1", fen: 100)
        let job = try await fixture.notify(TestAlipay.notification("L1", .tradeSuccess, total: "1.00"))

        let first = try #require(try await fixture.claim(owner: "worker-a", lease: .seconds(30)).first)
        #expect(try await fixture.claim(owner: "worker-b").isEmpty, "a live lease is not claimable")
        // worker-a stalls past its lease; worker-b takes the job over.
        let second = try #require(try await fixture.claim(owner: "worker-b", after: 31).first)
        #expect(second.id == job.id && second.attempts == 2)

        // worker-a wakes up and applies: its transaction includes the order change and must roll back whole.
        let stale = await fixture.runner.run(first, owner: "worker-a")
        #expect(stale.outcome == .leaseLost)
        #expect(try await fixture.currentOrder("L1").status == .waitBuyerPay)
        #expect(try await fixture.transitions("L1").isEmpty)

        let fresh = await fixture.runner.run(second, owner: "worker-b")
        #expect(fresh.outcome == .applied)
        #expect(try await fixture.transitions("L1").count == 1)
        // Even a late duplicate run by the fenced owner cannot add anything.
        #expect(await fixture.runner.run(first, owner: "worker-a").outcome == .leaseLost)
        #expect(try await fixture.transitions("L1").count == 1)

        let history = try await fixture.queue.history(job.id!)
        #expect(history.map(\.outcome) == [.leaseExpired, .done])
        #expect(fixture.counter("alipay_notify_jobs_total", [("kind", "notification"), ("outcome", "lease_lost")]) == 2)
    }

    @Test("retryable failures go back to pending at now + backoff (capped), then dead when worker.maxAttempts is used up")
    func retryThenDead() async throws {
        let fixture = try WorkerFixture(maxAttempts: 3)
        try await fixture.order("B1", fen: 100, age: 600)
        fixture.gateway.onQuery { _ in TestAlipay.rawQuery("busy", httpStatus: 503) }
        let job = try await fixture.queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:B1", outTradeNo: "B1", runAt: fixture.clock.now)).job

        var delays: [TimeInterval] = []
        for attempt in 1...3 {
            let reports = try await fixture.drain()
            #expect(reports.count == 1)
            let stored = try await fixture.job(job.id)
            if attempt < 3 {
                #expect(reports.first?.outcome == .retry)
                #expect(stored.state == .pending && stored.attempts == attempt)
                #expect(stored.lastError?.contains("HTTP 503") == true)
                delays.append(stored.runAt.timeIntervalSince(fixture.clock.now))
                // Not due before its backoff.
                #expect(try await fixture.claim(after: delays.last! - 1).isEmpty)
                fixture.clock.advance(delays.last!)
            } else {
                #expect(reports.first?.outcome == .dead)
                #expect(stored.state == .dead)
                #expect(stored.lastError?.hasPrefix("gave up after 3 attempts") == true)
            }
        }
        // The fixture's jitter picks the ceiling: 5 s, then 10 s (base 5, doubling).
        #expect(delays.map { $0.rounded() } == [5, 10])
        #expect(try await fixture.currentOrder("B1").status == .waitBuyerPay)
    }

    @Test("a permanent failure (configuration error) goes dead at once with its reason")
    func permanent() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("P1", fen: 100, age: 600)
        fixture.gateway.onQuery { _ in
            TestAlipay.rawQuery(
                #"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#)
        }
        let job = try await fixture.queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:P1", outTradeNo: "P1", runAt: fixture.clock.now)).job
        let reports = try await fixture.drain()
        #expect(reports.map(\.outcome) == [.dead])
        let stored = try await fixture.job(job.id)
        #expect(stored.state == .dead && stored.attempts == 1)
        #expect(stored.lastError?.contains("configuration error") == true)
    }

    @Test("a job whose workers keep dying is dead once claimed more than worker.maxAttempts times")
    func crashLoop() async throws {
        let fixture = try WorkerFixture(maxAttempts: 2)
        try await fixture.order("K1", fen: 100)
        try await fixture.notify(TestAlipay.notification("K1", .tradeSuccess, total: "1.00"))
        _ = try await fixture.claim(owner: "a")
        _ = try await fixture.claim(owner: "b", after: 31)
        let third = try #require(try await fixture.claim(owner: "c", after: 62).first)
        let report = await fixture.runner.run(third, owner: "c")
        #expect(report.outcome == .dead)
        #expect(report.message.contains("claimed 3 times"))
        #expect(try await fixture.currentOrder("K1").status == .waitBuyerPay)
    }

    @Test("replay: a dead job comes back (attempts reset, history kept) and applies once the cause is fixed; replaying again changes nothing")
    func replay() async throws {
        let fixture = try WorkerFixture()
        // The order was created with a wrong amount: the notification goes to review.
        try await fixture.order("Y1", fen: 100)
        let report = try await fixture.deliver(TestAlipay.notification("Y1", .tradeSuccess, total: "2.00"))
        #expect(report.outcome == .review)

        // The operator corrects the order, then replays.
        try await fixture.database.pool.write { db in
            try db.execute(sql: "UPDATE orders SET total_amount_fen = 200, needs_review = 0, review_reason = NULL WHERE out_trade_no = 'Y1'")
        }
        let dryRun = try await fixture.queue.replay(.dead, dryRun: true)
        #expect(dryRun.map(\.id) == [report.jobId] && dryRun.first?.state == .dead)
        let replayed = try await fixture.queue.replay(.dead, dryRun: false)
        #expect(replayed.first?.state == .pending && replayed.first?.attempts == 0)
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("Y1").status == .tradeSuccess)

        // Replaying the applied job is harmless.
        _ = try await fixture.queue.replay(.ids([report.jobId]), dryRun: false)
        #expect(try await fixture.drain().map(\.outcome) == [.unchanged])
        #expect(try await fixture.transitions("Y1").count == 1)
        let history = try await fixture.queue.history(report.jobId)
        #expect(history.map(\.outcome) == [.dead, .replayed, .done, .replayed, .done])
    }
}
