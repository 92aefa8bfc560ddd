import Foundation
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

/// The real `alipay-sandbox`, `notify-receiver` and `notify-worker` over loopback: an order from creation to settled.
@Suite("notify-worker end to end", .serialized)
struct WorkerEndToEndTests {
    @Test("pay at the sandbox: the notification reaches the receiver and the worker marks the order TRADE_SUCCESS", arguments: TestEngine.allCases)
    func paid(engine: TestEngine) async throws {
        // No sweeper reconcile within the test (its default here is 1 s, less than a loaded machine may take to deliver
        // the notification): only the notification may pay the order.
        guard let stack = try await WorkerStack.start(name: "worker-pay", engine: engine, worker: ["WORKER_RECONCILE_AFTER_SECONDS": "3600"])
        else { return }
        do {
            try await stack.createOrder("WE2E1", totalAmount: "88.88")
            _ = try await stack.sandboxControl("WE2E1", "pay")
            let order = try await stack.waitForStatus("WE2E1", "TRADE_SUCCESS")
            #expect(order.paidAt != nil && order.tradeNo != nil && !order.needsReview)
            let events = try await stack.events("WE2E1").filter { $0.source != "create" }
            #expect(events.map(\.source) == ["notification"])
            let metrics = try await HTTP.send(.GET, "\(stack.metricsURL)/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains(#"alipay_notify_order_transitions_total{to="TRADE_SUCCESS",source="notification"} 1"#), "\(metrics.body)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("every notification dropped: the sweeper's trade.query finds the payment", arguments: TestEngine.allCases)
    func lostNotifications(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-lost", engine: engine, sandboxFaults: "drop:100000") else { return }
        do {
            try await stack.createOrder("WE2E2", totalAmount: "12.34")
            _ = try await stack.sandboxControl("WE2E2", "pay")
            try await stack.waitForStatus("WE2E2", "TRADE_SUCCESS")
            let events = try await stack.events("WE2E2").filter { $0.source != "create" }
            #expect(events.map(\.source) == ["query"])
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("unpaid past orders.timeoutMinutes: trade.close at the sandbox when the buyer reached it, then TRADE_CLOSED", arguments: TestEngine.allCases)
    func timedOut(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-timeout", engine: engine) else { return }
        do {
            // Orders created 31 minutes ago (orders.timeoutMinutes defaults to 30), unpaid. The buyer of WE2E3 logged in at
            // the cashier (a trade exists at Alipay and must be closed there); the buyer of WE2E5 never came.
            // The trades exist at the sandbox (and WE2E3's buyer logged in) before the already-expired orders are
            // stored, so the worker's close job can never run before the login it depends on.
            for outTradeNo in ["WE2E3", "WE2E5"] {
                try await stack.openTrade(outTradeNo, totalAmount: "5.00")
            }
            _ = try await stack.sandboxControl("WE2E3", "login")
            for outTradeNo in ["WE2E3", "WE2E5"] {
                try await StoreOrders(stack.database).create(
                    Order(
                        outTradeNo: outTradeNo, subject: "e2e timeout", totalAmountFen: 500, status: .waitBuyerPay,
                        createdAt: Date().addingTimeInterval(-31 * 60)))
            }
            for outTradeNo in ["WE2E3", "WE2E5"] {
                let order = try await stack.waitForStatus(outTradeNo, "TRADE_CLOSED")
                #expect(order.paidAt == nil && order.closedAt != nil)
                #expect(try await stack.events(outTradeNo).last?.source == "timeout")
            }
            let closed = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/trades/WE2E3")
            #expect(closed.body.contains(#""status":"TRADE_CLOSED""#), "closed at Alipay too: \(closed.body)")
            let never = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/trades/WE2E5")
            #expect(never.body.contains(#""pre_trade":true"#), "nothing to close at Alipay: \(never.body)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a full refund at the sandbox closes the paid order, refunded amount recorded", arguments: TestEngine.allCases)
    func fullRefund(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-refund", engine: engine) else { return }
        do {
            try await stack.createOrder("WE2E4", totalAmount: "20.00")
            _ = try await stack.sandboxControl("WE2E4", "pay")
            try await stack.waitForStatus("WE2E4", "TRADE_SUCCESS")
            _ = try await stack.sandboxControl("WE2E4", "refund", body: #"{"refund_amount":"20.00","out_request_no":"RF1"}"#)
            let order = try await stack.waitForStatus("WE2E4", "TRADE_CLOSED")
            #expect(order.refundedFen == 2000)
            let moves = try await stack.events("WE2E4").filter { $0.source != "create" }.map { "\($0.fromStatus?.rawValue ?? "-")>\($0.toStatus)" }
            #expect(moves == ["WAIT_BUYER_PAY>TRADE_SUCCESS", "TRADE_SUCCESS>TRADE_CLOSED"])
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a missing or unreadable key stops start-up with one line naming the key, exit status 2")
    func badConfiguration() async throws {
        let workspace = try TestWorkspace(name: "worker-config")
        let base = workspace.environment(receiverPort: 9, apiPort: 9, extra: ["WORKER_METRICS_PORT": "0"])
        let cases: [(String, [String: String])] = [
            ("ALIPAY_APP_PRIVATE_KEY_FILE", base.merging(["ALIPAY_APP_PRIVATE_KEY_FILE": workspace.file("keys/missing.pem").path]) { $1 }),
            ("ALIPAY_PUBLIC_KEY_FILE", base.filter { $0.key != "ALIPAY_PUBLIC_KEY_FILE" }),
            ("ALIPAY_APP_ID", base.filter { $0.key != "ALIPAY_APP_ID" }),
        ]
        for (index, (key, environment)) in cases.enumerated() {
            let worker = try DaemonProcess.start("notify-worker", environment: environment, logFile: workspace.file("worker-\(index).log"))
            #expect(try await worker.waitForExit() == 2, "\(key)")
            let lines = worker.log.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("notify-worker: ") && lines[0].contains(key), "\(worker.log)")
            #expect(!worker.log.contains("BEGIN"), "no key material in the message")
        }
        workspace.remove()
    }
}
