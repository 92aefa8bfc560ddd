import AlipayKit
import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// Reconcile and close jobs, `notifyctl reconcile`, and invariant 9.
@Suite("Reconciliation")
struct ReconcilerTests {
    func enqueue(_ fixture: WorkerFixture, _ kind: JobKind, _ outTradeNo: String) async throws -> Job {
        try await fixture.queue.enqueue(
            NewJob(kind: kind, uniqueKey: "\(kind.rawValue):\(outTradeNo)", outTradeNo: outTradeNo, runAt: fixture.clock.now)
        ).job
    }

    @Test("a lost notification: the verified trade.query answer is applied through the same rules, source query")
    func queryFindsPayment() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("Q1", fen: 8888, age: 300)
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "88.88") }
        _ = try await enqueue(fixture, .reconcile, "Q1")
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        let order = try await fixture.currentOrder("Q1")
        #expect(order.status == .tradeSuccess && order.tradeNo == "2024010122001400000000000001")
        #expect(try await fixture.transitions("Q1").map(\.source) == ["query"])
        #expect(fixture.counter("alipay_notify_trade_query_total", [("result", "success")]) == 1)
    }

    @Test("the same rules: a query answer with another amount goes to review, not paid")
    func queryAmountMismatch() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("Q2", fen: 8888, age: 300)
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "0.01") }
        _ = try await enqueue(fixture, .reconcile, "Q2")
        #expect(try await fixture.drain().map(\.outcome) == [.review])
        let order = try await fixture.currentOrder("Q2")
        #expect(order.status == .waitBuyerPay && order.needsReview)
    }

    @Test("ACQ.TRADE_NOT_EXIST means still waiting: job done, order unchanged")
    func stillWaiting() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("W1", fen: 100, age: 300)
        let job = try await enqueue(fixture, .reconcile, "W1")
        #expect(try await fixture.drain().map(\.outcome) == [.unchanged])
        #expect(try await fixture.job(job.id).state == .done)
        #expect(try await fixture.currentOrder("W1").status == .waitBuyerPay)
        #expect(fixture.counter("alipay_notify_trade_query_total", [("result", "waiting")]) == 1)
    }

    static let unverified: [(String, @Sendable () -> GatewayOutcome<TradeQueryResponse>)] = [
        (
            "signed with another key",
            {
                TestAlipay.verifiedQuery(
                    #"{"code":"10000","msg":"Success","out_trade_no":"U1","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}"#,
                    key: TestAlipay.forgerKey)
            }
        ),
        (
            "unsigned success",
            {
                TestAlipay.rawQuery(
                    #"{"alipay_trade_query_response":{"code":"10000","msg":"Success","out_trade_no":"U1","#
                        + #""trade_status":"TRADE_SUCCESS","total_amount":"1.00"}}"#
                )
            }
        ),
        (
            "error_response 20000",
            { TestAlipay.rawQuery(#"{"error_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}}"#) }
        ),
        (
            "ACQ.SYSTEM_ERROR",
            { TestAlipay.verifiedQuery(#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}"#) }
        ),
        ("HTTP 502", { TestAlipay.rawQuery("<html>Bad Gateway</html>", httpStatus: 502) }),
        ("malformed JSON", { TestAlipay.rawQuery(#"{"alipay_trade_query_response":{"code":"10000","trade_status":"TRADE_SUCCESS""#) }),
        ("timeout", { .retryable("timed out after 10 s") }),
    ]

    @Test("invariant 9: an answer that did not verify is retried, never applied", arguments: unverified.indices)
    func unverifiedNeverApplied(_ index: Int) async throws {
        let (name, answer) = Self.unverified[index]
        let fixture = try WorkerFixture()
        try await fixture.order("U1", fen: 100, age: 300)
        fixture.gateway.onQuery { _ in answer() }
        let job = try await enqueue(fixture, .reconcile, "U1")
        let close = try await enqueue(fixture, .close, "U1")
        let reports = try await fixture.drain()
        #expect(reports.map(\.outcome) == [.retry, .retry], "\(name)")
        #expect(try await fixture.job(job.id).state == .pending)
        #expect(try await fixture.job(close.id).state == .pending)
        #expect(try await fixture.currentOrder("U1").status == .waitBuyerPay, "\(name)")
        #expect(try await fixture.transitions("U1").isEmpty)
        #expect(fixture.gateway.closes.isEmpty, "never close on an unverified answer")
    }

    @Test("close: the query comes first, and a payment that arrived meanwhile wins (no trade.close)")
    func closePaidMeanwhile() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("C1", fen: 100, age: 3600)
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "1.00") }
        _ = try await enqueue(fixture, .close, "C1")
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("C1").status == .tradeSuccess)
        #expect(fixture.gateway.closes.isEmpty)
    }

    @Test("close: an unpaid trade is closed at Alipay, then TRADE_CLOSED with source timeout")
    func closeUnpaid() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("C2", fen: 100, age: 3600)
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .waitBuyerPay, total: "1.00") }
        _ = try await enqueue(fixture, .close, "C2")
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        let order = try await fixture.currentOrder("C2")
        #expect(order.status == .tradeClosed && order.closedAt != nil && order.paidAt == nil)
        #expect(fixture.gateway.closes == ["C2"])
        #expect(try await fixture.transitions("C2").map(\.source) == ["timeout"])
    }

    @Test("close: a trade Alipay never saw is closed locally without trade.close")
    func closeNeverSeen() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("C3", fen: 100, age: 3600)
        _ = try await enqueue(fixture, .close, "C3")
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("C3").status == .tradeClosed)
        #expect(fixture.gateway.closes.isEmpty)
    }

    @Test("close: trade.close refused (paid between query and close) is retried, and the next query applies the payment")
    func closeRefused() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("C4", fen: 100, age: 3600)
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .waitBuyerPay, total: "1.00") }
        fixture.gateway.onClose { _ in
            TestAlipay.closeAnswer(#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_STATUS_ERROR","sub_msg":"交易状态不合法"}"#)
        }
        _ = try await enqueue(fixture, .close, "C4")
        #expect(try await fixture.drain().map(\.outcome) == [.retry])
        #expect(try await fixture.currentOrder("C4").status == .waitBuyerPay)

        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "1.00") }
        fixture.clock.advance(3600)
        #expect(try await fixture.drain().map(\.outcome) == [.applied])
        #expect(try await fixture.currentOrder("C4").status == .tradeSuccess)
    }

    @Test("a close job for a paid order, and any job for a finished or closed one, completes without calling Alipay; a reconcile job of a paid order asks")
    func settledOrder() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("S1", fen: 100, status: .tradeSuccess, age: 3600)
        try await fixture.order("S2", fen: 100, status: .tradeFinished, age: 3600)
        try await fixture.order("S3", fen: 100, status: .tradeClosed, age: 3600)
        _ = try await enqueue(fixture, .close, "S1")
        for number in ["S2", "S3"] {
            _ = try await enqueue(fixture, .reconcile, number)
            _ = try await enqueue(fixture, .close, number)
        }
        #expect(try await fixture.drain().map(\.outcome) == Array(repeating: .unchanged, count: 5))
        #expect(fixture.gateway.queries.isEmpty && fixture.gateway.closes.isEmpty)
        // A paid order may have been refunded in full without us hearing of it: a reconcile job asks.
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeSuccess, total: "1.00") }
        _ = try await enqueue(fixture, .reconcile, "S1")
        #expect(try await fixture.drain().map(\.outcome) == [.unchanged])
        #expect(fixture.gateway.queries == ["S1"] && fixture.gateway.closes.isEmpty)
        #expect(try await fixture.currentOrder("S1").status == .tradeSuccess)
    }

    @Test("notifyctl reconcile: unknown order is an error; a full refund found by query closes a paid order")
    func reconcileNow() async throws {
        let fixture = try WorkerFixture()
        await #expect(throws: ReconcileError.self) { try await fixture.runtime.reconciler.reconcileNow(outTradeNo: "NONE") }

        try await fixture.order("N1", fen: 100, status: .tradeSuccess)
        fixture.gateway.onQuery { TestAlipay.queryAnswer($0, .tradeClosed, total: "1.00") }
        let report = try await fixture.runtime.reconciler.reconcileNow(outTradeNo: "N1")
        guard case .applied(let transition, .query, _) = report.result else {
            Issue.record("expected an applied transition, got \(report.result)")
            return
        }
        #expect(transition.kind == .fullRefund)
        #expect(report.before.status == .tradeSuccess && report.after.status == .tradeClosed && report.after.refundedFen == 100)

        // Asking again changes nothing.
        let again = try await fixture.runtime.reconciler.reconcileNow(outTradeNo: "N1")
        guard case .unchanged = again.result else {
            Issue.record("expected unchanged, got \(again.result)")
            return
        }

        fixture.gateway.onQuery { _ in .retryable("timed out") }
        await #expect(throws: ReconcileError.self) { try await fixture.runtime.reconciler.reconcileNow(outTradeNo: "N1") }
    }
}
