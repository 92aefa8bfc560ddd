import AlipayKit
import ArgumentParser
import DaemonSupport
import Foundation
import Logging
import NotifyCore
import NotifyReceiver
import NotifyStore
import NotifyStoreEngines
import ServiceLifecycle

/// `notify-receiver`: verifies Alipay notifications, stores them durably, answers `success`; serves the orders API.
struct NotifyReceiverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-receiver",
        abstract: "Receive Alipay notifications (public listener) and serve the orders API, /metrics and /readyz (internal listener)."
    )

    @Option(name: .long, help: "JSON configuration file (default: $ALIPAY_NOTIFY_CONFIG; environment variables win).")
    var config: String?

    /// Only for scripts/bench/receiver: how notifications are committed (`group`, `per-request`), `none` (verified,
    /// not stored) or `bare` (a Hummingbird route answering `success` to anything: no decoding, no verification).
    @Option(name: .customLong("bench-writer"), help: .hidden)
    var benchWriter: BenchWriter = .group

    enum BenchWriter: String, ExpressibleByArgument {
        case group
        case perRequest = "per-request"
        case none
        case bare
    }

    func run() async throws {
        let program = "notify-receiver"
        let settings: NotifyConfiguration
        let verifier: NotificationVerifier
        let signer: RequestSigner
        do throws(ConfigurationError) {
            settings = try await NotifyConfiguration.load(configFile: config)
            signer = RequestSigner(configuration: try settings.alipayConfiguration())
            // One keyring per process: a certificate Alipay rotated to, once fetched, verifies notifications too.
            verifier = try settings.notificationVerifier(keyring: signer.configuration.certificates)
            try InternalListener.checkBinding(host: settings.api.host, token: settings.apiToken)
        } catch {
            DaemonBootstrap.fail(program, error.description)
        }

        DaemonBootstrap.requireBindable(program, host: settings.receiver.host, port: settings.receiver.port, key: "receiver.port", env: "RECEIVER_PORT")
        DaemonBootstrap.requireBindable(program, host: settings.api.host, port: settings.api.port, key: "api.port", env: "API_PORT")
        DaemonBootstrap.bootstrapLogging(label: program, level: settings.logLevel, format: settings.logFormat)
        let registry = DaemonBootstrap.bootstrapMetrics()
        let logger = Logger(label: program)
        for warning in settings.warnings { logger.warning("\(warning)") }

        let store: any Store
        do {
            store = try await StoreEngines.open(
                settings.storeURL, options: .init(sqliteCacheMegabytes: settings.storeCacheMegabytes(for: .receiver), daemon: true), logger: logger)
        } catch {
            DaemonBootstrap.fail(program, "store.url (STORE_URL) \(settings.storeURL): \(error)")
        }
        logger.info("store open", metadata: ["store": "\(store.location)"])

        let metrics = ReceiverMetrics(registry: registry)
        let writer = NotificationWriter(
            store: store, mode: benchWriter == .perRequest ? .perRequest : .groupCommit(maxBatch: 256, maxWait: .milliseconds(2)))
        if benchWriter == .none {
            logger.critical("BENCHMARK MODE (--bench-writer none): notifications are verified and answered but NOT stored")
        }
        if benchWriter == .bare {
            logger.critical("BENCHMARK MODE (--bench-writer bare): every POST /alipay/notify is answered success, NOTHING is verified or stored")
        }
        // QR orders ask Alipay (alipay.trade.precreate) while the API call waits.
        let precreate = AlipayClient(configuration: signer.configuration, readTimeout: settings.alipay.timeout)
        let orderService = OrderService(store: store, signer: signer, timeoutMinutes: settings.ordersTimeoutMinutes, precreate: precreate)
        let notifier = SystemdNotifier()
        let readiness = ReadinessReporter(listeners: 2, logger: logger) {
            notifier.ready()
            notifier.status("listening")
        }

        let publicApp = PublicListener(
            verifier: verifier, writer: benchWriter == .none ? nil : writer, store: store, metrics: metrics, limits: settings.receiverLimits,
            certificates: settings.isCertificateMode ? NotificationCertificateAdopter(client: precreate) : nil,
            seal: NotificationSeal(appPrivateKey: signer.configuration.appPrivateKey), bareForBenchmark: benchWriter == .bare
        ).application(host: settings.receiver.host, port: settings.receiver.port, logger: Logger(label: "\(program).public")) {
            readiness.listening("public", channel: $0)
        }
        let internalApp = InternalListener(
            orderService: orderService, store: store, metrics: metrics, token: settings.apiToken,
            webhookPolicy: EndpointPolicy(settings.webhooks)
        ).application(host: settings.api.host, port: settings.api.port, logger: Logger(label: "\(program).internal")) {
            readiness.listening("internal", channel: $0)
        }
        let watchdog = SystemdWatchdogService(notifier: notifier, logger: logger) {
            await store.isWritable()
        }

        // Shutdown runs in reverse order: watchdog (STOPPING=1), listeners (answer in-flight requests), the writer
        // flush, then the store's connections.
        await DaemonBootstrap.run(
            program,
            [
                .init(service: StoreEngines.service(for: store), serviceName: "store"),
                .init(service: WriterFlushService(writer: writer, logger: logger), serviceName: "writer"),
                .init(service: publicApp, serviceName: "public listener"),
                .init(service: internalApp, serviceName: "internal listener"),
                .init(service: watchdog, serviceName: "systemd watchdog"),
            ],
            logger: logger)
    }
}

/// Runs the command through the `async` entry point; at top level the synchronous overload would be chosen.
func runNotifyReceiver() async {
    await NotifyReceiverCommand.main()
}

await runNotifyReceiver()
