import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Fail-over to a synchronous standby (deploy/postgresql/README.md, "Fail-over"): nothing acknowledged is lost, and the
/// same store — through an address that moves, as a DNS name or a virtual IP does — carries on without being reopened.
@Suite("PostgreSQL fail-over", .serialized)
struct PostgresFailoverTests {
    @Test("kill -9 of the primary, promotion of the synchronous standby: every acknowledged append is there, and the same store writes again")
    func failOverToSynchronousStandby() async throws {
        guard TestEngine.postgresURL != nil else {
            TestEngine.reportUnavailable(.postgres, "ALIPAY_NOTIFY_TEST_POSTGRES_URL is not set (scripts/test starts a server and sets it)")
            return
        }
        let folder = "/tmp/alipay-notify-failover-\(UUID().uuidString.prefix(8))"
        let script = Command.script("postgres")
        try #require(Command.run(["/bin/bash", script, "start", folder + "/primary"]) == 0, "scripts/postgres start failed")
        defer {
            _ = Command.run(["/bin/bash", script, "remove", folder + "/standby"])
            _ = Command.run(["/bin/bash", script, "remove", folder + "/primary"])
            try? FileManager.default.removeItem(atPath: folder)
        }
        try #require(
            Command.run(["/bin/bash", script, "standby", folder + "/primary", folder + "/standby", "standby1"]) == 0,
            "scripts/postgres standby failed")
        let port = { (name: String) in try String(contentsOfFile: "\(folder)/\(name)/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        let password = try String(contentsOfFile: folder + "/primary/password", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        // The address the store knows: a forwarder that fail-over points at the standby (tcp_switch.py).
        let target = folder + "/target"
        func pointAt(_ port: String) throws {
            try port.write(toFile: target + ".new", atomically: false, encoding: .utf8)
            _ = rename(target + ".new", target)
        }
        try pointAt(try port("primary"))
        let switchPort = try Ports.free()
        let forwarder = Command.spawn(["/usr/bin/env", "python3", Command.script("lib/tcp_switch.py"), "\(switchPort)", target])
        defer { Command.stop(forwarder) }
        try #require(forwarder > 0)

        var logger = Logger(label: "failover")
        logger.logLevel = .critical
        let url = "postgres://alipay:\(password)@127.0.0.1:\(switchPort)/alipay_notify?sslmode=disable&connect_timeout=10&statement_timeout=5000"
        var store: (any Store)?
        let deadline = ContinuousClock.now + .seconds(30)
        while store == nil, ContinuousClock.now < deadline {
            store = try? await StoreEngines.open(try StoreURL(parsing: url), logger: logger)
            if store == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let primary = try #require(store, "cannot open the store through the forwarder")
        defer { Task { await primary.close() } }

        var acknowledged: [String] = []
        for batch in 0..<5 {
            let ids = (0..<20).map { "fo-\(batch)-\($0)" }
            // A loaded machine (CI) may be slow to lend a connection: a transient error is retried, as the receiver's
            // caller (Alipay) would; only a returned append counts as acknowledged.
            try await Self.appendRetrying(primary, ids, within: .seconds(30))
            acknowledged += ids  // append returned: committed, and (synchronous_commit on) on the standby too
        }

        try #require(Command.run(["/bin/bash", script, "kill", folder + "/primary"]) == 0, "scripts/postgres kill failed")
        try #require(Command.run(["/bin/bash", script, "promote", folder + "/standby"]) == 0, "scripts/postgres promote failed")
        try pointAt(try port("standby"))

        // The same store, not reopened, writes again through the moved address.
        var recovered = false
        let retryDeadline = ContinuousClock.now + .seconds(60)
        while !recovered, ContinuousClock.now < retryDeadline {
            do {
                let ids = (0..<20).map { "fo-after-\($0)" }
                _ = try await primary.append(ids.map { IncomingNotification(notifyId: $0, outTradeNo: "FO", tradeStatus: "TRADE_SUCCESS", body: "b") })
                acknowledged += ids
                recovered = true
            } catch let error as StoreError {
                #expect(error.isTransient, "\(error)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(recovered, "the store did not write again within 60 s of the promotion")

        // Read the promoted server directly: every acknowledged notification is there, once.
        let direct = try await StoreEngines.open(
            try StoreURL(parsing: "postgres://alipay:\(password)@127.0.0.1:\(try port("standby"))/alipay_notify?sslmode=disable"), options: .init(migrate: false),
            logger: logger)
        defer { Task { await direct.close() } }
        let all = acknowledged
        let missing = try await direct.read { db in all.filter { (try? db.notification(notifyId: $0)) == nil } }
        #expect(missing.isEmpty, "acknowledged but lost in the fail-over: \(missing)")
        #expect(try await direct.queueStats().pending == acknowledged.count)
    }

    /// Appends the notifications, retrying transient store errors until `within` has passed.
    static func appendRetrying(_ store: any Store, _ ids: [String], within: Duration) async throws {
        let deadline = ContinuousClock.now + within
        while true {
            do {
                _ = try await store.append(ids.map { IncomingNotification(notifyId: $0, outTradeNo: "FO", tradeStatus: "TRADE_SUCCESS", body: "b") })
                return
            } catch let error as StoreError where error.isTransient && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
