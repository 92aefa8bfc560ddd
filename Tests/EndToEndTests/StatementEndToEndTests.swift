import AlipayKit
import Foundation
import NotifyStore
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The daily statement with the real daemons, `notifyctl` and the sandbox's statements (GBK CSV in a zip), on both
/// engines: a clean day reports nothing, a planted discrepancy is found, stored, shown and counted.
@Suite("daily statement end to end", .serialized)
struct StatementEndToEndTests {
    static func notifyctl(_ stack: WorkerStack, _ arguments: [String]) async throws -> Command {
        try await stack.notifyctl(arguments)
    }

    @Test("a clean statement reports no differences; one with a planted mismatch is found (exit 1), stored, shown and in the metric", arguments: TestEngine.allCases)
    func cleanThenPlantedMismatch(engine: TestEngine) async throws {
        guard
            let stack = try await WorkerStack.start(
                name: "statement", engine: engine, worker: ["STATEMENTS_ENABLED": "true", "STATEMENTS_TIME_OF_DAY": "00:00"],
                sandbox: ["SANDBOX_BILLS_INCLUDE_TODAY": "true"])
        else { return }
        // A second worker sweeping the same store: each day is still checked by one job.
        var environment = stack.workerEnvironment
        environment["WORKER_METRICS_PORT"] = "0"
        var second: DaemonProcess?
        do {
            second = try DaemonProcess.start("notify-worker", environment: environment, logFile: stack.workspace.file("worker2.log"))
            for (number, amount) in [("STA1", "88.88"), ("STA2", "10.00")] {
                try await stack.createOrder(number, totalAmount: amount)
                _ = try await stack.sandboxControl(number, "pay")
                _ = try await stack.waitForStatus(number, "TRADE_SUCCESS")
            }
            let refund = try await HTTP.send(
                .POST, "\(stack.receiver.internalURL)/api/orders/STA2/refunds", headers: [("Content-Type", "application/json")],
                body: #"{"refund_amount":"3.00","out_request_no":"SR1"}"#)
            #expect(refund.status == 201, "\(refund.body)")
            try await WorkerScenarioTests.eventually("the refund made", stack) {
                try await stack.database.read { db in try db.refund("STA2", outRequestNo: "SR1") }?.status == .succeeded
            }
            // Today, China time: what the sandbox serves with SANDBOX_BILLS_INCLUDE_TODAY.
            let today = ChinaTime.day(Date())
            let clean = try await Self.notifyctl(stack, ["bills", "reconcile", "--date", today])
            #expect(clean.status == 0, "\(clean.output)")
            #expect(clean.output.contains("statement \(today): 3 rows, no differences"), "\(clean.output)")

            try await WorkerScenarioTests.setFaults(stack, #"{"statement":1}"#)
            let planted = try await Self.notifyctl(stack, ["bills", "reconcile", "--date", today, "--json"])
            #expect(planted.status == 1, "\(planted.output)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(planted.output.utf8)) as? [String: Any], "\(planted.output)")
            let differences = try #require(json["differences"] as? [[String: Any]])
            #expect(differences.count == 1 && differences.first?["kind"] as? String == "amount_differs", "\(differences)")

            let shown = try await Self.notifyctl(stack, ["bills", "show", "--date", today])
            #expect(shown.status == 1 && shown.output.contains("amount_differs"), "\(shown.output)")
            let stored = try await stack.database.read { db in try db.statementCheck(billDate: today) }
            #expect(stored?.differences.count == 1 && stored?.rows == 3)
            let metrics = try await HTTP.send(.GET, "\(stack.receiver.internalURL)/metrics").body
            #expect(metrics.contains("alipay_notify_statement_differences 1"), "\(metrics.split(separator: "\n").filter { $0.contains("statement") })")
            #expect(try await Self.notifyctl(stack, ["bills", "reconcile", "--date", "2026-13-45"]).status == 2)
            // Tomorrow's statement does not exist yet (isp.bill_not_exist): a failure to try later, nothing stored.
            let tomorrow = ChinaTime.day(Date().addingTimeInterval(86_400))
            let early = try await Self.notifyctl(stack, ["bills", "reconcile", "--date", tomorrow])
            #expect(early.status == 1 && early.output.contains("no statement for \(tomorrow) yet (isp.bill_not_exist"), "\(early.output)")
            #expect(early.output.contains("retry"), "classified as worth trying again: \(early.output)")
            #expect(try await stack.database.read { db in try db.statementCheck(billDate: tomorrow) } == nil)
            #expect(try await Self.notifyctl(stack, ["bills", "show", "--date", "yesterday"]).status == 2, "a bad day is a usage error, not \"no check\"")

            // The workers checked the past days by themselves (statements.enabled, from 00:00): one job and one check each,
            // though two workers sweep.
            let yesterday = ChinaTime.day(Date().addingTimeInterval(-86_400))
            try await WorkerScenarioTests.eventually("yesterday's statement checked by the worker", stack) {
                try await stack.database.read { db in try db.statementCheck(billDate: yesterday) } != nil
            }
            let byWorker = try await Self.notifyctl(stack, ["bills", "show", "--date", yesterday])
            #expect(byWorker.status == 0 && byWorker.output.contains("0 rows, no differences"), "\(byWorker.output)")
            let jobs = try await stack.database.read { db in try db.jobs(state: nil, kind: .statement, outTradeNo: nil, limit: 10) }
            // Each day's statement downloaded and checked once. (On PostgreSQL a sweeper may enqueue a second job for a
            // day whose first job finished while it was deciding; that job finds the check and completes.)
            #expect(jobs.allSatisfy { $0.state == .done }, "\(jobs.map { ($0.uniqueKey, $0.state, $0.lastError) })")
            #expect(Set(jobs.compactMap(\.uniqueKey)).count == 3)
            for back in 1...3 {
                let day = ChinaTime.day(Date().addingTimeInterval(-86_400 * Double(back)))
                let downloads = stack.sandbox.log.split(separator: "\n").filter { $0.contains("statement downloaded") && $0.contains("bill_date=\(day)") }
                #expect(downloads.count == 1, "\(day) downloaded \(downloads.count) times")
            }
            second?.signal(SIGTERM)
            #expect(try await second?.waitForExit() == 0)
        } catch {
            await second?.stop()
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }
}
