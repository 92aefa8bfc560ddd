import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import StoreTestSupport
import Testing

/// PostgreSQL crashes (`pg_ctl stop -m immediate`) and comes back: the store reports `unavailable` meanwhile and
/// recovers by itself, with no new store opened.
@Suite("PostgreSQL restart", .serialized)
struct PostgresRestartTests {
    @Test("units of work fail as unavailable during a crash restart and succeed again afterwards, on the same store")
    func recoversAfterImmediateRestart() async throws {
        // A server of its own: restarting the shared test server would fail every other PostgreSQL test running now.
        guard TestEngine.postgresURL != nil else {
            TestEngine.reportUnavailable(.postgres, "ALIPAY_NOTIFY_TEST_POSTGRES_URL is not set (scripts/test starts a server and sets it)")
            return
        }
        let folder = "/tmp/alipay-notify-restart-\(UUID().uuidString.prefix(8))"
        let script = Command.script("postgres")
        try #require(Command.run(["/bin/bash", script, "start", folder]) == 0, "scripts/postgres start \(folder) failed")
        defer { _ = Command.run(["/bin/bash", script, "remove", folder]) }
        let url = try String(contentsOfFile: folder + "/url", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var logger = Logger(label: "restart")
        logger.logLevel = .critical
        let store = try await StoreEngines.open(try StoreURL(parsing: url + "&connect_timeout=10"), logger: logger)
        defer { Task { await store.close() } }
        _ = try await store.append((0..<50).map { IncomingNotification(notifyId: "r\($0)", outTradeNo: "R", tradeStatus: "TRADE_SUCCESS", body: "b") })
        #expect(try await store.claim(owner: "w", limit: 10, lease: .seconds(60), now: Date()).count == 10)

        // Crash the server (immediate stop) and bring it back on the same port.
        #expect(Command.run(["/bin/bash", script, "restart", folder, "immediate"]) == 0)

        // The pool reconnects by itself: within 60 s claims work again, and nothing claimed is lost.
        var recovered = false
        var failures = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            do {
                let jobs = try await store.claim(owner: "w", limit: 10, lease: .seconds(60), now: Date())
                if jobs.count == 10 {
                    recovered = true
                    break
                }
            } catch let error as StoreError {
                #expect(error.isTransient, "\(error)")
                failures += 1
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(recovered, "claims did not recover within 60 s after the restart (\(failures) transient failures)")
        #expect(await store.isWritable())
        let stats = try await store.queueStats()
        #expect(stats.running + stats.pending == 50)
    }
}
