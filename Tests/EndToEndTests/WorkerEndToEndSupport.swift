import AlipayKit
import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import StoreTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The three daemons of one worker end-to-end test on free loopback ports: `alipay-sandbox` (the gateway and the
/// source of notifications), `notify-receiver` (notify_url and the orders API) and `notify-worker`.
struct WorkerStack {
    let workspace: TestWorkspace
    let sandbox: DaemonProcess
    let sandboxURL: String
    let receiver: ReceiverDaemon
    let worker: DaemonProcess
    /// The worker's loopback listener: `GET /metrics`, `GET /healthz`.
    let metricsURL: String
    /// The same store the daemons use, opened by the test (never migrating: the daemons did).
    let database: any Store
    /// The worker's environment, to start another worker on the same stack.
    let workerEnvironment: [String: String]

    /// Starts the sandbox, the receiver (pointed at the sandbox) and the worker with fast timings, on a fresh store
    /// of `engine`. Nil when that engine cannot run here: the reason is printed (a failure under CI).
    static func start(
        name: String, engine: TestEngine = .sqlite, sandboxFaults: String? = nil, worker extra: [String: String] = [:],
        receiver receiverExtra: [String: String] = [:], sandbox sandboxExtra: [String: String] = [:], mode: AlipayMode = .publicKey
    ) async throws -> WorkerStack? {
        guard let workspace = try TestWorkspace.make(name: name, engine: engine) else { return nil }
        let modeEnvironment = try await mode.prepare(workspace)
        let extra = modeEnvironment.daemons.merging(extra) { $1 }
        let receiverExtra = modeEnvironment.daemons.merging(receiverExtra) { $1 }
        let storeURL = workspace.storeURL
        let sandboxPort = try Ports.free()
        let sandboxURL = "http://127.0.0.1:\(sandboxPort)"
        var sandboxEnvironment = [
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": "\(sandboxPort)",
            "SANDBOX_APP_ID": TestWorkspace.appId,
            "SANDBOX_SELLER_ID": TestWorkspace.sellerId,
            "SANDBOX_ALIPAY_PRIVATE_KEY_FILE": workspace.file("keys/alipay_private_key.pem").path,
            "SANDBOX_APP_PUBLIC_KEY_FILE": workspace.file("keys/app_public_key.pem").path,
            "SANDBOX_TIME_SCALE": "1000",
        ]
        if let sandboxFaults { sandboxEnvironment["SANDBOX_FAULTS"] = sandboxFaults }
        sandboxEnvironment.merge(modeEnvironment.sandbox) { $1 }
        sandboxEnvironment.merge(sandboxExtra) { $1 }
        let sandbox = try DaemonProcess.start("alipay-sandbox", environment: sandboxEnvironment, logFile: workspace.file("sandbox.log"))
        do {
            try await sandbox.waitUntilHealthy("\(sandboxURL)/healthz")
        } catch {
            await sandbox.stop()
            throw error
        }

        let gateway = ["ALIPAY_GATEWAY_URL": "\(sandboxURL)/gateway.do"]
        let receiver: ReceiverDaemon
        do {
            receiver = try await ReceiverDaemon.start(in: workspace, extra: gateway.merging(receiverExtra) { $1 })
        } catch {
            await sandbox.stop()
            throw error
        }
        let metricsPort = try Ports.free()
        let workerEnvironment = workspace.environment(
            receiverPort: Int(receiver.publicURL.split(separator: ":").last!)!, apiPort: Int(receiver.internalURL.split(separator: ":").last!)!,
            extra: gateway.merging(
                [
                    "WORKER_POLL_MILLISECONDS": "20",
                    "WORKER_SWEEP_INTERVAL_SECONDS": "0.2",
                    "WORKER_RECONCILE_AFTER_SECONDS": "1",
                    "WORKER_RETRY_BASE_SECONDS": "0.2",
                    "WORKER_RETRY_MAX_SECONDS": "1",
                    "WORKER_METRICS_PORT": "\(metricsPort)",
                ].merging(extra) { $1 }
            ) { $1 })
        let worker: DaemonProcess
        do {
            worker = try DaemonProcess.start("notify-worker", environment: workerEnvironment, logFile: workspace.file("worker.log"))
        } catch {
            await receiver.process.stop()
            await sandbox.stop()
            throw error
        }
        let metricsURL = "http://127.0.0.1:\(metricsPort)"
        do {
            try await worker.waitUntilHealthy("\(metricsURL)/healthz")
        } catch {
            await receiver.process.stop()
            await sandbox.stop()
            throw error
        }
        var logger = Logger(label: "e2e")
        logger.logLevel = .warning
        let database = try await StoreEngines.open(try StoreURL(parsing: storeURL), options: .init(migrate: false), logger: logger)
        return WorkerStack(
            workspace: workspace, sandbox: sandbox, sandboxURL: sandboxURL, receiver: receiver, worker: worker, metricsURL: metricsURL,
            database: database, workerEnvironment: workerEnvironment)
    }

    /// Creates the order through the receiver's API and opens the same trade at the sandbox (the buyer reached the cashier).
    func createOrder(_ outTradeNo: String, totalAmount: String) async throws {
        let created = try await HTTP.send(
            .POST, "\(receiver.internalURL)/api/orders", headers: [("Content-Type", "application/json")],
            body: #"{"out_trade_no":"\#(outTradeNo)","total_amount":"\#(totalAmount)","subject":"e2e \#(outTradeNo)"}"#)
        guard created.status == 201 else { throw HarnessError("POST /api/orders answered \(created.status): \(created.body)") }
        try await openTrade(outTradeNo, totalAmount: totalAmount)
    }

    /// Opens the trade at the sandbox, its notify_url pointing at the receiver.
    func openTrade(_ outTradeNo: String, totalAmount: String) async throws {
        let opened = try await HTTP.send(
            .POST, "\(sandboxURL)/sandbox/trades", headers: [("Content-Type", "application/json")],
            body:
                #"{"out_trade_no":"\#(outTradeNo)","total_amount":"\#(totalAmount)","subject":"e2e \#(outTradeNo)","#
                + #""notify_url":"\#(receiver.publicURL)/alipay/notify"}"#
        )
        guard opened.status == 201 || opened.status == 200 else {
            throw HarnessError("POST /sandbox/trades answered \(opened.status): \(opened.body)")
        }
    }

    /// Drives the sandbox's control API (`pay`, `cancel`, `refund`).
    /// Runs `notifyctl` on the stack's store, with the stack's gateway (the sandbox).
    func notifyctl(_ arguments: [String]) async throws -> Command {
        var environment = workspace.environment(receiverPort: 9, apiPort: 9)
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        environment["ALIPAY_GATEWAY_URL"] = "\(sandboxURL)/gateway.do"
        return try await Command.run(try Executables.path("notifyctl"), arguments, environment: environment, timeout: .seconds(120))
    }

    func sandboxControl(_ outTradeNo: String, _ action: String, body: String = "{}") async throws -> HTTP.Reply {
        let reply = try await HTTP.send(
            .POST, "\(sandboxURL)/sandbox/trades/\(outTradeNo)/\(action)", headers: [("Content-Type", "application/json")], body: body)
        guard reply.status == 200 else { throw HarnessError("sandbox \(action) answered \(reply.status): \(reply.body)") }
        return reply
    }

    func order(_ outTradeNo: String) async throws -> Order? {
        try await StoreOrders(database).find(outTradeNo)
    }

    func events(_ outTradeNo: String) async throws -> [OrderEvent] {
        try await StoreOrders(database).events(outTradeNo)
    }

    /// Waits until the order reaches `status`, failing with the daemons' logs after `timeout`.
    @discardableResult
    func waitForStatus(_ outTradeNo: String, _ status: String, timeout: Duration = .seconds(30)) async throws -> Order {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let order = try await order(outTradeNo), order.status.rawValue == status { return order }
            guard worker.isRunning else { throw HarnessError("notify-worker exited; log:\n\(worker.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let current = try await order(outTradeNo)?.status.rawValue ?? "no order"
        throw HarnessError(
            "order \(outTradeNo) is \(current), not \(status), after \(timeout)\n--- worker log:\n\(worker.log)\n--- receiver log:\n"
                + "\(receiver.process.log)\n--- sandbox log:\n\(sandbox.log)")
    }

    /// SIGTERM the worker (it must exit 0), then stop the others; removes the workspace.
    func shutdown() async throws -> Int32 {
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit()
        if status != 0 { print("notify-worker exited \(status) on SIGTERM; its log:\n\(worker.log.suffix(6000))") }
        receiver.process.signal(SIGTERM)
        _ = try? await receiver.process.waitForExit()
        await sandbox.stop()
        await database.close()
        return status
    }

    /// Stops everything (failure path), keeping the workspace for its logs.
    func kill() async {
        await worker.stop()
        await receiver.process.stop()
        await sandbox.stop()
        await database.close()
    }
}

/// How the merchant's account is set up at Alipay: public keys (the default), or certificate mode (公钥证书模式),
/// optionally with AES content encryption switched on.
enum AlipayMode: Sendable {
    case publicKey
    case certificate
    case certificateWithEncryption

    /// Makes the files of the mode in `workspace` (certificates with the real `alipay-sandbox certs`, an AES key)
    /// and returns the environment of the sandbox and of the daemons.
    func prepare(_ workspace: TestWorkspace) async throws -> (sandbox: [String: String], daemons: [String: String]) {
        guard self != .publicKey else { return ([:], [:]) }
        let certs = workspace.file("certs").path
        let made = try await Command.run(
            try Executables.path("alipay-sandbox"),
            [
                "certs", "--dir", certs, "--app-id", TestWorkspace.appId, "--alipay-private-key-file",
                workspace.file("keys/alipay_private_key.pem").path, "--app-public-key-file", workspace.file("keys/app_public_key.pem").path,
            ])
        guard made.status == 0 else { throw HarnessError("alipay-sandbox certs failed (\(made.status)): \(made.output)") }
        var sandbox = ["SANDBOX_CERT_DIR": certs]
        var daemons = [
            // Certificate mode and a public key file exclude each other: the key file goes.
            "ALIPAY_PUBLIC_KEY_FILE": "",
            "ALIPAY_APP_CERT_FILE": "\(certs)/appCertPublicKey_\(TestWorkspace.appId).crt",
            "ALIPAY_CERT_FILE": "\(certs)/alipayCertPublicKey_RSA2.crt",
            "ALIPAY_ROOT_CERT_FILE": "\(certs)/alipayRootCert.crt",
        ]
        if self == .certificateWithEncryption {
            let keyFile = workspace.file("keys/aes_key.txt")
            try ContentEncryptionKey.generate().base64.write(to: keyFile, atomically: true, encoding: .utf8)
            sandbox["SANDBOX_ENCRYPT_KEY_FILE"] = keyFile.path
            sandbox["SANDBOX_REQUIRE_ENCRYPTION"] = "true"
            daemons["ALIPAY_ENCRYPT_KEY_FILE"] = keyFile.path
        }
        return (sandbox, daemons)
    }
}
