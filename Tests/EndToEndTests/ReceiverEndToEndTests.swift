import Foundation
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real `notify-receiver` executable over loopback: storing, shutting down, refusing bad configuration.
@Suite("notify-receiver end to end", .serialized)
struct ReceiverEndToEndTests {
    @Test("a signed notification is answered success and is in the store", arguments: TestEngine.allCases)
    func signedNotificationIsStored(engine: TestEngine) async throws {
        guard let workspace = try TestWorkspace.make(name: "receiver-store", engine: engine) else { return }
        let receiver = try await ReceiverDaemon.start(in: workspace)

        let body = try SignedNotifications.body(notifyId: "e2e-notify-1", outTradeNo: "E2E0001", key: workspace.alipayKey)
        let reply = try await HTTP.notify(receiver.publicURL, body: body)
        #expect(reply.status == 200)
        #expect(reply.body == "success")

        let again = try await HTTP.notify(receiver.publicURL, body: body)
        #expect(again.body == "success")

        let forged = body.replacingOccurrences(of: "total_amount=88.88", with: "total_amount=0.01")
        let refused = try await HTTP.notify(receiver.publicURL, body: forged)
        #expect(refused.status == 400)
        #expect(refused.body == "failure")

        // Read while the receiver still runs: a committed notification is visible to any other connection.
        let stored = try await StoreInspector.notifications(in: workspace)
        #expect(stored.count == 1)
        #expect(stored["e2e-notify-1"]?.deliveryCount == 2)
        #expect(stored["e2e-notify-1"]?.body == body)
        let jobs = try await StoreInspector.jobs(in: workspace, kind: .notification)
        #expect(jobs.map(\.notifyId) == ["e2e-notify-1"])

        receiver.process.signal(SIGTERM)
        #expect(try await receiver.process.waitForExit() == 0)
        workspace.remove()
    }

