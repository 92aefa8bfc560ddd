import Foundation
import NotifyStore
import StoreTestSupport
import Testing

/// The refund part of the store contract, on every engine: one request per number, and the store's own rule that the
/// refunds of an order that did not fail never add up to more than its amount.
@Suite("Store conformance: refunds")
struct RefundConformanceTests {
    static let at = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 600).rounded(.down))

    func paidOrder(_ number: String, fen: Int64 = 8888, paidAt: Date? = at) -> Order {
        Order(outTradeNo: number, subject: "refunds", totalAmountFen: fen, status: .tradeSuccess, createdAt: Self.at, paidAt: paidAt)
    }

    func refund(_ order: String, _ requestNo: String, fen: Int64, status: RefundStatus = .pending, at: Date = at) -> Refund {
        Refund(outTradeNo: order, outRequestNo: requestNo, amountFen: fen, reason: "test", status: status, createdAt: at)
    }

    func expectOverRefund(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("\(what): no error")
        } catch StoreError.overRefund {
        } catch {
            Issue.record("\(what): expected .overRefund, got \(error)")
        }
    }

    @Test("a request number is taken once per order; refunds that did not fail never exceed the amount; a failed one frees its part", arguments: Engine.allCases)
    func numbersAndTheAmountRule(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(paidOrder("P1"))
            try await store.insertOrder(paidOrder("P2"))
            let first = try await store.write { tx in try tx.insertRefund(refund("P1", "R1", fen: 5000)) }
            #expect(first.id != nil)
            do {
                try await store.write { tx in _ = try tx.insertRefund(refund("P1", "R1", fen: 5000)) }
                Issue.record("a taken number was accepted")
            } catch StoreError.duplicate {}
            // Another order may use the same number.
            try await store.write { tx in _ = try tx.insertRefund(refund("P2", "R1", fen: 100)) }
            await expectOverRefund("5000 + 4000 of 8888") {
                try await store.write { tx in _ = try tx.insertRefund(refund("P1", "R2", fen: 4000)) }
            }
            // The refused write left nothing; exactly the rest fits, a succeeded record counts like a pending one.
            try await store.write { tx in _ = try tx.insertRefund(refund("P1", "R2", fen: 3888, status: .succeeded)) }
            await expectOverRefund("one fen more") {
                try await store.write { tx in _ = try tx.insertRefund(refund("P1", "R3", fen: 1)) }
            }
            // A failed request no longer counts; a failed record can always be written.
            let settled = try await store.write { tx in
                try tx.settleRefund(outTradeNo: "P1", outRequestNo: "R1", RefundSettlement(status: .failed, failure: "ACQ.SELLER_BALANCE_NOT_ENOUGH: x"), now: Date())
            }
            #expect(settled)
            try await store.write { tx in
                _ = try tx.insertRefund(refund("P1", "R3", fen: 5000))
                _ = try tx.insertRefund(refund("P1", "R4", fen: 8888, status: .failed))
            }
            let refunds = try await store.read { db in try db.refunds("P1") }
            #expect(refunds.map(\.outRequestNo) == ["R1", "R2", "R3", "R4"])
            #expect(refunds.map(\.status) == [.failed, .succeeded, .pending, .failed])
            #expect(refunds.filter { $0.status != .failed }.map(\.amountFen).reduce(0, +) == 8888)
            #expect(refunds[0].failure == "ACQ.SELLER_BALANCE_NOT_ENOUGH: x")
        }
    }

    @Test("eight writers asking for a quarter each of one order at once: exactly four are recorded", arguments: Engine.allCases)
    func concurrentRefundsOfOneOrder(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(paidOrder("P1", fen: 10_000))
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        do {
                            try await store.write { tx in _ = try tx.insertRefund(refund("P1", "Q\(index)", fen: 2500)) }
                            return true
                        } catch StoreError.overRefund {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 4)
            let total = try await store.read { db in try db.refunds("P1").map(\.amountFen).reduce(0, +) }
            #expect(total == 10_000)
        }
    }

    @Test("a pending refund is settled once, with Alipay's time and fund_change; a settled one stays as it is", arguments: Engine.allCases)
    func settleOnce(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(paidOrder("P1"))
            try await store.write { tx in _ = try tx.insertRefund(refund("P1", "R1", fen: 1000)) }
            let refundedAt = Self.at.addingTimeInterval(30)
            let (first, second) = try await store.write { tx in
                (
                    try tx.settleRefund(
                        outTradeNo: "P1", outRequestNo: "R1", RefundSettlement(status: .succeeded, refundedAt: refundedAt, fundChange: true),
                        now: Date()),
                    try tx.settleRefund(outTradeNo: "P1", outRequestNo: "R1", RefundSettlement(status: .failed, failure: "late"), now: Date())
                )
            }
            #expect(first && !second)
            let settled = try #require(try await store.read { db in try db.refund("P1", outRequestNo: "R1") })
            #expect(settled.status == .succeeded && settled.refundedAt == refundedAt && settled.fundChange == true && settled.failure == nil)
            #expect(try await store.read { db in try db.refund("P1", outRequestNo: "nope") } == nil)
            #expect(try await store.write { tx in
                try tx.settleRefund(outTradeNo: "P1", outRequestNo: "nope", RefundSettlement(status: .succeeded), now: Date())
            } == false)
        }
    }

    @Test("pendingRefundsWithoutJobs: pending refunds old enough whose refund job is neither live nor dead", arguments: Engine.allCases)
    func pendingRefundsWithoutJobs(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(paidOrder("P1", fen: 100_000))
            let now = Date()
            try await store.write { tx in
                for (number, status) in [("live", RefundStatus.pending), ("dead", .pending), ("none", .pending), ("done", .succeeded)] {
                    _ = try tx.insertRefund(refund("P1", number, fen: 100, status: status))
                }
                _ = try tx.insertRefund(refund("P1", "young", fen: 100, at: now))
                for number in ["live", "dead"] {
                    try tx.enqueue(NewJob(kind: .refund, uniqueKey: Refund.jobKey(outTradeNo: "P1", outRequestNo: number), outTradeNo: "P1", runAt: Self.at))
                }
            }
            let claimed = try await store.claim(owner: "w", limit: 10, lease: .seconds(30), now: now)
            let dead = try #require(claimed.first { $0.uniqueKey == Refund.jobKey(outTradeNo: "P1", outRequestNo: "dead") })
            try await store.write { tx in try tx.deadLetter(dead.lease!, reason: "operator") }
            let found = try await store.read { db in try db.pendingRefundsWithoutJobs(createdBefore: now.addingTimeInterval(-60), limit: 10) }
            #expect(found.map(\.outRequestNo) == ["none"])
        }
    }

    @Test("paidOrdersWithoutJobs: TRADE_SUCCESS orders paid in the window, not flagged, without a live job of the kinds", arguments: Engine.allCases)
    func paidOrdersWithoutJobs(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Date()
            try await store.insertOrder(paidOrder("OLD", paidAt: now.addingTimeInterval(-90_000)))
            try await store.insertOrder(paidOrder("IN1", paidAt: now.addingTimeInterval(-7200)))
            try await store.insertOrder(paidOrder("IN2", paidAt: now.addingTimeInterval(-3000)))
            try await store.insertOrder(paidOrder("YOUNG", paidAt: now.addingTimeInterval(-10)))
            try await store.insertOrder(paidOrder("BUSY", paidAt: now.addingTimeInterval(-5000)))
            try await store.insertOrder(paidOrder("FLAG", paidAt: now.addingTimeInterval(-5000)))
            try await store.insertOrder(
                Order(outTradeNo: "UNPAID", subject: "x", totalAmountFen: 1, status: .waitBuyerPay, createdAt: now.addingTimeInterval(-5000)))
            try await store.write { tx in
                try tx.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:BUSY", outTradeNo: "BUSY", runAt: now))
                try tx.flagForReview("FLAG", reason: "test")
            }
            let found = try await store.read { db in
                try db.paidOrdersWithoutJobs(
                    paidAfter: now.addingTimeInterval(-86_400), paidBefore: now.addingTimeInterval(-60), liveKinds: [.reconcile], limit: 10)
            }
            #expect(found.map(\.outTradeNo) == ["IN1", "IN2"])
        }
    }
}

