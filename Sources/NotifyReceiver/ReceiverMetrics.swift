import Foundation
import NotifyCore
import NotifyStore
import Prometheus

/// The receiver's Prometheus metrics, registered on the registry the internal `/metrics` route emits.
///
/// Counters are made through the registry directly (not the global `MetricsSystem`) so each test can use its
/// own registry and read exact values. Names and meanings are listed in /work/coord/METRICS.md; the store's
/// writer adds `alipay_notify_enqueue_commit_seconds` (per transaction) and `alipay_notify_enqueue_batch_size`
/// through the global `MetricsSystem`, which the daemon bootstraps onto the same registry.
public final class ReceiverMetrics: Sendable {
    /// Reasons a notification is refused, pre-registered so dashboards see zeros instead of missing series.
    public static let knownRejectReasons = [
        "bad_form", "missing_sign", "bad_sign_encoding", "sign_type", "foreign_app_id", "bad_signature", "missing_field",
        "bad_field", "too_large", "content_type", "rate_limited", "store_unavailable",
    ]

    /// The registry every metric lives in.
    public let registry: PrometheusCollectorRegistry
    let received: Counter
    let accepted: Counter
    let duplicates: Counter
    let commitSeconds: DurationHistogram
    let queueJobs: [JobState: Gauge]
    let oldestPendingSeconds: Gauge
    let ordersNeedingReview: Gauge
    let ordersCreated: Counter
    /// Authentic notifications this version does not understand (stored, acknowledged, parked for review).
    let unsupported: Counter

    /// Registers the receiver's metrics on `registry`.
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        received = registry.makeCounter(
            descriptor: Self.descriptor("alipay_notify_notifications_received_total", "POST /alipay/notify requests received"))
        accepted = registry.makeCounter(
            descriptor: Self.descriptor("alipay_notify_notifications_accepted_total", "Verified notifications stored for the first time"))
        duplicates = registry.makeCounter(
            descriptor: Self.descriptor("alipay_notify_notifications_duplicates_total", "Verified re-deliveries of a stored notify_id"))
        commitSeconds = registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "alipay_notify_notification_ack_seconds",
                "Per request: time a verified notification waited for its batch to commit before `success` was answered"),
            buckets: [
                .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
            ])
        var gauges: [JobState: Gauge] = [:]
        for state in JobState.allCases {
            gauges[state] = registry.makeGauge(
                descriptor: Self.descriptor("alipay_notify_queue_jobs", "Jobs in the queue by state"), labels: [("state", state.rawValue)])
        }
        queueJobs = gauges
        oldestPendingSeconds = registry.makeGauge(
            descriptor: Self.descriptor("alipay_notify_queue_oldest_pending_seconds", "Age of the oldest pending job (0 when none)"))
        ordersNeedingReview = registry.makeGauge(
            descriptor: Self.descriptor("alipay_notify_orders_needing_review", "Orders flagged for a person to look at"))
        ordersCreated = registry.makeCounter(descriptor: Self.descriptor("alipay_notify_orders_created_total", "Orders created through the API"))
        unsupported = registry.makeCounter(
            descriptor: Self.descriptor(
                "alipay_notify_notifications_unsupported_total", "Authentic notifications this version does not understand, stored for review"))
        for reason in Self.knownRejectReasons { _ = rejectedCounter(reason) }
    }

    /// Counts a refused notification under a stable reason label.
    func rejected(_ reason: String) {
        rejectedCounter(reason).increment()
    }

    private func rejectedCounter(_ reason: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor("alipay_notify_notifications_rejected_total", "Notifications answered failure before storing, by reason"),
            labels: [("reason", reason)])
    }

    /// Sets an `alipay_notify_orders{status}` gauge.
    func setOrders(status: String, count: Int) {
        registry.makeGauge(descriptor: Self.descriptor("alipay_notify_orders", "Orders by status"), labels: [("status", status)]).set(Double(count))
    }

    /// Reads queue depth, the oldest pending job's age and orders by status from the database; called on each scrape.
    ///
    /// A failed read leaves the previous values: a scrape must not fail because SQLite was briefly busy.
    /// One read transaction per scrape (a snapshot of queue and orders); when the store cannot answer, the gauges keep
    /// their last values.
    public func refresh(store: any Store, now: Date = Date()) async {
        guard
            let (stats, oldestAge, counts, needingReview, endpoints, undelivered, statement) = try? await store.read({ db in
                (
                    try db.queueStats(), try db.oldestPendingAge(now: now), try db.orderCounts(), try db.ordersNeedingReview(),
                    try db.webhookEndpoints(), try db.oldestUndeliveredByEndpoint(), try db.statementChecks(limit: 1).first
                )
            })
        else { return }
        // The latest day's statement check: what the alert watches (0 before the first check).
        registry.makeGauge(
            descriptor: Self.descriptor(
                "alipay_notify_statement_differences", "Differences between the latest checked Alipay statement and the database")
        ).set(Double(statement?.differences.count ?? 0))
        let enabled = endpoints.filter(\.enabled).count
        registry.makeGauge(
            descriptor: Self.descriptor("alipay_notify_webhook_endpoints", "Webhook endpoints by state"), labels: [("state", "enabled")]
        ).set(Double(enabled))
        registry.makeGauge(
            descriptor: Self.descriptor("alipay_notify_webhook_endpoints", "Webhook endpoints by state"), labels: [("state", "disabled")]
        ).set(Double(endpoints.count - enabled))
        for endpoint in endpoints {
            registry.makeGauge(
                descriptor: Self.descriptor(
                    "alipay_notify_webhook_oldest_undelivered_seconds", "Age of the oldest event not yet delivered to the endpoint (0 when none)"),
                labels: [("endpoint", endpoint.endpointId)]
            ).set(undelivered[endpoint.endpointId].map { max(0, now.timeIntervalSince($0)) } ?? 0)
        }
        queueJobs[.pending]?.set(Double(stats.pending))
        queueJobs[.running]?.set(Double(stats.running))
        queueJobs[.done]?.set(Double(stats.done))
        queueJobs[.dead]?.set(Double(stats.dead))
        oldestPendingSeconds.set(oldestAge ?? 0)
        for status in OrderStatus.allCases {
            setOrders(status: status.rawValue, count: counts[status] ?? 0)
        }
        ordersNeedingReview.set(Double(needingReview))
    }

    /// A metric name with its `# HELP` text (no unit suffix beyond what the name already says).
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The Prometheus text exposition of every metric in the registry.
    public func exposition() -> String {
        registry.emitToString()
    }
}
