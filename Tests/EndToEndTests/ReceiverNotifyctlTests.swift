import Foundation
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `notifyctl orders …` and `notifyctl queue stats|list` against the database the receiver writes.
@Suite("notifyctl orders and queue", .serialized)
struct ReceiverNotifyctlTests {
    /// Runs `notifyctl` with the workspace's configuration; returns exit status, standard output and standard error.
    static func notifyctl(_ arguments: [String], in workspace: TestWorkspace) async throws -> (status: Int32, out: String, err: String) {
        var environment = workspace.environment(receiverPort: 9, apiPort: 9)
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let result = try await ChildProcess.run(try Executables.path("notifyctl"), arguments, environment: environment, timeout: .seconds(120))
        return (result.status, result.output, result.errorOutput)
    }

    @Test("read-only commands refuse a missing SQLite database (exit 2, the path named) and never create one")
    func readOnlyCommandsNeverCreateADatabase() async throws {
        let workspace = try TestWorkspace(name: "notifyctl-missing-db")
        for arguments in [["queue", "stats"], ["queue", "list"], ["orders", "list"], ["orders", "show", "X1"], ["db", "prune", "--older-than", "30d"]] {
            let result = try await Self.notifyctl(arguments, in: workspace)
            #expect(result.status == 2, "\(arguments): \(result.err)")
            #expect(result.err.contains(workspace.databasePath), "\(arguments): \(result.err)")
            #expect(!FileManager.default.fileExists(atPath: workspace.databasePath), "\(arguments) created the database")
        }
        let migrated = try await Self.notifyctl(["db", "migrate"], in: workspace)
        #expect(migrated.status == 0, "\(migrated.err)")
        #expect(migrated.out.contains("applied v1-initial-schema"), "a fresh database reports what was applied: \(migrated.out)")
        let again = try await Self.notifyctl(["db", "migrate"], in: workspace)
        #expect(again.out.contains("schema up to date"), "\(again.out)")
        #expect(FileManager.default.fileExists(atPath: workspace.databasePath))
        let stats = try await Self.notifyctl(["queue", "stats", "--json"], in: workspace)
        #expect(stats.status == 0, "\(stats.err)")
        // Job kinds are open: a kind this version does not run is still a valid filter.
        #expect(try await Self.notifyctl(["queue", "list", "--kind", "deliver"], in: workspace).status == 0)
        #expect(try await Self.notifyctl(["verify", "--body", "a=1", "--list-rejected"], in: workspace).status == 2)
        workspace.remove()
    }