/// The statement checks' part of the store contract, on every engine.
@Suite("Store conformance: statement checks")
struct StatementCheckConformanceTests {
    @Test("a day's check is stored, replaced, read back and listed latest day first; a day's payments and refunds by range", arguments: Engine.allCases)
    func checksAndRanges(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let at = Date(timeIntervalSince1970: 1_764_547_200)  // whole seconds
            let differences = [StatementDifference(kind: .amountDiffers, outTradeNo: "A1", detail: "Alipay's payment is 1.00; the order is 2.00 \"quoted\"")]
            try await store.write { tx in
                try tx.saveStatementCheck(StatementCheck(billDate: "2026-12-01", checkedAt: at, rows: 5, differences: []))
                try tx.saveStatementCheck(StatementCheck(billDate: "2026-11-30", checkedAt: at, rows: 1, differences: []))
                try tx.saveStatementCheck(StatementCheck(billDate: "2026-12-01", checkedAt: at.addingTimeInterval(60), rows: 6, differences: differences))
            }
            let (one, all, none) = try await store.read { db in
                (try db.statementCheck(billDate: "2026-12-01"), try db.statementChecks(limit: 10), try db.statementCheck(billDate: "2026-01-01"))
            }
            #expect(one == StatementCheck(billDate: "2026-12-01", checkedAt: at.addingTimeInterval(60), rows: 6, differences: differences))
            #expect(all.map(\.billDate) == ["2026-12-01", "2026-11-30"] && none == nil)

            for (number, offset) in [("BEFORE", -1.0), ("FIRST", 0.0), ("LAST", 86_399.0), ("AFTER", 86_400.0)] {
                try await store.insertOrder(
                    Order(outTradeNo: number, subject: "s", totalAmountFen: 100, status: .tradeSuccess, createdAt: at, paidAt: at.addingTimeInterval(offset)))
            }
            try await store.insertOrder(Order(outTradeNo: "UNPAID", subject: "s", totalAmountFen: 100, status: .waitBuyerPay, createdAt: at))
            try await store.write { tx in
                _ = try tx.insertRefund(Refund(outTradeNo: "FIRST", outRequestNo: "IN", amountFen: 10, status: .succeeded, refundedAt: at.addingTimeInterval(10)))
                _ = try tx.insertRefund(Refund(outTradeNo: "FIRST", outRequestNo: "PENDING", amountFen: 10, createdAt: at))
                _ = try tx.insertRefund(Refund(outTradeNo: "LAST", outRequestNo: "OUT", amountFen: 10, status: .succeeded, refundedAt: at.addingTimeInterval(86_400)))
            }
            let (paid, refunds) = try await store.read { db in
                (try db.ordersPaid(from: at, to: at.addingTimeInterval(86_400)), try db.refundsMade(from: at, to: at.addingTimeInterval(86_400)))
            }
            #expect(paid.map(\.outTradeNo) == ["FIRST", "LAST"])
            #expect(refunds.map(\.outRequestNo) == ["IN"])
        }
    }
}
