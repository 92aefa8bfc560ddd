import AlipayKit
import Foundation
import Logging
import NotifyStore
import ServiceLifecycle

/// Everything `notify-worker` runs, wired from the configuration: so its `main` only parses arguments, and
/// `notifyctl reconcile` and the tests build the very same objects.
public struct WorkerRuntime: Sendable {
    /// The database.
    public let database: NotifyDatabase
    /// The queue.
    public let queue: SQLiteJobQueue
    /// Notification jobs.
    public let notifications: NotificationProcessor
    /// Reconcile and close jobs, `notifyctl reconcile`.
    public let reconciler: Reconciler
    /// Runs one job to its end.
    public let runner: JobRunner
    /// Outcome counts shared by the worker and the summary.
    public let stats: WorkerStats
    /// The configuration it was built from.
    public let configuration: NotifyConfiguration

    /// Builds the runtime. `gateway` defaults to an ``AlipayClient`` for `alipay.gatewayUrl` (which needs the app
    /// private key and Alipay's public key: a missing or unreadable one is a ``ConfigurationError``).
    public init(
        configuration: NotifyConfiguration, database: NotifyDatabase, gateway: (any TradeGateway)? = nil,
        backoffRandom: @escaping @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) },
        metrics: WorkerMetrics = WorkerMetrics(), logger: Logger = Logger(label: "alipay-notify.worker"),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(ConfigurationError) {
        let appId = try configuration.requireAppId()
        let verifier = try configuration.notificationVerifier()
        let client: any TradeGateway
        if let gateway {
            client = gateway
        } else {
            client = AlipayClient(configuration: try configuration.alipayConfiguration())
        }
        let queue = SQLiteJobQueue(database: database)
        let applier = TradeApplier(
            appId: appId, sellerId: configuration.alipay.sellerId, confirmWithQuery: configuration.worker.confirmWithQuery, queue: queue)
        self.configuration = configuration
        self.database = database
        self.queue = queue
        notifications = NotificationProcessor(database: database, verifier: verifier, applier: applier, gateway: client, metrics: metrics)
        reconciler = Reconciler(database: database, gateway: client, applier: applier, metrics: metrics)
        runner = JobRunner(
            database: database, queue: queue, notifications: notifications, reconciler: reconciler,
            backoff: Backoff(base: configuration.worker.retryBaseSeconds, cap: configuration.worker.retryMaxSeconds, random: backoffRandom),
            maxAttempts: configuration.worker.maxAttempts, metrics: metrics, logger: logger, now: now)
        stats = WorkerStats()
    }

    /// The services of `notify-worker`, in start order (graceful shutdown runs in reverse): the sweeper, the
    /// summary, then the worker; `onReady` is called once the worker's first claim succeeded.
    public func services(
        owner: String = Worker.makeOwner(), summaryInterval: Duration = .seconds(60), logger: Logger,
        onReady: @escaping @Sendable () -> Void = {}
    ) -> [any Service] {
        let sweeper = Sweeper(
            database: database, queue: queue, policy: Sweeper.Policy(configuration), logger: logger, now: runner.now)
        let summary = WorkerSummary(stats: stats, queue: queue, interval: summaryInterval, logger: logger)
        let worker = Worker(
            runner: runner, queue: queue, owner: owner, settings: Worker.Settings(configuration.worker), stats: stats, logger: logger,
            onReady: onReady)
        return [sweeper, summary, worker]
    }
}
