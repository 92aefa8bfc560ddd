import AlipayKit
import Foundation
import Logging
import NotifyStore
import StoreTestSupport
import Synchronization
import Testing

@testable import NotifyCore

/// Refunds in the worker and the service: recorded with their job, asked of Alipay once per number, settled by
/// whichever of the answer, refund.query and the notification comes first; the order follows Alipay's total.
@Suite("Refunds")
struct RefundTests {
    static func refundAnswer(_ outTradeNo: String, refundFee: String, fundChange: String = "Y") -> GatewayOutcome<TradeRefundResponse> {
        verified(
            TradeRefund.self,
            #"{"code":"10000","msg":"Success","trade_no":"2024010122001400000000000001","out_trade_no":"\#(outTradeNo)","#
                + #""buyer_logon_id":"159****5620","fund_change":"\#(fundChange)","refund_fee":"\#(refundFee)","gmt_refund_pay":"2024-01-03 09:30:00"}"#)
    }

    static func refundQueryAnswer(_ outTradeNo: String, _ requestNo: String, amount: String?) -> GatewayOutcome<TradeRefundQueryResponse> {
        var json = #"{"code":"10000","msg":"Success","trade_no":"2024010122001400000000000001","out_trade_no":"\#(outTradeNo)","out_request_no":"\#(requestNo)""#
        if let amount { json += #","total_amount":"100.00","refund_amount":"\#(amount)","refund_status":"REFUND_SUCCESS","gmt_refund_pay":"2024-01-03 09:31:00""# }
        return verified(TradeRefundQuery.self, json + "}")
    }

    static func verified<R: AlipayRequest>(_ request: R.Type, _ json: String) -> GatewayOutcome<R.Response> {
        let body = try! ResponseSigner.body(method: R.method, responseJSON: json, key: TestAlipay.alipayKey)
        return ResponseVerifier(alipayPublicKey: TestAlipay.alipayKey.publicKey).outcome(for: R.self, httpStatus: 200, body: Array(body.utf8))
    }

    /// A paid order of 100.00 yuan and the service over the fixture's store.
    func paidOrder(_ fixture: WorkerFixture, _ outTradeNo: String = "P1") async throws -> RefundService {
        try await fixture.order(outTradeNo, fen: 10_000, status: .tradeSuccess)
        let clock = fixture.clock
        return RefundService(store: fixture.database, now: { clock.now })
    }

    func refund(_ fixture: WorkerFixture, _ requestNo: String, of outTradeNo: String = "P1") async throws -> Refund {
        try #require(try await fixture.database.read { db in try db.refund(outTradeNo, outRequestNo: requestNo) })
    }

    @Test("a refund is recorded pending with its job; Alipay's answer settles it and raises the refunded amount with one event")
    func answerSettles() async throws {
        let fixture = try WorkerFixture()
        let service = try await paidOrder(fixture)
        fixture.gateway.onRefund { request in Self.refundAnswer(request.outTradeNo!, refundFee: "10.00") }
        let created = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "10.00", reason: "damaged", outRequestNo: "R1"))
        #expect(created.created && created.refund.status == "pending" && created.refund.refundAmount == "10.00")
        let reports = try await fixture.drain()
        #expect(reports.map(\.outcome) == [.applied])
        #expect(fixture.gateway.refunds == ["R1"])
        let settled = try await refund(fixture, "R1")
        #expect(settled.status == .succeeded && settled.fundChange == true && settled.reason == "damaged")
        #expect(settled.refundedAt == RequestSigner.date(fromTimestamp: "2024-01-03 09:30:00"))
        let order = try await fixture.currentOrder("P1")
        #expect(order.status == .tradeSuccess && order.refundedFen == 1000 && order.refundedAt == settled.refundedAt)
        let events = try await fixture.events("P1")
        #expect(events.last?.source == "refund" && events.last?.detail?.contains("partial refund: 10.00 refunded of 100.00") == true)
        let written = try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "P1", type: nil, since: nil, limit: 5) }
        #expect(written.first?.type == "order.refunded", "the merchant's application is told")
    }

    @Test("an ambiguous answer is retried with the same out_request_no; the retry asks refund.query first and settles without asking again")
    func retryAsksRefundQueryFirst() async throws {
        let fixture = try WorkerFixture()
        let service = try await paidOrder(fixture)
        fixture.gateway.onRefund { _ in .retryable("timed out after 15 s") }
        fixture.gateway.onRefundQuery { outTradeNo, requestNo in Self.refundQueryAnswer(outTradeNo, requestNo, amount: "30.00") }
        _ = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "30.00", outRequestNo: "R1"))
        #expect(try await fixture.drain().map(\.outcome) == [.retry])
        #expect(try await refund(fixture, "R1").status == .pending)
        // The retry, once due.
        let due = try await fixture.claim(after: 3600)
        #expect(due.count == 1)
        let report = await fixture.runner.run(due[0], owner: "test-worker")
        #expect(report.outcome == .applied, "\(report.message)")
        #expect(fixture.gateway.refunds == ["R1"], "asked for once: the query found the refund made")
        #expect(fixture.gateway.refundQueries == ["R1"])
        let settled = try await refund(fixture, "R1")
        #expect(settled.status == .succeeded && settled.refundedAt == RequestSigner.date(fromTimestamp: "2024-01-03 09:31:00"))
        #expect(try await fixture.currentOrder("P1").refundedFen == 3000)
    }

    @Test("when refund.query finds no such refund, it is asked for again with the same number")
    func retryAsksAgainWhenAlipayHasNone() async throws {
        let fixture = try WorkerFixture()
        let service = try await paidOrder(fixture)
        let calls = Counter()
        fixture.gateway.onRefund { request in
            calls.next() == 1 ? .retryable("HTTP 502") : Self.refundAnswer(request.outTradeNo!, refundFee: "5.00")
        }
        fixture.gateway.onRefundQuery { outTradeNo, requestNo in Self.refundQueryAnswer(outTradeNo, requestNo, amount: nil) }
        _ = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "5.00", outRequestNo: "R1"))
        try await fixture.drain()
        let due = try await fixture.claim(after: 3600)
        #expect(await fixture.runner.run(due[0], owner: "test-worker").outcome == .applied)
        #expect(fixture.gateway.refunds == ["R1", "R1"] && fixture.gateway.refundQueries == ["R1"])
        #expect(try await refund(fixture, "R1").status == .succeeded)
        #expect(try await fixture.currentOrder("P1").refundedFen == 500)
    }

    @Test("Alipay's refusal settles the refund failed with the reason; the order is unchanged and the amount free again")
    func refusalFails() async throws {
        let fixture = try WorkerFixture()
        let service = try await paidOrder(fixture)
        fixture.gateway.onRefund { _ in
            Self.verified(TradeRefund.self, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SELLER_BALANCE_NOT_ENOUGH","sub_msg":"卖家余额不足"}"#)
        }
        _ = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "100.00", outRequestNo: "R1"))
        #expect(try await fixture.drain().map(\.outcome) == [.unchanged])
        let failed = try await refund(fixture, "R1")
        #expect(failed.status == .failed && failed.failure == "ACQ.SELLER_BALANCE_NOT_ENOUGH: 卖家余额不足")
        #expect(try await fixture.currentOrder("P1").refundedFen == 0)
        let again = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "100.00", outRequestNo: "R2"))
        #expect(again.created)
    }

    @Test("the notification first: it settles the pending refund, and the job then completes without calling Alipay")
    func notificationFirst() async throws {
        let fixture = try WorkerFixture()
        let service = try await paidOrder(fixture)
        _ = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "20.00", outRequestNo: "R1"))
        var parameters = TestAlipay.notification("P1", .tradeSuccess, total: "100.00", refundFee: "20.00")
        parameters["out_biz_no"] = "R1"
        let report = try await fixture.deliver(parameters)
        #expect(report.outcome == .applied)
        #expect(try await refund(fixture, "R1").status == .succeeded)
        #expect(try await fixture.currentOrder("P1").refundedFen == 2000)
        // The refund job was claimed with the notification's (and not run): its lease ends, it is claimed again.
        let again = try await fixture.claim(after: 60)
        #expect(again.map(\.kind) == [.refund])
        #expect(await fixture.runner.run(again[0], owner: "test-worker").outcome == .unchanged)
        #expect(fixture.gateway.refunds.isEmpty)
    }

    @Test("a refund made in Alipay's console (no record here) is recorded from its notification, so the records add up")
    func consoleRefundIsRecorded() async throws {
        let fixture = try WorkerFixture()
        _ = try await paidOrder(fixture)
        var parameters = TestAlipay.notification("P1", .tradeSuccess, total: "100.00", refundFee: "12.34")
        parameters["out_biz_no"] = "CONSOLE1"
        #expect(try await fixture.deliver(parameters).outcome == .applied)
        let recorded = try await refund(fixture, "CONSOLE1")
        #expect(recorded.status == .succeeded && recorded.amountFen == 1234)
        #expect(recorded.refundedAt == RequestSigner.date(fromTimestamp: "2024-01-02 10:00:00"))
    }

    @Test("the service: what is left is said on an over-refund; one number is one refund; unpaid, unknown and bad input are refused")
    func serviceRules() async throws {
        let fixture = try WorkerFixture()
        let service = try await paidOrder(fixture)
        _ = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "60.00", outRequestNo: "R1"))
        await #expect(throws: RefundServiceError.overRefund(outTradeNo: "P1", requestedFen: 5000, remainingFen: 4000)) {
            try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "50.00"))
        }
        let repeated = try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "60.00", outRequestNo: "R1"))
        #expect(!repeated.created && repeated.refund.outRequestNo == "R1")
        await #expect(throws: RefundServiceError.self) {
            try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: "1.00", outRequestNo: "R1"))
        }
        #expect(try await fixture.database.read { db in try db.refunds("P1") }.count == 1)
        #expect(try await fixture.queue.stats().pending == 1, "one refund job")

        try await fixture.order("UNPAID", fen: 100)
        await #expect(throws: RefundServiceError.notRefundable(outTradeNo: "UNPAID", status: "WAIT_BUYER_PAY")) {
            try await service.create(outTradeNo: "UNPAID", CreateRefundRequest(refundAmount: "1.00"))
        }
        await #expect(throws: RefundServiceError.notFound(outTradeNo: "NOPE")) {
            try await service.create(outTradeNo: "NOPE", CreateRefundRequest(refundAmount: "1.00"))
        }
        for (amount, reason, number) in [("0.00", nil, nil), ("1.001", nil, nil), ("-1", nil, nil), ("1.00", "a\u{7}b", nil), ("1.00", nil, "a/b")] {
            await #expect(throws: RefundServiceError.self, "\(amount) \(reason ?? "") \(number ?? "")") {
                try await service.create(outTradeNo: "P1", CreateRefundRequest(refundAmount: amount, reason: reason, outRequestNo: number))
            }
        }
        #expect(try await fixture.database.read { db in try db.refunds("P1") }.count == 1, "bad input wrote nothing")
    }

    @Test("TRADE_CLOSED with a full refund_fee for an order unpaid here: paid first, then refunded and closed — two events, never closed unpaid")
    func closedAfterRefundBeforeThePayment() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("LATE", fen: 8888)
        var parameters = TestAlipay.notification("LATE", .tradeClosed, total: "88.88", refundFee: "88.88")
        parameters["gmt_payment"] = "2024-01-01 12:00:00"
        parameters["gmt_close"] = "2024-01-02 10:00:00"
        let report = try await fixture.deliver(parameters)
        guard case .applied(let last, .notification, let earlier) = report.result else {
            Issue.record("not applied: \(report.message)")
            return
        }
        #expect(earlier.map(\.kind) == [.payment] && last.kind == .fullRefund)
        let transitions = try await fixture.events("LATE").dropFirst().map { "\($0.fromStatus?.rawValue ?? "-")→\($0.toStatus.rawValue)" }
        #expect(transitions == ["WAIT_BUYER_PAY→TRADE_SUCCESS", "TRADE_SUCCESS→TRADE_CLOSED"])
        let order = try await fixture.currentOrder("LATE")
        #expect(order.status == .tradeClosed && order.refundedFen == 8888)
        #expect(order.paidAt == RequestSigner.date(fromTimestamp: "2024-01-01 12:00:00"))
        #expect(fixture.counter("alipay_notify_order_transitions_total", [("to", "TRADE_SUCCESS"), ("source", "notification")]) == 1)
        // The late payment notification changes nothing now.
        #expect(try await fixture.deliver(TestAlipay.notification("LATE", .tradeSuccess, total: "88.88")).outcome == .unchanged)
    }

    @Test("TRADE_CLOSED with a partial refund_fee for an order unpaid here goes to review, unchanged")
    func closedAfterPartialRefundIsReviewed() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("ODD", fen: 8888)
        let report = try await fixture.deliver(TestAlipay.notification("ODD", .tradeClosed, total: "88.88", refundFee: "10.00"))
        #expect(report.outcome == .review)
        #expect(try await fixture.currentOrder("ODD").status == .waitBuyerPay)
    }
}

/// Counts calls across a handler's invocations.
final class Counter: Sendable {
    private let count = Mutex(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}
