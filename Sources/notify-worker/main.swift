import AlipayKit
import ArgumentParser
import AsyncHTTPClient
import DaemonSupport
import Foundation
import Logging
import NotifyCore
import NotifyStore
import NotifyStoreEngines
import ServiceLifecycle

/// `notify-worker`: drains the queue — applies notifications, reconciles late orders with `alipay.trade.query`,
/// closes timed-out orders — with leases, retries and dead letters.
///
/// It accepts nothing from the internet. Its own counters (job outcomes, `trade.query` results, reviews) are served on a
/// loopback `GET /metrics` (`worker.metricsHost`, `worker.metricsPort`; port 0 turns it off); queue depth and orders
/// come from the receiver's `/metrics`, read from the database. It also logs a one-line summary every minute.
struct NotifyWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-worker",
        abstract: "Drain the alipay-notify job queue: apply notifications, reconcile and close orders, retry and dead-letter."
    )

    @Option(name: .long, help: "JSON configuration file (default: $ALIPAY_NOTIFY_CONFIG; environment variables win).")
    var config: String?

    func run() async throws {
        let program = "notify-worker"
        let settings: NotifyConfiguration
        let alipay: AlipayConfiguration
        do throws(ConfigurationError) {
            settings = try await NotifyConfiguration.load(configFile: config)
            // Fail at start-up, with the key named, rather than on the first job (this reads both key files).
            alipay = try settings.alipayConfiguration()
        } catch {
            DaemonBootstrap.fail(program, error.description)
        }

        DaemonBootstrap.requireBindable(
            program, host: settings.workerMetrics.host, port: settings.workerMetrics.port, key: "worker.metricsPort", env: "WORKER_METRICS_PORT")
        DaemonBootstrap.bootstrapLogging(label: program, level: settings.logLevel, format: settings.logFormat)
        let registry = DaemonBootstrap.bootstrapMetrics()
        WorkerMetrics().exportZeros(kinds: JobRunner.kinds.union(JobRunner.deliveryKinds))
        let logger = Logger(label: program)
        for warning in settings.warnings { logger.warning("\(warning)") }

        let store: any Store
        do {
            store = try await StoreEngines.open(
                settings.storeURL, options: .init(sqliteCacheMegabytes: settings.storeCacheMegabytes(for: .worker), daemon: true), logger: logger)
        } catch {
            DaemonBootstrap.fail(program, "store.url (STORE_URL) \(settings.storeURL): \(error)")
        }
        logger.info("store open", metadata: ["store": "\(store.location)"])
        // The worker's own HTTP client, allowed as many connections to the gateway as jobs may be in flight
        // (the shared client stops at 8 per host: further calls would wait in its pool while their deadline runs).
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, settings.worker.concurrency)
        // alipay.timeoutSeconds at the socket too: an answer that stops arriving fails at once, not at the deadline.
        httpConfiguration.timeout = .init(connect: .seconds(3), read: AlipayClient.timeAmount(settings.alipay.timeout))
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        // Deliveries to the merchant's endpoints get a client of their own: no redirects, their own pool.
        let webhookClient = WebhookDeliverer.makeHTTPClient(timeout: settings.webhooks.timeout)
        let runtime: WorkerRuntime
        do throws(ConfigurationError) {
            let gateway = AlipayClient(
                configuration: alipay, httpClient: httpClient, readTimeout: settings.alipay.timeout)
            runtime = try WorkerRuntime(configuration: settings, store: store, gateway: gateway, webhookClient: webhookClient, logger: logger)
        } catch {
            DaemonBootstrap.fail(program, error.description)
        }

        let notifier = SystemdNotifier()
        let services = runtime.services(logger: logger) {
            notifier.ready()
            notifier.status("draining the queue")
        }
        let watchdog = SystemdWatchdogService(notifier: notifier, logger: logger) {
            await store.isWritable()
        }
        var configurations = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        if settings.workerMetrics.port != 0 {
            let listener = MetricsListener(registry: registry, token: settings.apiToken).application(
                host: settings.workerMetrics.host, port: settings.workerMetrics.port, logger: Logger(label: "\(program).metrics"))
            configurations.insert(.init(service: listener, serviceName: "metrics listener"), at: 0)
        }
        if let keyring = alipay.certificates {
            configurations.append(.init(service: CertificateExpiry(keyring: keyring, logger: logger), serviceName: "certificate expiry"))
        }
        configurations.append(.init(service: watchdog, serviceName: "systemd watchdog"))
        configurations.insert(.init(service: StoreEngines.service(for: store), serviceName: "store"), at: 0)
        // Shutdown runs in reverse order: watchdog (STOPPING=1), the worker (stop claiming, finish in-flight jobs,
        // release the leases of the rest), the summary, the sweeper, then the metrics listener.
        await DaemonBootstrap.run(program, configurations, logger: logger)
        try? await httpClient.shutdown()
        try? await webhookClient.shutdown()
    }
}

/// Runs the command through `AsyncParsableCommand.main()`: inside an `async` function the async overload is chosen,
/// while at top level Swift picks `ParsableCommand.main()`, which refuses to run an asynchronous command.
func runNotifyWorker() async {
    await NotifyWorkerCommand.main()
}

await runNotifyWorker()
