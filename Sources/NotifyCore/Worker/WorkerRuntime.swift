import AlipayKit
import AsyncHTTPClient
import Foundation
import Logging
import NotifyStore
import ServiceLifecycle

/// Everything `notify-worker` runs, wired from the configuration: so its `main` only parses arguments, and
/// `notifyctl reconcile` and the tests build the very same objects.
public struct WorkerRuntime: Sendable {
    /// The store: jobs, orders, notifications.
    public let store: any Store
    /// Notification jobs.
    public let notifications: NotificationProcessor
    /// Reconcile and close jobs, `notifyctl reconcile`.
    public let reconciler: Reconciler
    /// Refund jobs.
    public let refunder: Refunder
    /// Statement jobs and `notifyctl bills reconcile`; nil without a statement source.
    public let statements: StatementReconciler?
    /// Runs one job to its end.
    public let runner: JobRunner
    /// Outcome counts shared by the worker and the summary.
    public let stats: WorkerStats
    /// The configuration it was built from.
    public let configuration: NotifyConfiguration
    /// `deliver` jobs; nil when no HTTP client for webhooks was given.
    public let deliverer: WebhookDeliverer?

    /// Builds the runtime. `gateway` defaults to an ``AlipayClient`` for `alipay.gatewayUrl` (which needs the app
    /// private key and Alipay's public key: a missing or unreadable one is a ``ConfigurationError``). With
    /// `webhookClient` (the caller shuts it down), `deliver` jobs run in a lane of their own.
    public init(
        configuration: NotifyConfiguration, store: any Store, gateway: (any TradeGateway)? = nil, webhookClient: HTTPClient? = nil,
        statementSource: (any StatementSource)? = nil,
        backoffRandom: @escaping @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) },
        metrics: WorkerMetrics = WorkerMetrics(), logger: Logger = Logger(label: "alipay-notify.worker"),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(ConfigurationError) {
        let appId = try configuration.requireAppId()
        let client: any TradeGateway
        if let gateway {
            client = gateway
        } else {
            client = AlipayClient(configuration: try configuration.alipayConfiguration(), readTimeout: configuration.alipay.timeout)
        }
        // Certificate mode: the verifier shares the client's keyring, so a certificate Alipay rotated to, once fetched
        // (for an answer or for a stored notification that names it), verifies notifications too.
        let alipayClient = client as? AlipayClient
        let verifier = try configuration.notificationVerifier(keyring: alipayClient?.configuration.certificates)
        let certificates = configuration.isCertificateMode ? alipayClient.map { NotificationCertificateAdopter(client: $0) } : nil
        let applier = TradeApplier(
            appId: appId, sellerId: configuration.alipay.sellerId, confirmWithQuery: configuration.worker.confirmWithQuery)
        self.configuration = configuration
        self.store = store
        // The receivers' seal: the app's private key is the client's, or the configured one with a test's gateway.
        var appKey = alipayClient?.configuration.appPrivateKey
        if appKey == nil, configuration.alipay.appPrivateKeyFile != nil { appKey = try configuration.loadAppPrivateKey() }
        notifications = NotificationProcessor(
            store: store, verifier: verifier, applier: applier, gateway: client, metrics: metrics, certificates: certificates,
            seal: appKey.map(NotificationSeal.init(appPrivateKey:)))
        reconciler = Reconciler(store: store, gateway: client, applier: applier, metrics: metrics)
        refunder = Refunder(store: store, gateway: client, applier: applier, metrics: metrics)
        // Alipay's statements when the gateway is Alipay's client (a test's fake gateway brings its own source, or none).
        let source = statementSource ?? (client as? AlipayClient).map { AlipayStatementSource(client: $0) }
        statements = source.map { StatementReconciler(store: store, source: $0, now: now) }
        let backoff = Backoff(base: configuration.worker.retryBaseSeconds, cap: configuration.worker.retryMaxSeconds, random: backoffRandom)
        deliverer = webhookClient.map {
            WebhookDeliverer(
                store: store, http: $0, settings: DeliverySettings(configuration.webhooks, random: backoffRandom), metrics: metrics,
                logger: logger, now: now)
        }
        runner = JobRunner(
            store: store, notifications: notifications, reconciler: reconciler,
            retry: RetryPolicies(default: RetryPolicy(backoff: backoff, maxAttempts: configuration.worker.maxAttempts)),
            metrics: metrics, logger: logger, now: now, deliverer: deliverer, refunder: refunder,
            statements: statements)
        stats = WorkerStats()
    }

    /// The services of `notify-worker`, in start order (graceful shutdown runs in reverse): the sweeper, the
    /// summary, then the worker; `onReady` is called once the worker's first claim succeeded.
    public func services(
        owner: String = Worker.makeOwner(), summaryInterval: Duration = .seconds(60), logger: Logger,
        onReady: @escaping @Sendable () -> Void = {}
    ) -> [any Service] {
        let sweeper = Sweeper(store: store, policy: Sweeper.Policy(configuration), logger: logger, now: runner.now)
        let summary = WorkerSummary(stats: stats, store: store, interval: summaryInterval, logger: logger)
        let worker = Worker(
            runner: runner, store: store, owner: owner, settings: Worker.Settings(configuration.worker), stats: stats, logger: logger,
            onReady: onReady)
        guard deliverer != nil else { return [sweeper, summary, worker] }
        // Its own lease owner: each lane gives back only its own leases when it stops.
        let deliveries = Worker(
            runner: runner, store: store, owner: owner + "/webhooks", settings: .deliveries(configuration), stats: stats, logger: logger)
        return [sweeper, summary, deliveries, worker]
    }
}
