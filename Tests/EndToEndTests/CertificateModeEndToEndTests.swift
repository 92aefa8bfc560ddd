import AlipayKit
import Foundation
import NotifyStore
import StoreTestSupport
import Testing

/// Certificate mode (公钥证书模式) and AES content encryption on the real daemons against `alipay-sandbox` speaking
/// them: the sandbox refuses any request without the right SNs or without encryption, so every green step below
/// proves the requests carried them.
@Suite("certificate mode and content encryption end to end", .serialized)
struct CertificateModeEndToEndTests {
    @Test("cert mode with AES: paid by notification, found by trade.query when notifications are lost, closed by trade.close", arguments: TestEngine.allCases)
    func payReconcileClose(engine: TestEngine) async throws {
        guard let stack = try await WorkerStack.start(name: "cert-pay", engine: engine, mode: .certificateWithEncryption) else { return }
        do {
            // Paid, notified: the notification carries alipay_cert_sn and verifies with the certificate's key.
            try await stack.createOrder("CERT1", totalAmount: "88.88")
            _ = try await stack.sandboxControl("CERT1", "pay")
            try await stack.waitForStatus("CERT1", "TRADE_SUCCESS")
            // The receiver answered success: it verified the notification with the certificate's key and stored it.
            // (Which of notification and sweeper applies it first depends on the machine's load: either is right.)
            try await Self.waitForAcknowledgement(stack, "CERT1")
            #expect(try await stack.events("CERT1").filter { $0.source != "create" }.count == 1)

            // Paid, notification lost: the sweeper's encrypted trade.query in certificate mode finds it.
            _ = try await HTTP.send(.POST, "\(stack.sandboxURL)/sandbox/faults", headers: [("Content-Type", "application/json")], body: #"{"spec":"drop:1000"}"#)
            try await stack.createOrder("CERT2", totalAmount: "12.34")
            _ = try await stack.sandboxControl("CERT2", "pay")
            try await stack.waitForStatus("CERT2", "TRADE_SUCCESS")
            #expect(try await stack.events("CERT2").filter { $0.source != "create" }.map(\.source) == ["query"])

            // Unpaid past the timeout, the buyer at the cashier: closed at Alipay with trade.close.
            try await stack.openTrade("CERT3", totalAmount: "5.00")
            _ = try await stack.sandboxControl("CERT3", "login")
            try await StoreOrders(stack.database).create(
                Order(outTradeNo: "CERT3", subject: "e2e cert close", totalAmountFen: 500, status: .waitBuyerPay, createdAt: Date().addingTimeInterval(-31 * 60)))
            try await stack.waitForStatus("CERT3", "TRADE_CLOSED")
            let closed = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/trades/CERT3")
            #expect(closed.body.contains(#""status":"TRADE_CLOSED""#), "closed at Alipay too: \(closed.body)")
            #expect(!stack.sandbox.log.contains("isv."), "the sandbox refused a request:\n\(stack.sandbox.log)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("Alipay rotates its certificate mid-run: the worker fetches it, checks it against the roots and goes on; notifyctl certs download writes it")
    func rotation() async throws {
        guard let stack = try await WorkerStack.start(name: "cert-rotate", sandboxFaults: "drop:100000", mode: .certificate) else { return }
        do {
            let metrics = try await HTTP.send(.GET, "\(stack.metricsURL)/metrics")
            for certificate in ["app", "alipay", "root"] {
                #expect(metrics.body.contains(#"alipay_notify_certificate_expiry_seconds{certificate="\#(certificate)"}"#), "\(metrics.body)")
            }
            try await stack.createOrder("ROT1", totalAmount: "1.00")
            _ = try await stack.sandboxControl("ROT1", "pay")
            try await stack.waitForStatus("ROT1", "TRADE_SUCCESS")

            let rotated = try await HTTP.send(.POST, "\(stack.sandboxURL)/sandbox/certificates/rotate")
            #expect(rotated.status == 200, "\(rotated.body)")
            let newSN = try #require(Self.field("alipay_cert_sn", in: rotated.body))

            // Every answer from now on is signed with the new key and says so; the worker learns it on the next call.
            try await stack.createOrder("ROT2", totalAmount: "2.00")
            _ = try await stack.sandboxControl("ROT2", "pay")
            try await stack.waitForStatus("ROT2", "TRADE_SUCCESS")
            #expect(stack.worker.log.contains("Alipay rotated its certificate"), "\(stack.worker.log)")
            #expect(stack.worker.log.contains(newSN))
            // And every later answer verifies with the adopted certificate, without fetching it again.
            try await stack.createOrder("ROT3", totalAmount: "3.00")
            _ = try await stack.sandboxControl("ROT3", "pay")
            try await stack.waitForStatus("ROT3", "TRADE_SUCCESS")
            #expect(stack.worker.log.components(separatedBy: "Alipay rotated its certificate").count == 2, "adopted once:\n\(stack.worker.log)")

            let out = stack.workspace.file("certs/alipayCertPublicKey_RSA2.next.crt").path
            let download = try await Command.run(
                try Executables.path("notifyctl"), ["certs", "download", "--sn", newSN, "--out", out], environment: stack.workerEnvironment)
            #expect(download.status == 0, "\(download.output)")
            let written = try AlipayCertificate(contentsOfFile: out, role: .alipayCertificate)
            #expect(written.sn == newSN)
            let unknown = try await Command.run(
                try Executables.path("notifyctl"), ["certs", "download", "--sn", "0123456789abcdef0123456789abcdef", "--out", out + ".x"],
                environment: stack.workerEnvironment)
            #expect(unknown.status == 2 && unknown.output.contains("CERT_NOT_EXIST"), "\(unknown.output)")

            let show = try await Command.run(try Executables.path("notifyctl"), ["certs", "show", "--json"], environment: stack.workerEnvironment)
            #expect(show.status == 0, "\(show.output)")
            let rows = try JSONSerialization.jsonObject(with: Data(show.output.utf8)) as? [[String: Any]] ?? []
            // The sandbox's root file holds an RSA root and an ECDSA one, left out of the SN as Alipay's SM2 root is.
            #expect(rows.compactMap { $0["role"] as? String } == ["app", "alipay", "root", "root"], "\(show.output)")
            #expect(rows.map { $0["sn"] is String } == [true, true, true, false], "\(show.output)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("after Alipay rotates its certificate, notifications signed with the new one are fetched for, verified, acknowledged at once and applied (the worker trusting the receiver's seal) — nothing authentic refused", arguments: TestEngine.allCases)
    func notificationsAfterRotation(engine: TestEngine) async throws {
        // No reconciling sweep: each payment must reach its order through its notification.
        guard
            let stack = try await WorkerStack.start(
                name: "cert-rotate-notify", engine: engine, worker: ["WORKER_RECONCILE_AFTER_SECONDS": "3600"], mode: .certificate)
        else { return }
        do {
            try await stack.createOrder("RTN1", totalAmount: "1.00")
            _ = try await stack.sandboxControl("RTN1", "pay")
            try await stack.waitForStatus("RTN1", "TRADE_SUCCESS")

            let rotated = try await HTTP.send(.POST, "\(stack.sandboxURL)/sandbox/certificates/rotate")
            #expect(rotated.status == 200, "\(rotated.body)")
            let newSN = try #require(Self.field("alipay_cert_sn", in: rotated.body))

            // The first thing signed with the new certificate is this notification: neither daemon has met it yet.
            try await stack.createOrder("RTN2", totalAmount: "2.00")
            _ = try await stack.sandboxControl("RTN2", "pay")
            try await stack.waitForStatus("RTN2", "TRADE_SUCCESS")
            #expect(try await stack.events("RTN2").filter { $0.source != "create" }.map(\.source) == ["notification"])
            let deliveries = try await WorkerScenarioTests.deliveries(stack, "RTN2")
            #expect(deliveries.first?["acknowledged"] as? Bool == true, "the first delivery was acknowledged: \(deliveries)")
            #expect(stack.receiver.process.log.contains("notification signed with Alipay's new certificate, adopted"), "\(stack.receiver.process.log)")
            #expect(stack.receiver.process.log.contains(newSN))
            // The worker reads the body the receiver sealed without verifying it again: it needs no certificate for it.
            #expect(!stack.worker.log.contains("Alipay rotated its certificate"), "\(stack.worker.log)")
            // The same body stored without a seal (as a receiver before seals stored it) is verified by the worker,
            // which then fetches the certificate it names; applying it again changes nothing.
            let stored = try #require(
                try await stack.database.read { db in
                    let job = try db.jobs(state: nil, kind: .notification, outTradeNo: "RTN2", limit: 10).first
                    return try job?.notificationId.flatMap { try db.notifications(ids: [$0]).first }
                })
            #expect(stored.seal != nil)
            _ = try await stack.database.append([
                IncomingNotification(notifyId: stored.notifyId + "-unsealed", outTradeNo: "RTN2", tradeStatus: stored.tradeStatus, body: stored.body)
            ])
            try await WorkerScenarioTests.eventually("the unsealed copy applied", stack) {
                try await stack.database.read { db in try db.jobs(state: nil, kind: .notification, outTradeNo: "RTN2", limit: 10) }
                    .allSatisfy { $0.state == .done }
            }
            #expect(stack.worker.log.contains("Alipay rotated its certificate") && stack.worker.log.contains(newSN), "\(stack.worker.log)")
            #expect(try await stack.events("RTN2").filter { $0.source != "create" }.count == 1, "the order moved once")

            // Later notifications verify with the adopted certificate, no new download.
            try await stack.createOrder("RTN3", totalAmount: "3.00")
            _ = try await stack.sandboxControl("RTN3", "pay")
            try await stack.waitForStatus("RTN3", "TRADE_SUCCESS")
            #expect(stack.receiver.process.log.components(separatedBy: "Alipay rotated its certificate").count == 2, "adopted once:\n\(stack.receiver.process.log)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    /// One certificate file of the worker's taken from another certificate set (made for the same keys), so that one
    /// SN it sends is not the one the sandbox (Alipay) issued.
    enum WrongFile: String, CaseIterable, Sendable {
        /// The app's own key, certified in another set: start-up accepts it (the key matches), `app_cert_sn` differs.
        case appCertificate = "isv.app-cert-not-exist"
        /// Another root bundle: `alipay_root_cert_sn` differs.
        case rootBundle = "isv.invalid-alipay-root-cert-sn"
    }

    @Test("a wrong app certificate or root file: the sandbox answers Alipay's error, and the job is dead-lettered once as a configuration error, not retried forever", arguments: WrongFile.allCases)
    func wrongCertificateSN(wrong: WrongFile) async throws {
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-notify-other-certs-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: other) }
        let keys = TestWorkspace.keys
        let files = try CertificateIssuing.makeSet(alipayKey: keys.alipay.publicKey, appKey: keys.app.publicKey, appId: TestWorkspace.appId)
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        let (name, text, variable) =
            wrong == .appCertificate
            ? ("appCertPublicKey.crt", files.appCertificate, "ALIPAY_APP_CERT_FILE") : ("alipayRootCert.crt", files.rootBundle, "ALIPAY_ROOT_CERT_FILE")
        try text.write(to: other.appendingPathComponent(name), atomically: true, encoding: .utf8)
        guard
            let stack = try await WorkerStack.start(
                name: "cert-wrong", sandboxFaults: "drop:100000", worker: [variable: other.appendingPathComponent(name).path], mode: .certificate)
        else { return }
        do {
            try await stack.createOrder("WRONG1", totalAmount: "3.00")
            _ = try await stack.sandboxControl("WRONG1", "pay")
            let dead = try await Self.waitForDeadJob(stack)
            #expect(dead.lastError?.contains(wrong.rawValue) == true, "\(dead.lastError ?? "")")
            #expect(dead.lastError?.contains("configuration error") == true)
            #expect(dead.attempts == 1, "a configuration error is not retried")
            #expect(try await stack.order("WRONG1")?.status == .waitBuyerPay)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    /// Waits until the sandbox recorded the receiver's `success` for the order's notification.
    static func waitForAcknowledgement(_ stack: WorkerStack, _ outTradeNo: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/deliveries?out_trade_no=\(outTradeNo)").body
            if last.contains(#""acknowledged":true"#) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("no acknowledged notification for \(outTradeNo) after \(timeout): \(last)\n--- receiver log:\n\(stack.receiver.process.log)")
    }

    static func waitForDeadJob(_ stack: WorkerStack, timeout: Duration = .seconds(30)) async throws -> Job {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let jobs = try await StoreInspector.jobs(in: stack.workspace, kind: .reconcile)
            if let dead = jobs.first(where: { $0.state == .dead }) { return dead }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("no dead reconcile job after \(timeout)\n--- worker log:\n\(stack.worker.log)\n--- sandbox log:\n\(stack.sandbox.log)")
    }

    static func field(_ name: String, in json: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        return object[name] as? String
    }
}
