import Foundation
import Logging
import NotifyStore
import ServiceLifecycle

/// Logs one line of what the worker did every `interval`, with the queue's depth: the worker's `/metrics` substitute
/// (it has no listener; the receiver's `/metrics` reads the queue and orders from the database).
public struct WorkerSummary: Service {
    /// Outcome counts to report.
    public let stats: WorkerStats
    /// The store whose queue depth is reported.
    public let store: any Store
    /// Between two lines.
    public let interval: Duration
    /// Where the line goes.
    public let logger: Logger

    /// A summary logger.
    public init(stats: WorkerStats, store: any Store, interval: Duration = .seconds(60), logger: Logger) {
        self.stats = stats
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// Logs every `interval` until graceful shutdown, and once more at the end.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let interval = interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await log()
        }
    }

    /// Logs one summary line now.
    public func log() async {
        let counts = await stats.takeInterval()
        var metadata: Logger.Metadata = [:]
        for outcome in [JobReport.Outcome.applied, .unchanged, .review, .retry, .dead, .leaseLost] {
            metadata[outcome.rawValue] = "\(counts[outcome] ?? 0)"
        }
        let now = Date()
        if let (queueStats, oldestAge) = try? await store.read({ db in (try db.queueStats(), try db.oldestPendingAge(now: now)) }) {
            metadata["pending"] = "\(queueStats.pending)"
            metadata["running"] = "\(queueStats.running)"
            metadata["dead_total"] = "\(queueStats.dead)"
            if let oldestAge { metadata["oldest_pending_seconds"] = "\(Int(oldestAge))" }
        }
        logger.info("worker summary", metadata: metadata)
    }
}
