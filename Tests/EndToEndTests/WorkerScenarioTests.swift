import AlipayKit
import Foundation
import GRDB
import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport
import Testing

/// Fault scenarios with the real `alipay-sandbox`, `notify-receiver` and `notify-worker` (and `notifyctl`): duplicated,
/// forged-amount, unmatched, reordered and lost notifications, and a faulty gateway.
@Suite("notify-worker fault scenarios end to end", .serialized)
struct WorkerScenarioTests {
    @Test("a duplicated notification moves the order to TRADE_SUCCESS exactly once", arguments: TestEngine.allCases)
    func duplicates(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-dup", engine: engine) else { return }
        do {
            try await Self.setFaults(stack, #"{"spec":"duplicate:1"}"#)
            try await stack.createOrder("WSC1", totalAmount: "88.88")
            _ = try await stack.sandboxControl("WSC1", "pay")
            // Both copies (the genuine attempt and its duplicate) acknowledged, and every job they made settled.
            try await Self.eventually("both copies acknowledged", stack) {
                let deliveries = try await Self.deliveries(stack, "WSC1")
                return deliveries.contains { $0["kind"] as? String == "duplicate" && $0["acknowledged"] as? Bool == true }
                    && deliveries.contains { $0["kind"] as? String == "genuine" && $0["acknowledged"] as? Bool == true }
            }
            try await Self.eventually("notification jobs settled", stack) {
                let jobs = try await Self.jobs(stack, "WSC1", kind: .notification)
                return !jobs.isEmpty && jobs.allSatisfy { $0.state == .done || $0.state == .dead }
            }
            let order = try await stack.waitForStatus("WSC1", "TRADE_SUCCESS")
            #expect(!order.needsReview)
            let moves = try await Self.moves(stack, "WSC1")
            #expect(moves == ["WAIT_BUYER_PAY>TRADE_SUCCESS"])
            #expect(try await Self.jobs(stack, "WSC1", kind: .notification).allSatisfy { $0.state == .done })
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a paid trade whose amount differs from the local order is flagged for review, never marked paid", arguments: TestEngine.allCases)
    func forgedAmount(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-amount", engine: engine) else { return }
        do {
            let created = try await HTTP.send(
                .POST, "\(stack.receiver.internalURL)/api/orders", headers: [("Content-Type", "application/json")],
                body: #"{"out_trade_no":"WSC2","total_amount":"88.88","subject":"e2e WSC2"}"#)
            try #require(created.status == 201, "\(created.body)")
            // The buyer's cashier was opened for 0.01: Alipay's notification (genuinely signed) says 0.01.
            try await stack.openTrade("WSC2", totalAmount: "0.01")
            _ = try await stack.sandboxControl("WSC2", "pay")
            try await Self.eventually("the notification job dead", stack) {
                try await Self.jobs(stack, "WSC2", kind: .notification).contains { $0.state == .dead }
            }
            let dead = try await Self.jobs(stack, "WSC2", kind: .notification).filter { $0.state == .dead }
            #expect(dead.allSatisfy { $0.lastError?.hasPrefix("amount_mismatch") == true }, "\(dead.map(\.lastError))")
            let order = try #require(try await stack.order("WSC2"))
            #expect(order.needsReview)
            #expect(order.reviewReason?.hasPrefix("amount_mismatch") == true, "\(order.reviewReason ?? "nil")")
            #expect(order.status == .waitBuyerPay && order.paidAt == nil)
            #expect(try await Self.moves(stack, "WSC2").isEmpty)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a notification dead for an unknown order is applied after the order is created and notifyctl replays it", arguments: TestEngine.allCases)
    func replayAfterFix(engine: TestEngine) async throws {
        // No sweeper reconcile within the test: only the replay may pay the order.
        guard let stack = try await WorkerStack.start(name: "worker-replay", engine: engine, worker: ["WORKER_RECONCILE_AFTER_SECONDS": "3600"])
        else { return }
        do {
            try await stack.openTrade("WSC3", totalAmount: "9.99")
            _ = try await stack.sandboxControl("WSC3", "pay")
            try await Self.eventually("the notification job dead (unknown_order)", stack) {
                try await Self.jobs(stack, "WSC3", kind: .notification).contains { $0.state == .dead }
            }
            let dead = try await Self.jobs(stack, "WSC3", kind: .notification).filter { $0.state == .dead }
            #expect(dead.allSatisfy { $0.lastError?.hasPrefix("unknown_order") == true }, "\(dead.map(\.lastError))")

            // The cause fixed: the order now exists with the same amount.
            let created = try await HTTP.send(
                .POST, "\(stack.receiver.internalURL)/api/orders", headers: [("Content-Type", "application/json")],
                body: #"{"out_trade_no":"WSC3","total_amount":"9.99","subject":"e2e WSC3"}"#)
            try #require(created.status == 201, "\(created.body)")
            #expect(try await stack.order("WSC3")?.status == .waitBuyerPay)

            var environment = stack.workspace.environment(receiverPort: 9, apiPort: 9)
            environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            let replay = try await Command.run(
                try Executables.path("notifyctl"), ["queue", "replay", "--dead"], environment: environment, timeout: .seconds(60))
            #expect(replay.status == 0, "\(replay.output)")

            let order = try await stack.waitForStatus("WSC3", "TRADE_SUCCESS")
            #expect(order.paidAt != nil && order.tradeNo != nil)
            let events = try await stack.events("WSC3").filter { $0.source != "create" }
            #expect(events.map { "\($0.fromStatus?.rawValue ?? "-")>\($0.toStatus)" } == ["WAIT_BUYER_PAY>TRADE_SUCCESS"])
            #expect(events.map(\.source) == ["notification"])
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("an authentic notification this version cannot read is acknowledged, parked with its reason in notifyctl queue list --state dead, and parked again by a replay", arguments: TestEngine.allCases)
    func unsupportedParkedAndListed(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-unsupported", engine: engine, worker: ["WORKER_RECONCILE_AFTER_SECONDS": "3600"])
        else { return }
        do {
            try await stack.createOrder("WSU1", totalAmount: "5.00")
            var parameters = SignedNotifications.parameters(notifyId: "wsu-1", outTradeNo: "WSU1", totalAmount: "5.00")
            parameters["notify_type"] = "trade_settle_sync"
            let body = try NotificationSigner.signedBody(parameters, key: stack.workspace.alipayKey)
            let reply = try await HTTP.notify(stack.receiver.publicURL, body: body)
            #expect(reply.status == 200 && reply.body == "success", "authentic, so kept and acknowledged: \(reply)")
            try await Self.eventually("the notification parked", stack) {
                try await Self.jobs(stack, "WSU1", kind: .notification).contains { $0.state == .dead }
            }
            let listed = try await stack.notifyctl(["queue", "list", "--state", "dead"])
            #expect(listed.status == 0 && listed.output.contains("WSU1") && listed.output.contains("unsupported_notification"), "\(listed.output)")
            let json = try await stack.notifyctl(["queue", "list", "--state", "dead", "--json"])
            let jobs = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]], "\(json.output)")
            let parked = try #require(jobs.first { $0["out_trade_no"] as? String == "WSU1" })
            #expect((parked["last_error"] as? String)?.contains("trade_settle_sync") == true, "\(parked)")
            let order = try #require(try await stack.order("WSU1"))
            #expect(order.status == .waitBuyerPay && order.needsReview)

            let id = try #require(parked["id"] as? Int)
            let parkedAt = try #require(try await Self.jobs(stack, "WSU1", kind: .notification).first?.updatedAt)
            let replay = try await stack.notifyctl(["queue", "replay", "--id", "\(id)"])
            #expect(replay.status == 0, "\(replay.output)")
            try await Self.eventually("replayed, and parked again by this version", stack) {
                let job = try await Self.jobs(stack, "WSU1", kind: .notification).first
                return job?.state == .dead && (job?.updatedAt ?? parkedAt) > parkedAt
            }
            #expect(try await stack.order("WSU1")?.status == .waitBuyerPay)
            #expect(try await Self.moves(stack, "WSU1").isEmpty)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("TRADE_FINISHED notified before TRADE_SUCCESS: the order ends TRADE_FINISHED, its event log never goes back", arguments: TestEngine.allCases)
    func finishedBeforeSuccess(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-reorder", engine: engine) else { return }
        do {
            try await Self.setFaults(stack, #"{"spec":"reorder:1"}"#)
            try await stack.createOrder("WSC4", totalAmount: "30.00")
            _ = try await stack.sandboxControl("WSC4", "pay")
            try await Self.eventually("FINISHED and SUCCESS notifications acknowledged", stack) {
                let acknowledged = try await Self.deliveries(stack, "WSC4").filter { $0["acknowledged"] as? Bool == true }
                    .compactMap { $0["trade_status"] as? String }
                return acknowledged.contains("TRADE_FINISHED") && acknowledged.contains("TRADE_SUCCESS")
            }
            try await Self.eventually("notification jobs settled", stack) {
                let jobs = try await Self.jobs(stack, "WSC4", kind: .notification)
                return jobs.count >= 2 && jobs.allSatisfy { $0.state == .done || $0.state == .dead }
            }
            let order = try await stack.waitForStatus("WSC4", "TRADE_FINISHED")
            #expect(!order.needsReview && order.paidAt != nil)
            let events = try await stack.events("WSC4").filter { $0.source != "create" }
            let rank = ["CREATED": 0, "WAIT_BUYER_PAY": 1, "TRADE_SUCCESS": 2, "TRADE_FINISHED": 3]
            var previous = "WAIT_BUYER_PAY"
            for event in events {
                #expect(event.fromStatus?.rawValue == previous, "a chained log: \(events)")
                #expect((rank[event.toStatus.rawValue] ?? -1) > (rank[previous] ?? 99), "monotonic: \(events)")
                previous = event.toStatus.rawValue
            }
            #expect(events.last?.toStatus == .tradeFinished)
            #expect(try await Self.jobs(stack, "WSC4", kind: .notification).allSatisfy { $0.state == .done })
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("notifications dropped and a faulty gateway: trade.query still settles every order, only with verified answers", arguments: TestEngine.allCases)
    func faultyGatewayReconcile(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "worker-faulty", engine: engine) else { return }
        do {
            try await Self.setFaults(
                stack, #"{"spec":"500:0.2,slow:0.1,badsign:0.1,garbage:0.1,drop:100000","seed":7,"slow_seconds":0.3}"#)
            let orders = ["WSC5A", "WSC5B", "WSC5C"]
            for outTradeNo in orders {
                try await stack.createOrder(outTradeNo, totalAmount: "7.77")
                _ = try await stack.sandboxControl(outTradeNo, "pay")
            }
            for outTradeNo in orders {
                let order = try await stack.waitForStatus(outTradeNo, "TRADE_SUCCESS", timeout: .seconds(90))
                #expect(!order.needsReview)
                let trade = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/trades/\(outTradeNo)")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(trade.body.utf8)) as? [String: Any])
                #expect(order.tradeNo != nil && order.tradeNo == json["trade_no"] as? String, "\(trade.body)")
                let events = try await stack.events(outTradeNo).filter { $0.source != "create" }
                #expect(events.map(\.source) == ["query"], "notifications were all dropped: \(events)")
                for event in events where event.source == "query" {
                    #expect(event.toStatus.rawValue == json["status"] as? String, "\(event) vs \(trade.body)")
                }
            }
            // The faults were met: some trade.query answers (500, bad signature, cut body) were refused and retried.
            let metrics = try await HTTP.send(.GET, "\(stack.metricsURL)/metrics")
            let retryable = metrics.body.split(separator: "\n")
                .first { $0.hasPrefix(#"alipay_notify_trade_query_total{result="retryable"}"#) }
                .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            #expect(retryable > 0, "\(metrics.body)")
            let deliveries = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/deliveries")
            #expect(!deliveries.body.contains(#""acknowledged":true"#), "every notification was dropped")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    // MARK: helpers

    /// Sets the sandbox's faults through its control API.
    static func setFaults(_ stack: WorkerStack, _ body: String) async throws {
        let reply = try await HTTP.send(
            .POST, "\(stack.sandboxURL)/sandbox/faults", headers: [("Content-Type", "application/json")], body: body)
        guard (200..<300).contains(reply.status) else { throw HarnessError("POST /sandbox/faults answered \(reply.status): \(reply.body)") }
    }

    /// The sandbox's notification attempts for one order.
    static func deliveries(_ stack: WorkerStack, _ outTradeNo: String) async throws -> [[String: Any]] {
        let reply = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/deliveries?out_trade_no=\(outTradeNo)")
        guard reply.status == 200 else { throw HarnessError("GET /sandbox/deliveries answered \(reply.status): \(reply.body)") }
        return (try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [[String: Any]]) ?? []
    }

    /// The order's jobs of one kind, read from the SQLite file.
    static func jobs(_ stack: WorkerStack, _ outTradeNo: String, kind: JobKind) async throws -> [Job] {
        try await stack.database.read { db in try db.jobs(state: nil, kind: kind, outTradeNo: outTradeNo, limit: 1000) }
    }

    /// The order's transitions as `FROM>TO`, creation left out.
    static func moves(_ stack: WorkerStack, _ outTradeNo: String) async throws -> [String] {
        try await stack.events(outTradeNo).filter { $0.source != "create" }.map { "\($0.fromStatus?.rawValue ?? "-")>\($0.toStatus)" }
    }

    /// Polls `condition` until it holds, failing with the daemons' logs after `timeout`.
    static func eventually(
        _ what: String, _ stack: WorkerStack, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            guard stack.worker.isRunning else { throw HarnessError("notify-worker exited; log:\n\(stack.worker.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError(
            "\(what): not within \(timeout)\n--- worker log:\n\(stack.worker.log)\n--- receiver log:\n\(stack.receiver.process.log)"
                + "\n--- sandbox log:\n\(stack.sandbox.log)")
    }
}
