import AlipayKit
import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// `JobRunner.runBatch`: many notification jobs in one transaction must end exactly as they would one by one.
@Suite("Applying notifications in batches")
struct BatchApplyTests {
    /// Orders and notifications covering every outcome: a payment, its duplicate, FINISHED before SUCCESS on one
    /// order inside the same batch, an amount mismatch, a forged body, an unknown order, a foreign app_id.
    func seedMixedBatch(_ fixture: WorkerFixture) async throws {
        try await fixture.order("A", fen: 8888)
        try await fixture.order("B", fen: 500)
        try await fixture.order("C", fen: 8888)
        try await fixture.order("D", fen: 100)
        try await fixture.order("F", fen: 100)
        try await fixture.notify(TestAlipay.notification("A", .tradeSuccess, total: "88.88", notifyId: "a-1"))
        try await fixture.notify(TestAlipay.notification("A", .tradeSuccess, total: "88.88", notifyId: "a-2"))
        try await fixture.notify(TestAlipay.notification("B", .tradeFinished, total: "5.00", notifyId: "b-1"))
        try await fixture.notify(TestAlipay.notification("B", .tradeSuccess, total: "5.00", notifyId: "b-2"))
        try await fixture.notify(TestAlipay.notification("C", .tradeSuccess, total: "0.01", notifyId: "c-1"))
        try await fixture.notify(TestAlipay.notification("D", .tradeSuccess, total: "1.00", notifyId: "d-1"), key: TestAlipay.forgerKey)
        try await fixture.notify(TestAlipay.notification("E", .tradeSuccess, total: "1.00", notifyId: "e-1"))
        try await fixture.notify(TestAlipay.notification("F", .tradeSuccess, total: "1.00", notifyId: "f-1", appId: "2021999999999999"))
    }

    /// What a fixture's orders and queue look like, in a form two runs can be compared by.
    func snapshot(_ fixture: WorkerFixture) async throws -> [String] {
        var lines: [String] = []
        for outTradeNo in ["A", "B", "C", "D", "F"] {
            let order = try await fixture.currentOrder(outTradeNo)
            let events = try await fixture.transitions(outTradeNo).map { "\($0.fromStatus?.rawValue ?? "-")>\($0.toStatus)/\($0.source)" }
            lines.append("\(outTradeNo) \(order.status) review=\(order.needsReview) refunded=\(order.refundedFen) \(events)")
        }
        let jobs = try await fixture.queue.list(state: nil, kind: nil, limit: 100).sorted { $0.id! < $1.id! }
        lines += jobs.map { "\($0.notifyId ?? "?") \($0.state.rawValue) \($0.lastError?.prefix(20) ?? "")" }
        return lines
    }

    @Test("one batch gives exactly the outcomes and the database of running the same jobs one by one")
    func sameAsOneByOne() async throws {
        let single = try WorkerFixture()
        try await seedMixedBatch(single)
        let oneByOne = try await single.drain()

        let batched = try WorkerFixture()
        try await seedMixedBatch(batched)
        let jobs = try await batched.claim()
        #expect(jobs.count == 8)
        let reports = await batched.runner.runBatch(jobs, owner: "test-worker")

        #expect(reports.map(\.outcome) == [.applied, .unchanged, .applied, .unchanged, .review, .dead, .review, .review])
        #expect(reports.map(\.outcome) == oneByOne.map(\.outcome))
        #expect(try await snapshot(batched) == snapshot(single))
        #expect(try await batched.currentOrder("B").status == .tradeFinished)
        #expect(try await batched.currentOrder("C").needsReview)
        #expect(try await batched.queue.stats() == QueueStats(done: 4, dead: 4))
        #expect(batched.counter("alipay_notify_reviews_total", [("reason", "amount_mismatch")]) == 1)
        #expect(batched.counter("alipay_notify_order_transitions_total", [("to", "TRADE_SUCCESS"), ("source", "notification")]) == 1)
    }