    @Test("SIGTERM with requests in flight: every answered request was stored, exit status 0", arguments: TestEngine.allCases)
    func sigtermExitsZero(engine: TestEngine) async throws {
        guard let workspace = try TestWorkspace.make(name: "receiver-sigterm", engine: engine) else { return }
        let receiver = try await ReceiverDaemon.start(in: workspace)
        let bodies = try (0..<40).map {
            try SignedNotifications.body(notifyId: "term-\($0)", outTradeNo: "TERM\($0)", key: workspace.alipayKey)
        }

        let acknowledged = try await withThrowingTaskGroup(of: String?.self) { group in
            for (index, body) in bodies.enumerated() {
                group.addTask {
                    let reply = try? await HTTP.notify(receiver.publicURL, body: body, timeout: .seconds(3))
                    return reply?.body == "success" ? "term-\(index)" : nil
                }
            }
            group.addTask {
                receiver.process.signal(SIGTERM)
                return nil
            }
            var acknowledged: [String] = []
            for try await id in group { if let id { acknowledged.append(id) } }
            return acknowledged
        }

        #expect(try await receiver.process.waitForExit() == 0)
        let stored = try await StoreInspector.notifications(in: workspace)
        for id in acknowledged { #expect(stored[id] != nil, "\(id) was answered success but is not stored") }
        #expect(receiver.process.log.contains("notification writer flushed"))
        workspace.remove()
    }

    @Test("a missing required key stops start-up with exit 2 and one line naming the key")
    func missingConfigurationKey() async throws {
        let workspace = try TestWorkspace(name: "receiver-config")
        var environment = workspace.environment(receiverPort: try Ports.free(), apiPort: try Ports.free())
        environment["ALIPAY_APP_ID"] = nil
        let process = try DaemonProcess.start(
            "notify-receiver", environment: environment, logFile: workspace.file("missing-key.log"))
        #expect(try await process.waitForExit() == 2)
        let lines = process.log.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got:\n\(process.log)")
        #expect(lines.first?.contains("alipay.appId") == true)
        #expect(lines.first?.contains("ALIPAY_APP_ID") == true)
        workspace.remove()
    }

    @Test("a bad store.url or an unreachable database stops start-up with exit 2 and one line, never the password")
    func badStoreURL() async throws {
        let workspace = try TestWorkspace(name: "receiver-store-url")
        let secret = "Pa55-not-for-logs"
        var urls = [
            "mysql://alipay:\(secret)@127.0.0.1/shop",
            "postgres://alipay:\(secret)@127.0.0.1:9/alipay_notify?sslmode=disable&connect_timeout=2",
            "postgres://alipay:\(secret)@127.0.0.1/shop?sslmode=sometimes",
        ]
        // A folder that cannot be made: a file is in the way.
        let inTheWay = workspace.file("not-a-folder")
        _ = FileManager.default.createFile(atPath: inTheWay.path, contents: Data("x".utf8))
        urls.append("sqlite:\(inTheWay.path)/alipay-notify/alipay-notify.sqlite")
        if let base = TestEngine.postgresURL, var wrong = URLComponents(string: base) {
            wrong.password = secret
            urls.append(wrong.string!)
        }
        for (index, url) in urls.enumerated() {
            let environment = workspace.environment(receiverPort: try Ports.free(), apiPort: try Ports.free(), extra: ["STORE_URL": url])
            let process = try DaemonProcess.start("notify-receiver", environment: environment, logFile: workspace.file("store-url-\(index).log"))
            #expect(try await process.waitForExit() == 2, "\(process.log)")
            let lines = process.log.split(separator: "\n")
            #expect(lines.count == 1, "expected one line, got:\n\(process.log)")
            #expect(lines.first?.contains("store.url (STORE_URL)") == true, "\(process.log)")
            #expect(!process.log.contains(secret), "the password leaked: \(process.log)")
            #expect(!process.log.contains("NSCocoaErrorDomain"), "a raw Foundation error: \(process.log)")
        }
        workspace.remove()
    }

    @Test("a port in use stops start-up with exit 2 and one line naming the key and the port")
    func portInUse() async throws {
        let workspace = try TestWorkspace(name: "receiver-port")
        let first = try await ReceiverDaemon.start(in: workspace)
        let taken = try #require(Int(first.publicURL.split(separator: ":").last!))
        let environment = workspace.environment(receiverPort: taken, apiPort: try Ports.free())
        let second = try DaemonProcess.start("notify-receiver", environment: environment, logFile: workspace.file("port.log"))
        #expect(try await second.waitForExit() == 2)
        let lines = second.log.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got:\n\(second.log)")
        #expect(lines.first?.contains("receiver.port (RECEIVER_PORT) \(taken)") == true, "\(second.log)")
        #expect(lines.first?.contains("in use") == true, "\(second.log)")
        first.process.signal(SIGTERM)
        #expect(try await first.process.waitForExit() == 0)
        workspace.remove()
    }

    @Test("an unreadable key file stops start-up with exit 2 and one line naming the key")
    func unreadableKeyFile() async throws {
        let workspace = try TestWorkspace(name: "receiver-keyfile")
        let environment = workspace.environment(
            receiverPort: try Ports.free(), apiPort: try Ports.free(),
            extra: ["ALIPAY_PUBLIC_KEY_FILE": workspace.file("keys/no-such-key.pem").path])
        let process = try DaemonProcess.start("notify-receiver", environment: environment, logFile: workspace.file("keyfile.log"))
        #expect(try await process.waitForExit() == 2)
        let lines = process.log.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got:\n\(process.log)")
        #expect(lines.first?.contains("alipay.publicKeyFile") == true)
        workspace.remove()
    }

    @Test("the internal API refuses a non-loopback address without api.token")
    func internalAPINeedsTokenOffLoopback() async throws {
        let workspace = try TestWorkspace(name: "receiver-token")
        let environment = workspace.environment(
            receiverPort: try Ports.free(), apiPort: try Ports.free(), extra: ["API_HOST": "0.0.0.0"])
        let process = try DaemonProcess.start("notify-receiver", environment: environment, logFile: workspace.file("token.log"))
        #expect(try await process.waitForExit() == 2)
        let lines = process.log.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got:\n\(process.log)")
        #expect(lines.first?.contains("api.token") == true)
        workspace.remove()
    }

    @Test("orders API with a token: create, read, and 401 without it")
    func ordersAPIWithToken() async throws {
        let workspace = try TestWorkspace(name: "receiver-orders")
        let token = "e2e-\(UUID().uuidString)"
        let receiver = try await ReceiverDaemon.start(in: workspace, extra: ["API_TOKEN": token])
        let auth = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]

        let unauthorized = try await HTTP.send(.POST, "\(receiver.internalURL)/api/orders", body: #"{"total_amount":"1.00","subject":"x"}"#)
        #expect(unauthorized.status == 401)

        let created = try await HTTP.send(
            .POST, "\(receiver.internalURL)/api/orders", headers: auth,
            body: #"{"out_trade_no":"E2EORDER1","total_amount":"88.88","subject":"Coffee beans"}"#)
        #expect(created.status == 201)
        let json = try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any]
        #expect(json?["out_trade_no"] as? String == "E2EORDER1")
        #expect(json?["status"] as? String == "WAIT_BUYER_PAY")
        #expect(json?["total_amount"] as? String == "88.88")
        #expect((json?["pay_url"] as? String)?.hasPrefix("http://127.0.0.1:9/gateway.do?") == true)

        let shown = try await HTTP.send(.GET, "\(receiver.internalURL)/api/orders/E2EORDER1", headers: auth)
        #expect(shown.status == 200)
        #expect(shown.body.contains(#""subject":"Coffee beans""#))

        let metrics = try await HTTP.send(.GET, "\(receiver.internalURL)/metrics", headers: auth)
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("alipay_notify_queue_jobs"))

        receiver.process.signal(SIGTERM)
        #expect(try await receiver.process.waitForExit() == 0)
        workspace.remove()
    }
}

/// The systemd notify protocol, with a datagram socket standing in for systemd.
@Suite("notify-receiver and systemd", .serialized)
struct ReceiverSystemdTests {
    @Test("READY=1 once both listeners listen, STOPPING=1 on SIGTERM")
    func readyAndStopping() async throws {
        let workspace = try TestWorkspace(name: "receiver-systemd")
        let socket = try NotifySocket(path: workspace.file("notify.sock").path)
        let receiverPort = try Ports.free()
        let apiPort = try Ports.free()
        let process = try DaemonProcess.start(
            "notify-receiver",
            environment: workspace.environment(receiverPort: receiverPort, apiPort: apiPort, extra: ["NOTIFY_SOCKET": socket.path]),
            logFile: workspace.file("systemd.log"))
        try await socket.waitFor("READY=1")
        // READY=1 promises both listeners accept connections right now.
        #expect(try await HTTP.send(.GET, "http://127.0.0.1:\(receiverPort)/healthz").status == 200)
        #expect(try await HTTP.send(.GET, "http://127.0.0.1:\(apiPort)/readyz").status == 200)

        process.signal(SIGTERM)
        try await socket.waitFor("STOPPING=1")
        #expect(try await process.waitForExit() == 0)
        workspace.remove()
    }
}
