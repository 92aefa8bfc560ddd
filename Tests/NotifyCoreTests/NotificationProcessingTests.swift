import AlipayKit
import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// Notification jobs through the real store, the real verifier and real keys: invariants 4, 5 and 6.
@Suite("Processing notifications")
struct NotificationProcessingTests {
    @Test("a verified TRADE_SUCCESS marks the order paid: one event from the notification, job done, in one transaction")
    func paid() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("A1", fen: 8888)
        let report = try await fixture.deliver(TestAlipay.notification("A1", .tradeSuccess, total: "88.88", notifyId: "n-1"))

        #expect(report.outcome == .applied)
        let order = try await fixture.currentOrder("A1")
        #expect(order.status == .tradeSuccess)
        #expect(order.tradeNo == "2024010122001400000000000001")
        #expect(order.paidAt != nil && !order.needsReview)
        let events = try await fixture.transitions("A1")
        #expect(events.count == 1)
        #expect(events.first?.fromStatus == .waitBuyerPay && events.first?.toStatus == .tradeSuccess)
        #expect(events.first?.source == "notification" && events.first?.notifyId == "n-1" && events.first?.jobId == report.jobId)
        #expect(try await fixture.job(report.jobId).state == .done)
        #expect(fixture.counter("alipay_notify_order_transitions_total", [("to", "TRADE_SUCCESS"), ("source", "notification")]) == 1)
    }

    @Test("an authentic notification this version cannot read (an unknown trade_status, another notify_type) is parked for review with the problem: order flagged, not changed, order.needs_review written", arguments: [
        ("trade_status", "TRADE_PENDING_REVIEW"), ("notify_type", "trade_settle_sync"),
    ])
    func unsupportedIsParked(field: String, value: String) async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("U1", fen: 8888)
        var parameters = TestAlipay.notification("U1", .tradeSuccess, total: "88.88", notifyId: "u-1")
        parameters[field] = value
        let report = try await fixture.deliver(parameters)
        #expect(report.outcome == .review)
        let job = try await fixture.job(report.jobId)
        #expect(job.state == .dead)
        #expect(job.lastError?.contains("unsupported_notification") == true && job.lastError?.contains(value) == true, "\(job.lastError ?? "")")
        let order = try await fixture.currentOrder("U1")
        #expect(order.status == .waitBuyerPay && order.needsReview && order.paidAt == nil)
        #expect(try await fixture.transitions("U1").isEmpty)
        let events = try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "U1", type: "order.needs_review", since: nil, limit: 5) }
        #expect(events.count == 1 && events[0].payload.contains("unsupported_notification"))
        #expect(fixture.counter("alipay_notify_reviews_total", [("reason", "unsupported_notification")]) == 1)
    }

    @Test("a notification an older version parked as unsupported is applied, once, when replayed after the upgrade; one this version parks is parked again")
    func replayAfterUpgradeApplies() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("U2", fen: 8888)
        // What an older version left: the authentic notification stored, its job dead as unsupported (it did not know
        // a field this version reads).
        let stored = try await fixture.notify(TestAlipay.notification("U2", .tradeSuccess, total: "88.88", notifyId: "u-2"))
        let claimed = try #require(try await fixture.claim(kinds: [.notification]).first { $0.id == stored.id })
        let lease = try #require(claimed.lease)
        try await fixture.database.write { tx in
            try tx.deadLetter(lease, reason: "unsupported_notification: unexpected fund_bill_list (a version before the upgrade)")
        }
        let parked = try await fixture.database.read { db in try db.jobs(state: .dead, kind: .notification, outTradeNo: "U2", limit: 10) }
        #expect(parked.map(\.id) == [stored.id] && parked[0].lastError?.contains("unsupported_notification") == true)
        #expect(try await fixture.currentOrder("U2").status == .waitBuyerPay)

        // The upgrade's replay (`notifyctl queue replay --id N`): the stored body is verified and read again.
        let replayed = try await fixture.database.replay(.ids([try #require(stored.id)]), dryRun: false)
        #expect(replayed.map(\.id) == [stored.id])
        let reports = try await fixture.drain()
        #expect(reports.map(\.outcome) == [.applied], "\(reports)")
        let order = try await fixture.currentOrder("U2")
        #expect(order.status == .tradeSuccess && order.paidAt != nil)
        #expect(try await fixture.transitions("U2").map(\.source) == ["notification"])
        #expect(try await fixture.job(stored.id).state == .done)
        // Replayed again: already applied, nothing moves twice.
        _ = try await fixture.database.replay(.ids([try #require(stored.id)]), dryRun: false)
        try await fixture.drain()
        #expect(try await fixture.transitions("U2").count == 1)

        // One this version cannot read either: parked again with the same reason, the order untouched.
        try await fixture.order("U4", fen: 100)
        var unknown = TestAlipay.notification("U4", .tradeSuccess, total: "1.00", notifyId: "u-4")
        unknown["trade_status"] = "TRADE_FROZEN"
        let first = try await fixture.deliver(unknown)
        _ = try await fixture.database.replay(.ids([first.jobId]), dryRun: false)
        try await fixture.drain()
        let again = try await fixture.job(first.jobId)
        #expect(again.state == .dead && again.lastError?.contains("TRADE_FROZEN") == true, "\(again)")
        #expect(try await fixture.currentOrder("U4").status == .waitBuyerPay)
        #expect(try await fixture.transitions("U4").isEmpty)
    }

    @Test("a TRADE_CLOSED notification closes the order at Alipay's gmt_close, not at the time the worker applied it")
    func closedAtAlipaysTime() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("C9", fen: 100)
        var parameters = TestAlipay.notification("C9", .tradeClosed, total: "1.00")
        parameters["gmt_close"] = "2024-01-01 12:30:00"
        #expect(try await fixture.deliver(parameters).outcome == .applied)
        let order = try await fixture.currentOrder("C9")
        #expect(order.status == .tradeClosed)
        #expect(order.closedAt == Date(timeIntervalSince1970: 1_704_083_400), "2024-01-01 12:30:00 Beijing time")
        // Our own clock stays on the event row: when this worker applied it, not Alipay's gmt_close.
        let event = try #require(try await fixture.transitions("C9").last)
        #expect(event.toStatus == .tradeClosed && event.createdAt > Date(timeIntervalSince1970: 1_704_083_400 + 86_400), "\(event.createdAt)")
    }

    @Test("refunds record Alipay's gmt_refund as refunded_at, the latest refund's, and leave paid_at alone")
    func refundedAtAlipaysTime() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("R9", fen: 1000)
        var paid = TestAlipay.notification("R9", .tradeSuccess, total: "10.00", notifyId: "r-1")
        paid["gmt_payment"] = "2024-01-01 12:00:00"
        #expect(try await fixture.deliver(paid).outcome == .applied)
        var partial = TestAlipay.notification("R9", .tradeSuccess, total: "10.00", notifyId: "r-2")
        partial["refund_fee"] = "3.00"
        partial["gmt_refund"] = "2024-01-02 09:00:00"
        #expect(try await fixture.deliver(partial).outcome == .applied)
        #expect(try await fixture.currentOrder("R9").refundedAt == Date(timeIntervalSince1970: 1_704_157_200), "2024-01-02 09:00:00 Beijing time")
        var full = TestAlipay.notification("R9", .tradeClosed, total: "10.00", notifyId: "r-3")
        full["refund_fee"] = "10.00"
        full["gmt_refund"] = "2024-01-03 09:00:00"
        #expect(try await fixture.deliver(full).outcome == .applied)
        let order = try await fixture.currentOrder("R9")
        #expect(order.refundedFen == 1000 && order.status == .tradeClosed)
        #expect(order.refundedAt == Date(timeIntervalSince1970: 1_704_243_600), "the latest refund's time")
        #expect(order.paidAt == Date(timeIntervalSince1970: 1_704_081_600))
        #expect(OrderView(order).refundedAt == "2024-01-03T01:00:00Z")
    }

    @Test("duplicates: the same payment notified five times (new notify_ids) and replayed gives exactly one transition")
    func duplicates() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("D1", fen: 100)
        var reports: [JobReport] = []
        for index in 0..<5 {
            reports.append(try await fixture.deliver(TestAlipay.notification("D1", .tradeSuccess, total: "1.00", notifyId: "d-\(index)")))
        }
        #expect(reports.map(\.outcome) == [.applied, .unchanged, .unchanged, .unchanged, .unchanged])
        let replayed = try await fixture.queue.replay(.outTradeNo("D1"), dryRun: false)
        #expect(replayed.count == 5)
        let again = try await fixture.drain()
        #expect(again.count == 5 && again.allSatisfy { $0.outcome == .unchanged })
        #expect(try await fixture.transitions("D1").count == 1)
        #expect(try await fixture.currentOrder("D1").status == .tradeSuccess)
    }

    @Test("TRADE_FINISHED before TRADE_SUCCESS ends FINISHED; events only move forward")
    func finishedFirst() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("F1", fen: 500)
        try await fixture.deliver(TestAlipay.notification("F1", .tradeFinished, total: "5.00"))
        let late = try await fixture.deliver(TestAlipay.notification("F1", .tradeSuccess, total: "5.00"))
        #expect(late.outcome == .unchanged)
        #expect(try await fixture.currentOrder("F1").status == .tradeFinished)
        let events = try await fixture.events("F1")
        #expect(events.map(\.toStatus) == [.waitBuyerPay, .tradeFinished])
    }

    @Test("a partial refund records refunded fen with one event and no status change; a full refund closes the order")
    func refunds() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("R1", fen: 10_000)
        try await fixture.deliver(TestAlipay.notification("R1", .tradeSuccess, total: "100.00"))
        let partial = try await fixture.deliver(TestAlipay.notification("R1", .tradeSuccess, total: "100.00", refundFee: "30.00"))
        #expect(partial.outcome == .applied)
        var order = try await fixture.currentOrder("R1")
        #expect(order.status == .tradeSuccess && order.refundedFen == 3_000)
        // The same refund notified again changes nothing.
        #expect(try await fixture.deliver(TestAlipay.notification("R1", .tradeSuccess, total: "100.00", refundFee: "30.00")).outcome == .unchanged)

        let full = try await fixture.deliver(TestAlipay.notification("R1", .tradeClosed, total: "100.00", refundFee: "100.00"))
        #expect(full.outcome == .applied)
        order = try await fixture.currentOrder("R1")
        #expect(order.status == .tradeClosed && order.refundedFen == 10_000 && order.closedAt != nil)
        let events = try await fixture.transitions("R1")
        #expect(
            events.map { "\($0.fromStatus?.rawValue ?? "-")>\($0.toStatus)" } == [
                "WAIT_BUYER_PAY>TRADE_SUCCESS", "TRADE_SUCCESS>TRADE_SUCCESS", "TRADE_SUCCESS>TRADE_CLOSED",
            ])
        #expect(events[1].detail?.contains("partial refund: 30.00 refunded of 100.00") == true)
        #expect(events[2].detail?.contains("full refund") == true)
        // A late payment notification cannot revive a refunded order.
        #expect(try await fixture.deliver(TestAlipay.notification("R1", .tradeSuccess, total: "100.00")).outcome == .unchanged)
        #expect(try await fixture.currentOrder("R1").status == .tradeClosed)
        // Metrics count status changes, not refunds that keep the status: one payment, one close; two refunds.
        #expect(fixture.counter("alipay_notify_order_transitions_total", [("to", "TRADE_SUCCESS"), ("source", "notification")]) == 1)
        #expect(fixture.counter("alipay_notify_order_transitions_total", [("to", "TRADE_CLOSED"), ("source", "notification")]) == 1)
        #expect(fixture.counter("alipay_notify_refunds_total", [("kind", "partial_refund")]) == 1)
        #expect(fixture.counter("alipay_notify_refunds_total", [("kind", "full_refund")]) == 1)
    }

    @Test("every labelled worker counter exists at zero before its first event")
    func countersStartAtZero() throws {
        let fixture = try WorkerFixture()
        WorkerMetrics(factory: fixture.metrics).exportZeros(kinds: JobRunner.kinds)
        for (label, dimensions) in [
            ("alipay_notify_trade_query_total", [("result", "success")]), ("alipay_notify_reviews_total", [("reason", "amount_mismatch")]),
            ("alipay_notify_order_transitions_total", [("to", "TRADE_SUCCESS"), ("source", "query")]),
            ("alipay_notify_refunds_total", [("kind", "partial_refund")]), ("alipay_notify_jobs_total", [("kind", "reconcile"), ("outcome", "dead")]),
        ] {
            let counter = try fixture.metrics.expectCounter(label, dimensions)
            #expect(counter.totalValue == 0, "\(label)")
        }
    }

    @Test(
        "invariant 4: amounts compare to the fen, from the decimal string",
        arguments: [
            (Int64(1), "0.01", true), (Int64(10), "0.1", true), (Int64(8880), "88.8", true), (Int64(8888), "88.88", true),
            (Int64(10_000_000_001), "100000000.01", true), (Int64(8888), "88.89", false), (Int64(8888), "88.87", false),
            (Int64(10), "0.01", false), (Int64(1_000), "1.00", false),
        ])
    func exactMoney(orderFen: Int64, total: String, paid: Bool) async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("M1", fen: orderFen)
        let report = try await fixture.deliver(TestAlipay.notification("M1", .tradeSuccess, total: total))
        let order = try await fixture.currentOrder("M1")
        #expect((order.status == .tradeSuccess) == paid)
        #expect(report.outcome == (paid ? .applied : .review))
        #expect(order.needsReview == !paid)
    }

    enum Mismatch: String, CaseIterable, CustomTestStringConvertible {
        case amount, appId, sellerId, missingSellerId, unknownOrder
        var testDescription: String { rawValue }
    }

    @Test("invariant 6: a mismatch never marks the order paid: job dead with the reason, order flagged, metric counted", arguments: Mismatch.allCases)
    func mismatch(_ mismatch: Mismatch) async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("X1", fen: 8888)
        let parameters: [String: String]
        let reason: ReviewReason
        switch mismatch {
        case .amount:
            parameters = TestAlipay.notification("X1", .tradeSuccess, total: "0.01")
            reason = .amountMismatch
        case .appId:
            parameters = TestAlipay.notification("X1", .tradeSuccess, total: "88.88", appId: "2021999999999999")
            reason = .appIdMismatch
        case .sellerId:
            parameters = TestAlipay.notification("X1", .tradeSuccess, total: "88.88", sellerId: "2088999999999999")
            reason = .sellerIdMismatch
        case .missingSellerId:
            parameters = TestAlipay.notification("X1", .tradeSuccess, total: "88.88", sellerId: nil)
            reason = .sellerIdMismatch
        case .unknownOrder:
            parameters = TestAlipay.notification("NOPE", .tradeSuccess, total: "88.88")
            reason = .unknownOrder
        }
        let report = try await fixture.deliver(parameters)

        #expect(report.outcome == .review)
        let job = try await fixture.job(report.jobId)
        #expect(job.state == .dead)
        #expect(job.lastError?.hasPrefix(reason.rawValue) == true, "\(job.lastError ?? "")")
        let order = try await fixture.currentOrder("X1")
        #expect(order.status == .waitBuyerPay && order.paidAt == nil)
        #expect(try await fixture.transitions("X1").isEmpty)
        #expect(order.needsReview == (mismatch != .unknownOrder))
        if mismatch != .unknownOrder { #expect(order.reviewReason?.hasPrefix(reason.rawValue) == true) }
        #expect(fixture.counter("alipay_notify_reviews_total", [("reason", reason.rawValue)]) == 1)
        #expect(fixture.counter("alipay_notify_jobs_total", [("kind", "notification"), ("outcome", "dead")]) == 1)
    }

    @Test("without alipay.sellerId the seller is not checked")
    func sellerNotConfigured() async throws {
        let fixture = try WorkerFixture(sellerId: nil)
        try await fixture.order("S1", fen: 100)
        let report = try await fixture.deliver(TestAlipay.notification("S1", .tradeSuccess, total: "1.00", sellerId: "2088777777777777"))
        #expect(report.outcome == .applied)
    }

    @Test("the stored body is verified again: a body altered in the database, or forged, never reaches the order")
    func reverified() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("T1", fen: 1)
        try await fixture.order("T2", fen: 1)
        // Stored as the receiver would, then altered at rest: total_amount raised after signing.
        let job = try await fixture.notify(TestAlipay.notification("T1", .tradeSuccess, total: "0.01"))
        try await fixture.database.pool.write { db in
            try db.execute(
                sql: "UPDATE notifications SET body = replace(body, 'total_amount=0.01', 'total_amount=0.02') WHERE id = ?",
                arguments: [job.notificationId])
        }
        // Signed with a key that is not Alipay's.
        try await fixture.notify(TestAlipay.notification("T2", .tradeSuccess, total: "0.01"), key: TestAlipay.forgerKey)
        let reports = try await fixture.drain()

        #expect(reports.count == 2 && reports.allSatisfy { $0.outcome == .dead })
        #expect(reports.allSatisfy { $0.message.contains("does not verify") })
        #expect(try await fixture.currentOrder("T1").status == .waitBuyerPay)
        #expect(try await fixture.currentOrder("T2").status == .waitBuyerPay)
    }

    @Test("a body the receiver sealed is read without verifying its signature again; a seal that does not agree (another app key, a body altered at rest, not a seal) means verify; the other checks always run")
    func sealedBodies() async throws {
        let fixture = try WorkerFixture()
        for name in ["S1", "S2", "S3", "S4", "S5", "S6"] { try await fixture.order(name, fen: 1) }
        let receivers = NotificationSeal(appPrivateKey: TestAlipay.appKey)
        let strangers = NotificationSeal(appPrivateKey: TestAlipay.forgerKey)
        // S1 is signed with a key this worker does not take for Alipay's: only the seal can let it through (it stands
        // for a body the receiver verified, with a key the worker no longer holds).
        try await fixture.notify(TestAlipay.notification("S1", .tradeSuccess, total: "0.01"), key: TestAlipay.forgerKey, seal: receivers)
        try await fixture.notify(TestAlipay.notification("S2", .tradeSuccess, total: "0.01"), key: TestAlipay.forgerKey, seal: strangers)
        let altered = try await fixture.notify(TestAlipay.notification("S3", .tradeSuccess, total: "0.01"), seal: receivers)
        try await fixture.database.pool.write { db in
            try db.execute(
                sql: "UPDATE notifications SET body = replace(body, 'total_amount=0.01', 'total_amount=0.02') WHERE id = ?",
                arguments: [altered.notificationId])
        }
        let garbled = try await fixture.notify(TestAlipay.notification("S4", .tradeSuccess, total: "0.01"), key: TestAlipay.forgerKey, seal: receivers)
        try await fixture.database.pool.write { db in
            try db.execute(sql: "UPDATE notifications SET seal = 'not a seal' WHERE id = ?", arguments: [garbled.notificationId])
        }
        try await fixture.notify(TestAlipay.notification("S5", .tradeSuccess, total: "0.01", appId: "2021000000000999"), seal: receivers)
        // Sealed, but declaring another sign_type: the checks other than the signature still run on a sealed body.
        var otherType = TestAlipay.notification("S6", .tradeSuccess, total: "0.01")
        otherType["sign_type"] = "RSA"
        try await fixture.notify(otherType, key: TestAlipay.forgerKey, seal: receivers)
        let reports = Dictionary(uniqueKeysWithValues: try await fixture.drain().map { ($0.outTradeNo!, $0) })

        #expect(reports["S1"]?.outcome == .applied)
        #expect(try await fixture.currentOrder("S1").status == .tradeSuccess)
        // S4's seal is not a seal: verified with Alipay's key as an unsealed body is, and refused (signed by a forger).
        for name in ["S2", "S3", "S4", "S6"] {
            #expect(reports[name]?.outcome == .dead && reports[name]?.message.contains("does not verify") == true, "\(name)")
            #expect(try await fixture.currentOrder(name).status == .waitBuyerPay)
        }
        #expect(reports["S6"]?.message.contains("sign_type") == true, "\(reports["S6"]?.message ?? "")")
        #expect(reports["S5"]?.outcome == .review && reports["S5"]?.message.contains("app_id") == true)
        #expect(try await fixture.currentOrder("S5").status == .waitBuyerPay)
    }

    @Test("a payment reported for an order closed unpaid goes to review and keeps it closed")
    func paidAfterClose() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("C1", fen: 100, status: .tradeClosed)
        let report = try await fixture.deliver(TestAlipay.notification("C1", .tradeSuccess, total: "1.00"))
        #expect(report.outcome == .review)
        let order = try await fixture.currentOrder("C1")
        #expect(order.status == .tradeClosed && order.needsReview)
        #expect(order.reviewReason?.hasPrefix("paid_after_close") == true)
    }

    @Test("worker.confirmWithQuery: a payment is applied only once a verified trade.query agrees")
    func confirmWithQuery() async throws {
        let fixture = try WorkerFixture(confirmWithQuery: true)
        try await fixture.order("Q1", fen: 8888)
        // Alipay does not agree yet.
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .waitBuyerPay, total: "88.88") }
        let first = try await fixture.deliver(TestAlipay.notification("Q1", .tradeSuccess, total: "88.88"))
        #expect(first.outcome == .retry)
        #expect(try await fixture.currentOrder("Q1").status == .waitBuyerPay)

        // An answer whose signature does not verify is no agreement either.
        fixture.gateway.onQuery { _ in
            TestAlipay.verifiedQuery(
                #"{"code":"10000","msg":"Success","out_trade_no":"Q1","trade_status":"TRADE_SUCCESS","total_amount":"88.88"}"#,
                key: TestAlipay.forgerKey)
        }
        fixture.clock.advance(3600)
        let second = try await fixture.drain()
        #expect(second.map(\.outcome) == [.retry])
        #expect(try await fixture.currentOrder("Q1").status == .waitBuyerPay)

        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "88.88") }
        fixture.clock.advance(3600)
        let third = try await fixture.drain()
        #expect(third.map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("Q1").status == .tradeSuccess)
        #expect(fixture.gateway.queries == ["Q1", "Q1", "Q1"])

        // A repeat is not a new payment: no query needed.
        try await fixture.deliver(TestAlipay.notification("Q1", .tradeSuccess, total: "88.88"))
        #expect(fixture.gateway.queries.count == 3)
    }
}

@Suite("The receiver's seal")
struct NotificationSealTests {
    @Test("a seal verifies only the same body under the same app key, and every process holding the key seals alike")
    func sealVerifies() throws {
        let seal = NotificationSeal(appPrivateKey: TestAlipay.appKey)
        let body = "notify_id=1&out_trade_no=S1&total_amount=0.01&subject=%E6%B5%8B%E8%AF%95&sign=abc"
        let sealed = seal.seal(body)
        #expect(sealed == NotificationSeal(appPrivateKey: TestAlipay.appKey).seal(body), "every process with the key seals alike")
        #expect(Data(base64Encoded: sealed)?.count == 32)
        #expect(seal.verifies(body, seal: sealed))
        #expect(!seal.verifies(body.replacingOccurrences(of: "0.01", with: "0.02"), seal: sealed))
        #expect(!seal.verifies(body + "&x=1", seal: sealed))
        #expect(!NotificationSeal(appPrivateKey: TestAlipay.forgerKey).verifies(body, seal: sealed))
        #expect(!seal.verifies(body, seal: "not base64!"))
        #expect(!seal.verifies(body, seal: ""))
    }
}