    @Test("a job that fails mid-apply is rolled back alone (order untouched) and retried; the rest of the batch commits")
    func failingJobRolledBackAlone() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("X", fen: 100)
        try await fixture.order("Y", fen: 100)
        try await fixture.notify(TestAlipay.notification("X", .tradeSuccess, total: "1.00"))
        try await fixture.notify(TestAlipay.notification("Y", .tradeSuccess, total: "1.00"))
        // The order row of X is updated first, then its event insert fails: the savepoint must undo the update too.
        try await fixture.database.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER test_fail_x BEFORE INSERT ON order_events WHEN NEW.out_trade_no = 'X' AND NEW.source = 'notification'
                    BEGIN SELECT RAISE(ABORT, 'injected event failure'); END
                    """)
        }

        let reports = await fixture.runner.runBatch(try await fixture.claim(), owner: "test-worker")
        #expect(reports.map(\.outcome) == [.retry, .applied])
        let x = try await fixture.currentOrder("X")
        #expect(x.status == .waitBuyerPay && x.paidAt == nil && x.tradeNo == nil)
        #expect(try await fixture.transitions("X").isEmpty)
        let retried = try await fixture.job(reports[0].jobId)
        #expect(retried.state == .pending && retried.lastError?.contains("injected event failure") == true)
        #expect(try await fixture.currentOrder("Y").status == .tradeSuccess)

        // Once the cause is gone the retry applies it, once.
        try await fixture.database.pool.write { db in try db.execute(sql: "DROP TRIGGER test_fail_x") }
        fixture.clock.advance(3600)
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.transitions("X").count == 1)
    }

    @Test("claimed inside the apply (SQLite's way): a job that fails is rolled back alone, the others commit, none stays running")
    func failingCandidateRolledBackAlone() async throws {
        let fixture = try WorkerFixture()
        for name in ["X", "Y", "Z"] {
            try await fixture.order(name, fen: 100)
            try await fixture.notify(TestAlipay.notification(name, .tradeSuccess, total: "1.00"))
        }
        try await fixture.database.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER test_fail_y BEFORE INSERT ON order_events WHEN NEW.out_trade_no = 'Y' AND NEW.source = 'notification'
                    BEGIN SELECT RAISE(ABORT, 'injected event failure'); END
                    """)
        }
        let now = fixture.clock.now
        let candidates = try await fixture.database.read { db in try db.claimableJobs(kinds: [.notification], now: now, limit: 10) }
        #expect(candidates.count == 3 && candidates.allSatisfy { $0.state == .pending })
        let reports = await fixture.runner.runCandidates(candidates, owner: "test-worker", lease: .seconds(30))
        #expect(reports.map(\.outTradeNo) == ["X", "Y", "Z"])
        #expect(reports.map(\.outcome) == [.applied, .retry, .applied])
        #expect(reports.map(\.attempt) == [1, 1, 1])
        #expect(try await fixture.currentOrder("Y").status == .waitBuyerPay)
        #expect(try await fixture.transitions("Y").isEmpty)
        #expect(try await fixture.currentOrder("X").status == .tradeSuccess)
        #expect(try await fixture.currentOrder("Z").status == .tradeSuccess)
        #expect(try await fixture.queue.stats() == QueueStats(pending: 1, done: 2), "claimed and finished in one transaction")
        // Chosen again later, by another pass: nothing left to claim twice.
        #expect(await fixture.runner.runCandidates(candidates, owner: "test-worker", lease: .seconds(30)).isEmpty)
    }

    @Test("when the batch cannot commit as a whole nothing of it stays, and the jobs run one by one")
    func wholeBatchFailsThenOneByOne() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("X", fen: 100)
        try await fixture.order("Y", fen: 100)
        try await fixture.notify(TestAlipay.notification("X", .tradeSuccess, total: "1.00"))
        try await fixture.notify(TestAlipay.notification("Y", .tradeSuccess, total: "1.00"))
        // X fails, and recording its failure fails too: the batch's transaction cannot commit (like a full disk).
        try await fixture.database.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER test_fail_x BEFORE INSERT ON order_events WHEN NEW.out_trade_no = 'X'
                    BEGIN SELECT RAISE(ABORT, 'injected event failure'); END;
                    CREATE TRIGGER test_fail_record BEFORE INSERT ON job_attempts WHEN NEW.error LIKE '%injected event failure%'
                    BEGIN SELECT RAISE(ABORT, 'injected record failure'); END;
                    """)
        }

        let jobs = try await fixture.claim()
        let reports = await fixture.runner.runBatch(jobs, owner: "test-worker")
        // One by one: Y applies in its own transaction (exactly once: the batch's first try was rolled back);
        // X cannot record its failure and stays leased until its lease ends.
        #expect(reports.map(\.outcome) == [.leaseLost, .applied])
        #expect(try await fixture.transitions("Y").count == 1)
        #expect(try await fixture.currentOrder("X").status == .waitBuyerPay)
        #expect(try await fixture.job(jobs[0].id).state == .running)

        try await fixture.database.pool.write { db in try db.execute(sql: "DROP TRIGGER test_fail_x; DROP TRIGGER test_fail_record") }
        let later = try await fixture.claim(after: 31)
        #expect(later.map(\.id) == [jobs[0].id])
        #expect(await fixture.runner.runBatch(later, owner: "test-worker").map(\.outcome) == [.applied])
        #expect(try await fixture.transitions("X").count == 1)
    }

    @Test("a job whose lease was taken over is fenced inside the batch; the others commit; the new owner applies it once")
    func leaseTakenOver() async throws {
        let fixture = try WorkerFixture()
        for name in ["L1", "L2", "L3"] {
            try await fixture.order(name, fen: 100)
            try await fixture.notify(TestAlipay.notification(name, .tradeSuccess, total: "1.00"))
        }
        let mine = try await fixture.claim(owner: "slow", lease: .seconds(10))
        let stolen = try await fixture.claim(owner: "fast", limit: 1, after: 11)
        #expect(stolen.map(\.id) == [mine[0].id])

        let reports = await fixture.runner.runBatch(mine, owner: "slow")
        #expect(reports.map(\.outcome) == [.leaseLost, .applied, .applied])
        #expect(try await fixture.transitions("L1").isEmpty, "the fenced job's order change was rolled back")

        #expect(await fixture.runner.runBatch(stolen, owner: "fast").map(\.outcome) == [.applied])
        for name in ["L1", "L2", "L3"] {
            #expect(try await fixture.transitions(name).count == 1)
        }
        #expect(try await fixture.queue.stats() == QueueStats(done: 3))
    }
}
