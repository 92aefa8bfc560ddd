import AlipayKit
import Foundation
import NotifyStore
import StoreTestSupport
import Testing

/// Refunds with the real `alipay-sandbox`, `notify-receiver` and `notify-worker`, on both engines: through the API to
/// Alipay's `alipay.trade.refund` and back through its notifications, with the faults that make refunds hard.
@Suite("refunds end to end", .serialized)
struct RefundEndToEndTests {
    /// POSTs a refund request to the API.
    static func requestRefund(_ stack: WorkerStack, _ outTradeNo: String, _ body: String) async throws -> (status: Int, json: [String: Any]) {
        let reply = try await HTTP.send(
            .POST, "\(stack.receiver.internalURL)/api/orders/\(outTradeNo)/refunds", headers: [("Content-Type", "application/json")], body: body)
        return (reply.status, (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]) ?? [:])
    }

    /// The sandbox's view of the trade (its refunds are what Alipay made).
    static func sandboxTrade(_ stack: WorkerStack, _ outTradeNo: String) async throws -> [String: Any] {
        let reply = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/trades/\(outTradeNo)")
        guard reply.status == 200 else { throw HarnessError("GET /sandbox/trades/\(outTradeNo) answered \(reply.status): \(reply.body)") }
        return (try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]) ?? [:]
    }

    static func refund(_ stack: WorkerStack, _ outTradeNo: String, _ requestNo: String) async throws -> Refund? {
        try await stack.database.read { db in try db.refund(outTradeNo, outRequestNo: requestNo) }
    }

    static func paidOrder(_ stack: WorkerStack, _ outTradeNo: String, _ amount: String) async throws {
        try await stack.createOrder(outTradeNo, totalAmount: amount)
        _ = try await stack.sandboxControl(outTradeNo, "pay")
        _ = try await stack.waitForStatus(outTradeNo, "TRADE_SUCCESS")
    }

    @Test("partial then full refund through the API: one number is one refund, more than is left is refused with the rest, the order ends closed", arguments: TestEngine.allCases)
    func partialThenFull(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "refund-api", engine: engine) else { return }
        do {
            try await Self.paidOrder(stack, "RFA1", "100.00")
            let first = try await Self.requestRefund(stack, "RFA1", #"{"refund_amount":"30.00","reason":"damaged","out_request_no":"R1"}"#)
            #expect(first.status == 201 && first.json["status"] as? String == "pending", "\(first)")
            let again = try await Self.requestRefund(stack, "RFA1", #"{"refund_amount":"30.00","out_request_no":"R1"}"#)
            #expect(again.status == 200 && again.json["out_request_no"] as? String == "R1", "\(again)")
            let other = try await Self.requestRefund(stack, "RFA1", #"{"refund_amount":"31.00","out_request_no":"R1"}"#)
            #expect(other.status == 409, "\(other)")
            let over = try await Self.requestRefund(stack, "RFA1", #"{"refund_amount":"80.00"}"#)
            #expect(over.status == 400 && over.json["remaining_amount"] as? String == "70.00", "\(over)")

            try await WorkerScenarioTests.eventually("R1 settled", stack) {
                try await Self.refund(stack, "RFA1", "R1")?.status == .succeeded
            }
            try await WorkerScenarioTests.eventually("30.00 refunded on the order", stack) {
                try await stack.order("RFA1")?.refundedFen == 3000
            }
            let rest = try await Self.requestRefund(stack, "RFA1", #"{"refund_amount":"70.00","out_request_no":"R2"}"#)
            #expect(rest.status == 201, "\(rest)")
            let closed = try await stack.waitForStatus("RFA1", "TRADE_CLOSED")
            #expect(closed.refundedFen == 10_000 && closed.refundedAt != nil && !closed.needsReview)
            try await WorkerScenarioTests.eventually("R2 settled", stack) {
                try await Self.refund(stack, "RFA1", "R2")?.status == .succeeded
            }
            // Alipay made exactly two refunds, whatever was asked twice.
            let trade = try await Self.sandboxTrade(stack, "RFA1")
            #expect((trade["refunds"] as? [Any])?.count == 2 && trade["refunded_amount"] as? String == "100.00", "\(trade)")
            // The order's view lists both.
            let view = try await HTTP.send(.GET, "\(stack.receiver.internalURL)/api/orders/RFA1")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(view.body.utf8)) as? [String: Any])
            let refunds = try #require(json["refunds"] as? [[String: Any]])
            #expect(refunds.map { $0["out_request_no"] as? String } == ["R1", "R2"])
            #expect(refunds.allSatisfy { $0["status"] as? String == "succeeded" })
            // Forward only, and closed once.
            let moves = try await WorkerScenarioTests.moves(stack, "RFA1")
            #expect(moves.first == "WAIT_BUYER_PAY>TRADE_SUCCESS" && moves.last == "TRADE_SUCCESS>TRADE_CLOSED", "\(moves)")
            #expect(moves.filter { $0.hasSuffix(">TRADE_CLOSED") }.count == 1, "\(moves)")
            // A closed order cannot be refunded again.
            let late = try await Self.requestRefund(stack, "RFA1", #"{"refund_amount":"0.01"}"#)
            #expect(late.status == 409, "\(late)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("notifyctl: orders create for each product, refunds create (new, repeated, too much), orders show and refunds list with the refunds", arguments: TestEngine.allCases)
    func throughNotifyctl(engine: TestEngine) async throws {
        let day = ["ORDERS_TIMEOUT_MINUTES": "1440"]
        guard let stack = try await WorkerStack.start(name: "refund-cli", engine: engine, worker: day, receiver: day) else { return }
        do {
            // orders create --product: what each product's buyer needs (qr asks the sandbox for precreate).
            for (number, product, key, expected) in [
                ("RCW1", "wap", "pay_url", "method=alipay.trade.wap.pay"), ("RCQ1", "qr", "qr_code", "https://qr.alipay.com/"),
                ("RCA1", "app", "order_string", "method=alipay.trade.app.pay"),
            ] {
                let created = try await stack.notifyctl([
                    "orders", "create", "--out-trade-no", number, "--total-amount", "9.99", "--subject", "cli \(product)", "--product", product, "--json",
                ])
                #expect(created.status == 0, "\(created.output)")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any], "\(created.output)")
                #expect(json["product"] as? String == product && (json[key] as? String)?.contains(expected) == true, "\(json)")
                #expect(try await stack.order(number)?.product.rawValue == product)
            }
            let badProduct = try await stack.notifyctl(["orders", "create", "--total-amount", "1.00", "--subject", "x", "--product", "pos"])
            #expect(badProduct.status == 2, "\(badProduct.output)")

            try await Self.paidOrder(stack, "RCR1", "40.00")
            let created = try await stack.notifyctl(["refunds", "create", "RCR1", "--amount", "15.00", "--reason", "cli", "--out-request-no", "C1"])
            #expect(created.status == 0 && created.output.contains("refund C1 of order RCR1: 15.00 yuan, pending (recorded)"), "\(created.output)")
            let repeated = try await stack.notifyctl(["refunds", "create", "RCR1", "--amount", "15.00", "--out-request-no", "C1", "--json"])
            let repeatedJSON = try #require(try JSONSerialization.jsonObject(with: Data(repeated.output.utf8)) as? [String: Any], "\(repeated.output)")
            #expect(repeated.status == 0 && repeatedJSON["out_request_no"] as? String == "C1", "\(repeated.output)")
            let tooMuch = try await stack.notifyctl(["refunds", "create", "RCR1", "--amount", "30.00"])
            #expect(tooMuch.status == 2 && tooMuch.output.contains("25.00"), "\(tooMuch.output)")
            #expect(try await stack.database.read { db in try db.refunds("RCR1") }.count == 1, "nothing recorded by the refused request")

            try await WorkerScenarioTests.eventually("C1 settled", stack) {
                try await Self.refund(stack, "RCR1", "C1")?.status == .succeeded
            }
            let shown = try await stack.notifyctl(["orders", "show", "RCR1"])
            #expect(shown.status == 0 && shown.output.contains("out_request_no") && shown.output.contains("succeeded"), "\(shown.output)")
            #expect(shown.output.split(separator: "\n").contains { $0.contains("C1") && $0.contains("15.00") && $0.contains("cli") }, "\(shown.output)")
            let shownJSON = try await stack.notifyctl(["orders", "show", "RCR1", "--json"])
            let view = try #require(try JSONSerialization.jsonObject(with: Data(shownJSON.output.utf8)) as? [String: Any], "\(shownJSON.output)")
            let refunds = try #require(view["refunds"] as? [[String: Any]])
            #expect(refunds.count == 1 && refunds[0]["out_request_no"] as? String == "C1" && refunds[0]["refund_amount"] as? String == "15.00", "\(refunds)")
            #expect(view["refunded_amount"] as? String == "15.00", "\(view)")
            let listed = try await stack.notifyctl(["refunds", "list", "RCR1"])
            #expect(listed.status == 0 && listed.output.contains("C1") && listed.output.contains("succeeded"), "\(listed.output)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a refund whose answer never comes in time is settled by alipay.trade.fastpay.refund.query; Alipay refunds once", arguments: TestEngine.allCases)
    func timeoutSettledByRefundQuery(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "refund-timeout", engine: engine, worker: ["ALIPAY_TIMEOUT_SECONDS": "1"]) else { return }
        do {
            try await Self.paidOrder(stack, "RFT1", "50.00")
            // Answers held past the worker's read timeout, and no notification reaches the receiver: only the
            // worker's own calls can settle the refund.
            try await WorkerScenarioTests.setFaults(stack, #"{"slow":1,"slow_seconds":6,"drop_first":1000}"#)
            let created = try await Self.requestRefund(stack, "RFT1", #"{"refund_amount":"20.00","out_request_no":"T1"}"#)
            #expect(created.status == 201, "\(created)")
            try await WorkerScenarioTests.eventually("Alipay made the refund", stack) {
                try await Self.sandboxTrade(stack, "RFT1")["refunded_amount"] as? String == "20.00"
            }
            try await WorkerScenarioTests.eventually("the first attempt timed out and is retried", stack) {
                let jobs = try await WorkerScenarioTests.jobs(stack, "RFT1", kind: .refund)
                return jobs.contains { $0.attempts >= 1 && $0.lastError != nil }
            }
            #expect(try await Self.refund(stack, "RFT1", "T1")?.status == .pending)
            try await WorkerScenarioTests.setFaults(stack, #"{"drop_first":1000}"#)
            try await WorkerScenarioTests.eventually("T1 settled", stack) {
                try await Self.refund(stack, "RFT1", "T1")?.status == .succeeded
            }
            try await WorkerScenarioTests.eventually("20.00 refunded on the order", stack) {
                try await stack.order("RFT1")?.refundedFen == 2000
            }
            let trade = try await Self.sandboxTrade(stack, "RFT1")
            #expect((trade["refunds"] as? [Any])?.count == 1 && trade["refunded_amount"] as? String == "20.00", "\(trade)")
            let metrics = try await HTTP.send(.GET, "\(stack.metricsURL)/metrics").body
            #expect(
                metrics.contains(#"alipay_notify_refund_calls_total{method="alipay.trade.fastpay.refund.query",result="success"} 1"#)
                    || metrics.contains(#"alipay_notify_refund_calls_total{result="success",method="alipay.trade.fastpay.refund.query"} 1"#),
                "\(metrics.split(separator: "\n").filter { $0.contains("refund_calls") })")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a refund made in Alipay's console whose notifications are all lost is found by the sweep of paid orders", arguments: TestEngine.allCases)
    func lostRefundNotificationRecovered(engine: TestEngine) async throws {
        guard
            let stack = try await WorkerStack.start(
                name: "refund-sweep", engine: engine,
                worker: ["WORKER_RECONCILE_PAID_AFTER_SECONDS": "1", "WORKER_RECONCILE_PAID_FOR_HOURS": "1"])
        else { return }
        do {
            try await Self.paidOrder(stack, "RFS1", "12.00")
            try await WorkerScenarioTests.setFaults(stack, #"{"drop_first":1000}"#)
            _ = try await stack.sandboxControl("RFS1", "refund", body: #"{"refund_amount":"12.00","out_request_no":"CONSOLE"}"#)
            let closed = try await stack.waitForStatus("RFS1", "TRADE_CLOSED")
            #expect(closed.refundedFen == 1200)
            let last = try #require(try await stack.events("RFS1").last)
            #expect(last.source == "query" && last.fromStatus == .tradeSuccess, "\(last)")
            let dropped = try await WorkerScenarioTests.deliveries(stack, "RFS1").filter { $0["trade_status"] as? String == "TRADE_CLOSED" }
            #expect(!dropped.isEmpty && dropped.allSatisfy { $0["acknowledged"] as? Bool != true }, "no TRADE_CLOSED notification arrived")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("the sandbox's own TRADE_CLOSED after a full refund, delivered while the payment notification waits for its retry: paid, then refunded", arguments: TestEngine.allCases)
    func sandboxClosedWithRefundBeforeThePayment(engine: TestEngine) async throws {
        // Alipay's retry schedule at 100× (the first retry 2.4 s after the first attempt), so the refund's notification
        // is delivered well before the payment's retry; no reconciling sweep, so only notifications move the order.
        guard
            let stack = try await WorkerStack.start(
                name: "refund-late-pay", engine: engine, worker: ["WORKER_RECONCILE_AFTER_SECONDS": "3600"],
                sandbox: ["SANDBOX_TIME_SCALE": "100"])
        else { return }
        do {
            try await stack.createOrder("RFL1", totalAmount: "25.00")
            // The payment's first delivery is lost; the buyer is refunded in full at once (the console's refund).
            try await WorkerScenarioTests.setFaults(stack, #"{"drop_first":1}"#)
            _ = try await stack.sandboxControl("RFL1", "pay")
            _ = try await stack.sandboxControl("RFL1", "refund", body: #"{"refund_amount":"25.00","out_request_no":"LATE"}"#)
            let closed = try await stack.waitForStatus("RFL1", "TRADE_CLOSED")
            #expect(closed.refundedFen == 2500 && closed.paidAt != nil && !closed.needsReview, "\(closed)")
            // The payment notification arrives afterwards, on its retry, and changes nothing.
            try await WorkerScenarioTests.eventually("the payment notification delivered on its retry", stack) {
                try await WorkerScenarioTests.deliveries(stack, "RFL1").contains {
                    $0["trade_status"] as? String == "TRADE_SUCCESS" && $0["acknowledged"] as? Bool == true
                }
            }
            let deliveries = try await WorkerScenarioTests.deliveries(stack, "RFL1").filter { $0["acknowledged"] as? Bool == true }
            #expect(deliveries.compactMap { $0["trade_status"] as? String }.first == "TRADE_CLOSED", "\(deliveries)")
            try await WorkerScenarioTests.eventually("every notification job settled", stack) {
                let jobs = try await WorkerScenarioTests.jobs(stack, "RFL1", kind: .notification)
                return jobs.count >= 2 && jobs.allSatisfy { $0.state == .done }
            }
            #expect(try await WorkerScenarioTests.moves(stack, "RFL1") == ["WAIT_BUYER_PAY>TRADE_SUCCESS", "TRADE_SUCCESS>TRADE_CLOSED"])
            #expect(try await stack.events("RFL1").filter { $0.source != "create" }.map(\.source) == ["notification", "notification"])
            let recorded = try #require(try await Self.refund(stack, "RFL1", "LATE"))
            #expect(recorded.status == .succeeded && recorded.amountFen == 2500)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("TRADE_CLOSED after a full refund arriving before the payment notification: paid, then refunded — never closed unpaid", arguments: TestEngine.allCases)
    func closedWithRefundBeforeThePayment(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "refund-order", engine: engine) else { return }
        do {
            let created = try await HTTP.send(
                .POST, "\(stack.receiver.internalURL)/api/orders", headers: [("Content-Type", "application/json")],
                body: #"{"out_trade_no":"RFO1","total_amount":"88.88","subject":"e2e RFO1"}"#)
            try #require(created.status == 201, "\(created.body)")
            // Alipay's notifications, signed with its key, posted to notify_url in the wrong order.
            var closedAfterRefund = SignedNotifications.parameters(notifyId: "rfo-closed", outTradeNo: "RFO1", tradeStatus: "TRADE_CLOSED")
            closedAfterRefund["refund_fee"] = "88.88"
            closedAfterRefund["gmt_refund"] = "2025-01-31 17:00:00"
            closedAfterRefund["gmt_close"] = "2025-01-31 17:00:00"
            closedAfterRefund["out_biz_no"] = "CONSOLE"
            for parameters in [closedAfterRefund, SignedNotifications.parameters(notifyId: "rfo-paid", outTradeNo: "RFO1")] {
                let body = try NotificationSigner.signedBody(parameters, key: stack.workspace.alipayKey)
                let reply = try await HTTP.send(
                    .POST, "\(stack.receiver.publicURL)/alipay/notify", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: body)
                #expect(reply.status == 200 && reply.body == "success", "\(reply)")
                if parameters["trade_status"] == "TRADE_CLOSED" { _ = try await stack.waitForStatus("RFO1", "TRADE_CLOSED") }
            }
            try await WorkerScenarioTests.eventually("both notification jobs settled", stack) {
                let jobs = try await WorkerScenarioTests.jobs(stack, "RFO1", kind: .notification)
                return jobs.count == 2 && jobs.allSatisfy { $0.state == .done }
            }
            #expect(try await WorkerScenarioTests.moves(stack, "RFO1") == ["WAIT_BUYER_PAY>TRADE_SUCCESS", "TRADE_SUCCESS>TRADE_CLOSED"])
            let order = try #require(try await stack.order("RFO1"))
            #expect(order.refundedFen == 8888 && order.paidAt != nil && !order.needsReview)
            let recorded = try #require(try await Self.refund(stack, "RFO1", "CONSOLE"))
            #expect(recorded.status == .succeeded && recorded.amountFen == 8888)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }
}