    @Test("a refused body is kept (not logged): verify --list-rejected lists it, verify --rejected ID names the failed check")
    func refusedBodiesAreDiagnosable() async throws {
        let workspace = try TestWorkspace(name: "notifyctl-rejected")
        let receiver = try await ReceiverDaemon.start(in: workspace)
        let body = try SignedNotifications.body(notifyId: "rej-1", outTradeNo: "REJ1", key: workspace.alipayKey)
        let forged = body.replacingOccurrences(of: "total_amount=88.88", with: "total_amount=0.01")
        let reply = try await HTTP.notify(receiver.publicURL, body: forged)
        #expect(reply.status == 400 && reply.body == "failure")
        #expect(!receiver.process.log.contains("total_amount=0.01"), "the body must not be logged")

        var listed: [[String: Any]] = []
        for _ in 0..<100 {  // the receiver keeps it beside its answer: wait for the write
            let list = try await Self.notifyctl(["verify", "--list-rejected", "--json"], in: workspace)
            #expect(list.status == 0, "\(list.err)")
            listed = (try JSONSerialization.jsonObject(with: Data(list.out.utf8)) as? [[String: Any]]) ?? []
            if !listed.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let first = try #require(listed.first, "the refused body was not kept")
        #expect(first["reason"] as? String == "bad_signature")
        let id = try #require(first["id"] as? Int)
        let verdict = try await Self.notifyctl(["verify", "--rejected", "\(id)"], in: workspace)
        #expect(verdict.status == 1, "\(verdict.out)\(verdict.err)")
        #expect(verdict.out.contains("total_amount=0.01"), "the verified string shows the tampered field: \(verdict.out)")
        #expect(try await Self.notifyctl(["verify", "--rejected", "999999"], in: workspace).status == 1)
        receiver.process.signal(SIGTERM)
        _ = try await receiver.process.waitForExit()
        workspace.remove()
    }

    @Test("db backup runs beside the receiver; db restore is refused while it runs, then restores, keeps the old file and queues reconciles")
    func backupAndRestore() async throws {
        let workspace = try TestWorkspace(name: "notifyctl-backup")
        let backup = workspace.file("backups/one.sqlite").path
        #expect(try await Self.notifyctl(["orders", "create", "--total-amount", "1.00", "--subject", "kept", "--out-trade-no", "BK1"], in: workspace).status == 0)
        let receiver = try await ReceiverDaemon.start(in: workspace)
        let body = try SignedNotifications.body(notifyId: "bk-1", outTradeNo: "BK1", totalAmount: "1.00", key: workspace.alipayKey)
        #expect(try await HTTP.notify(receiver.publicURL, body: body).body == "success")

        let made = try await Self.notifyctl(["db", "backup", "--to", backup, "--json"], in: workspace)
        #expect(made.status == 0, "\(made.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(made.out.utf8)) as? [String: Any])
        let counts = try #require(report["counts"] as? [String: Int])
        #expect(counts["orders"] == 1 && counts["notifications"] == 1 && counts["jobs"] == 1, "\(counts)")

        #expect(try await Self.notifyctl(["orders", "create", "--total-amount", "2.00", "--subject", "lost", "--out-trade-no", "BK2"], in: workspace).status == 0)
        let refused = try await Self.notifyctl(["db", "restore", "--from", backup], in: workspace)
        #expect(refused.status == 1 && refused.err.contains("stop them first"), "\(refused.err)")
        #expect(try await Self.notifyctl(["orders", "show", "BK2"], in: workspace).status == 0, "a refused restore changes nothing")

        receiver.process.signal(SIGTERM)
        #expect(try await receiver.process.waitForExit() == 0)
        let restored = try await Self.notifyctl(["db", "restore", "--from", backup, "--json"], in: workspace)
        #expect(restored.status == 0, "\(restored.err)")
        let outcome = try #require(try JSONSerialization.jsonObject(with: Data(restored.out.utf8)) as? [String: Any])
        #expect(outcome["missingOrders"] as? [String] == ["BK2"])
        #expect(outcome["reconcileQueued"] as? Int == 1)
        let kept = try #require(outcome["replacedKeptAt"] as? String)
        #expect(FileManager.default.fileExists(atPath: kept))
        #expect(try await Self.notifyctl(["orders", "show", "BK1"], in: workspace).status == 0)
        #expect(try await Self.notifyctl(["orders", "show", "BK2"], in: workspace).status == 1)
        let damaged = workspace.file("backups/damaged.sqlite").path
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: damaged))
        #expect(try await Self.notifyctl(["db", "restore", "--from", damaged], in: workspace).status == 1)
        #expect(try await Self.notifyctl(["orders", "show", "BK1"], in: workspace).status == 0, "a damaged backup replaces nothing")
        workspace.remove()
    }

    @Test("config show prints the store and keys as resolved, with the password and the API token redacted")
    func configShowRedacts() async throws {
        let workspace = try TestWorkspace(name: "notifyctl-config", storeURL: "postgres://alipay:Hidden-Pass-1@db.example:5432/shop?sslmode=require")
        let result = try await Self.notifyctl(["config", "show", "--json"], in: workspace)
        #expect(result.status == 0, "\(result.err)")
        #expect(!result.out.contains("Hidden-Pass-1"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: String])
        #expect(object["store.url"] == "postgres://alipay@db.example:5432/shop?sslmode=require")
        #expect(object["alipay.appId"] == TestWorkspace.appId)
        #expect(object["alipay.publicKeyFile"] == workspace.file("keys/alipay_public_key.pem").path)
        workspace.remove()
    }

    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test("orders create/show/list and queue stats/list, for people and with --json")
    func ordersAndQueue() async throws {
        let workspace = try TestWorkspace(name: "notifyctl")

        let created = try await Self.notifyctl(
            ["orders", "create", "--total-amount", "88.88", "--subject", "Tea", "--out-trade-no", "CLI0001", "--json"], in: workspace)
        #expect(created.status == 0, "\(created.err)")
        let order = try #require(try Self.json(created.out) as? [String: Any])
        #expect(Set(order.keys) == ["out_trade_no", "status", "total_amount", "product", "pay_url", "pay_form", "qr_code", "order_string"])
        #expect(order["status"] as? String == "WAIT_BUYER_PAY")

        let plain = try await Self.notifyctl(["orders", "create", "--total-amount", "1.50", "--subject", "Cake"], in: workspace)
        #expect(plain.status == 0)
        #expect(plain.out.contains("http://127.0.0.1:9/gateway.do?"), "prints the signed pay URL")

        let duplicate = try await Self.notifyctl(
            ["orders", "create", "--total-amount", "88.88", "--subject", "Tea", "--out-trade-no", "CLI0001"], in: workspace)
        #expect(duplicate.status == 1)
        #expect(duplicate.err.contains("already exists"))

        let badAmount = try await Self.notifyctl(["orders", "create", "--total-amount", "88.888", "--subject", "Tea"], in: workspace)
        #expect(badAmount.status == 2)
        #expect(badAmount.err.split(separator: "\n").count == 1)

        let shown = try await Self.notifyctl(["orders", "show", "CLI0001", "--json"], in: workspace)
        #expect(shown.status == 0)
        let view = try #require(try Self.json(shown.out) as? [String: Any])
        #expect(view["total_amount"] as? String == "88.88")
        #expect(view["subject"] as? String == "Tea")
        #expect(view.keys.contains("paid_at"))
        let table = try await Self.notifyctl(["orders", "show", "CLI0001"], in: workspace)
        #expect(table.out.contains("waiting for payment"))

        let missing = try await Self.notifyctl(["orders", "show", "NOPE"], in: workspace)
        #expect(missing.status == 1)
        #expect(missing.err.contains("NOPE"))

        let listed = try await Self.notifyctl(["orders", "list", "--status", "WAIT_BUYER_PAY", "--json"], in: workspace)
        #expect((try Self.json(listed.out) as? [[String: Any]])?.count == 2)
        let listTable = try await Self.notifyctl(["orders", "list"], in: workspace)
        #expect(listTable.out.contains("CLI0001"))
        #expect(listTable.out.hasPrefix("out_trade_no"))

        // Two notifications through the real receiver, then the queue as notifyctl sees it.
        let receiver = try await ReceiverDaemon.start(in: workspace)
        for index in 1...2 {
            let body = try SignedNotifications.body(notifyId: "cli-\(index)", outTradeNo: "CLI0001", key: workspace.alipayKey)
            #expect(try await HTTP.notify(receiver.publicURL, body: body).body == "success")
        }
        receiver.process.signal(SIGTERM)
        #expect(try await receiver.process.waitForExit() == 0)

        let stats = try await Self.notifyctl(["queue", "stats", "--json"], in: workspace)
        #expect(stats.status == 0)
        let counts = try #require(try Self.json(stats.out) as? [String: Int])
        #expect(counts == ["pending": 2, "running": 0, "done": 0, "dead": 0])

        let jobs = try await Self.notifyctl(["queue", "list", "--state", "pending", "--kind", "notification", "--json"], in: workspace)
        let rows = try #require(try Self.json(jobs.out) as? [[String: Any]])
        #expect(rows.count == 2)
        #expect(Set(rows.first?.keys.map { $0 } ?? []) == ["id", "kind", "state", "attempts", "out_trade_no", "notify_id", "last_error"])
        #expect(Set(rows.compactMap { $0["notify_id"] as? String }) == ["cli-1", "cli-2"])
        let queueTable = try await Self.notifyctl(["queue", "list"], in: workspace)
        #expect(queueTable.out.contains("cli-1"))
        let badState = try await Self.notifyctl(["queue", "list", "--state", "sleeping"], in: workspace)
        #expect(badState.status == 2)
        #expect(badState.err.contains("--state"))
        workspace.remove()
    }
}
