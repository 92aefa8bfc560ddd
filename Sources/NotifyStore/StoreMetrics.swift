import CoreMetrics
import Metrics

/// The store's metrics, named `alipay_notify_…`.
struct StoreMetrics: Sendable {
    /// Time from BEGIN to COMMIT of one notification batch (a histogram with Prometheus).
    let enqueueCommitSeconds: CoreMetrics.Timer
    /// Notifications per committed batch.
    let enqueueBatchSize: Recorder
    /// Committed notification batches (transactions).
    let enqueueCommits: Counter
    /// Batches whose transaction failed; every notification in them was answered with an error.
    let enqueueCommitFailures: Counter
    /// Notifications stored for the first time (a job was enqueued); re-deliveries are the receiver's
    /// `alipay_notify_notifications_duplicates_total`.
    let notificationsStored: Counter

    /// Metrics from `factory`, by default the one `MetricsSystem` was bootstrapped with.
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        enqueueCommitSeconds = CoreMetrics.Timer(label: "alipay_notify_enqueue_commit_seconds", factory: factory)
        enqueueBatchSize = Recorder(label: "alipay_notify_enqueue_batch_size", aggregate: true, factory: factory)
        enqueueCommits = Counter(label: "alipay_notify_enqueue_commits_total", factory: factory)
        enqueueCommitFailures = Counter(label: "alipay_notify_enqueue_commit_failures_total", factory: factory)
        notificationsStored = Counter(label: "alipay_notify_notifications_stored_total", factory: factory)
    }
}
