import Foundation
import Metrics
import Synchronization

/// A verified notification as the receiver hands it to the store.
public struct IncomingNotification: Sendable, Equatable {
    /// Alipay's `notify_id`: deliveries with the same one are the same notification.
    public var notifyId: String
    /// The merchant order number.
    public var outTradeNo: String
    /// Alipay's `trade_status`.
    public var tradeStatus: String
    /// The exact request body as received.
    public var body: String
    /// The receiver's word that it verified `body` (see ``StoredNotification/seal``); nil stores none.
    public var seal: String?

    /// A notification to store.
    public init(notifyId: String, outTradeNo: String, tradeStatus: String, body: String, seal: String? = nil) {
        self.notifyId = notifyId
        self.outTradeNo = outTradeNo
        self.tradeStatus = tradeStatus
        self.body = body
        self.seal = seal
    }
}

/// What `NotificationWriter.append` did, once it is durable.
public enum AppendResult: Sendable, Equatable {
    /// First delivery: the notification and its job were committed.
    case stored(notificationId: Int64)
    /// A re-delivery: its delivery count was bumped, no new job.
    case duplicate(notificationId: Int64)
}

/// Stores verified notifications durably, gathering concurrent appends into one transaction (group commit).
///
/// With `synchronous=FULL` every commit waits for an fsync, so one transaction per notification caps the
/// receiver at a few thousand per second; one transaction per batch amortises the fsync over the batch.
/// Each caller resumes only after its batch committed; when the commit fails every caller of that batch gets
/// `StoreError.unavailable` (the receiver answers `failure`, Alipay retries) and nothing of that batch is stored.
///
/// How a batch forms: one loop takes what is waiting and commits it together (at most `maxBatch`), and starts over;
/// notifications that arrive while a batch commits wait for the next one, so under load batches grow by themselves.
/// Under light traffic (the previous batch was a lone notification) a lone notification waits at most `maxWait` for
/// company (ending early once `maxBatch` are waiting).
///
/// ```swift
/// let writer = NotificationWriter(store: store)
/// switch try await writer.append(notification) { case .stored, .duplicate: answer("success") }
/// await writer.shutdown()
/// ```
public final class NotificationWriter: Sendable {
    /// How appends become transactions.
    public enum Mode: Sendable, Equatable {
        /// Up to `maxBatch` appends per transaction, waiting at most `maxWait` to gather them.
        case groupCommit(maxBatch: Int, maxWait: Duration)
        /// One transaction per append (the benchmark's baseline).
        case perRequest
    }

    /// Counts since the writer started, for tests and metrics.
    public struct Counts: Sendable, Equatable {
        /// Transactions committed.
        public var committedBatches = 0
        /// Transactions that failed.
        public var failedBatches = 0
        /// Notifications stored for the first time.
        public var stored = 0
        /// Re-deliveries counted.
        public var duplicates = 0
    }

    /// The mode this writer runs in.
    public let mode: Mode
    private let committer: BatchCommitter
    private let inbox: Inbox
    private let loop: Task<Void, Never>?

    /// Gathers concurrent appends into one transaction (bounded batch size and wait).
    ///
    /// Metrics go to `metricsFactory`, by default the factory `MetricsSystem` was bootstrapped with.
    public init(
        store: any Store, mode: Mode = .groupCommit(maxBatch: 256, maxWait: .milliseconds(2)),
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.mode = mode
        let committer = BatchCommitter(store: store, metrics: StoreMetrics(factory: metricsFactory ?? MetricsSystem.factory))
        self.committer = committer
        switch mode {
        case .perRequest:
            // The inbox only records whether appends are still accepted.
            inbox = Inbox(maxBatch: 1)
            loop = nil
        case .groupCommit(let maxBatch, let maxWait):
            let inbox = Inbox(maxBatch: max(1, maxBatch))
            self.inbox = inbox
            loop = Task { await Self.run(inbox: inbox, maxWait: maxWait, committer: committer) }
        }
    }

    deinit {
        // Lets the loop drain and end if nobody called shutdown().
        inbox.close()
    }

    /// Stores the notification (or counts a re-delivery) and returns once that is committed.
    ///
    /// Throws `StoreError.unavailable` when the transaction failed, `StoreError.shutDown` after `shutdown()`.
    public func append(_ notification: IncomingNotification) async throws -> AppendResult {
        if loop == nil {
            guard inbox.isAccepting else { throw StoreError.shutDown }
            return try await committer.commit([notification])[0]
        }
        return try await withCheckedThrowingContinuation { continuation in
            if !inbox.submit(Inbox.Request(notification: notification, continuation: continuation)) {
                continuation.resume(throwing: StoreError.shutDown)
            }
        }
    }

    /// Commits what is already queued, then refuses new appends with `StoreError.shutDown`.
    public func shutdown() async {
        inbox.close()
        await loop?.value
    }

    /// Counts since the writer started.
    public var counts: Counts { committer.counts.withLock { $0 } }

    /// Appends waiting for the batching loop (for tests).
    var queuedCount: Int { inbox.queuedCount }

    /// Whether the loop is holding a lone append for company (for tests: appends made now join its batch).
    var isGathering: Bool { inbox.isGathering }

    /// The batching loop: wait for a first notification, gather more for at most `maxWait`, commit, repeat.
    private static func run(inbox: Inbox, maxWait: Duration, committer: BatchCommitter) async {
        var previousBatch = 0
        while true {
            await inbox.waitForRequests()
            // Requests that queued up during the previous commit have already waited a whole commit: take them
            // now. Only a lone request after a lone request (light traffic) waits up to `maxWait` for company. Under
            // load the queue is often momentarily down to one right after a commit, while the next requests are still
            // being verified: waiting then idled the writer for `maxWait` and cost 15 % of the throughput at 64
            // connections (BENCHMARKS.md, "Receiver: group commit without the idle wait").
            if maxWait > .zero, inbox.queuedCount < 2, previousBatch < 2 { await inbox.waitUntilFull(orFor: maxWait) }
            let batch = inbox.takeBatch()
            previousBatch = batch.count
            if batch.isEmpty {
                if inbox.isAccepting { continue } else { return }
            }
            do {
                let results = try await committer.commit(batch.map(\.notification))
                for (request, result) in zip(batch, results) { request.continuation.resume(returning: result) }
            } catch {
                for request in batch { request.continuation.resume(throwing: error) }
            }
        }
    }
}

/// Runs one batch of appends in one write transaction and keeps the counts and metrics.
private final class BatchCommitter: Sendable {
    let store: any Store
    let metrics: StoreMetrics
    let counts = Mutex(NotificationWriter.Counts())

    init(store: any Store, metrics: StoreMetrics) {
        self.store = store
        self.metrics = metrics
    }

    func commit(_ notifications: [IncomingNotification]) async throws -> [AppendResult] {
        let start = ContinuousClock.now
        let results: [AppendResult]
        do {
            results = try await store.append(notifications)
        } catch {
            counts.withLock { $0.failedBatches += 1 }
            metrics.enqueueCommitFailures.increment()
            if let error = error as? StoreError, case .unavailable = error { throw error }
            throw StoreError.unavailable("\(error)")
        }
        let elapsed = ContinuousClock.now - start
        metrics.enqueueCommitSeconds.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        metrics.enqueueBatchSize.record(notifications.count)
        metrics.enqueueCommits.increment()
        var stored = 0
        for case .stored in results { stored += 1 }
        metrics.notificationsStored.increment(by: stored)
        counts.withLock {
            $0.committedBatches += 1
            $0.stored += stored
            $0.duplicates += results.count - stored
        }
        return results
    }
}

/// Where appends wait for the batching loop. Every wait here is woken by an event (an append, a full batch,
/// the end of the gathering window, shutdown), never by polling.
private final class Inbox: Sendable {
    struct Request: Sendable {
        let notification: IncomingNotification
        let continuation: CheckedContinuation<AppendResult, any Error>
    }

    private struct Window {
        let id: UInt64
        let continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>?
    }

    private struct State {
        var requests: [Request] = []
        var accepting = true
        var idleLoop: CheckedContinuation<Void, Never>?
        var window: Window?
        var lastWindowID: UInt64 = 0
    }

    let maxBatch: Int
    private let state = Mutex(State())

    init(maxBatch: Int) {
        self.maxBatch = maxBatch
    }

    var isAccepting: Bool { state.withLock { $0.accepting } }

    var queuedCount: Int { state.withLock { $0.requests.count } }

    var isGathering: Bool { state.withLock { $0.window != nil } }

    /// Queues a request and wakes the loop if it waits; false once closed.
    func submit(_ request: Request) -> Bool {
        let (accepted, wake, timer) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            guard state.accepting else { return (false, nil, nil) }
            state.requests.append(request)
            if let idle = state.idleLoop {
                state.idleLoop = nil
                return (true, idle, nil)
            }
            if state.requests.count >= maxBatch, let window = state.window {
                state.window = nil
                return (true, window.continuation, window.timer)
            }
            return (true, nil, nil)
        }
        timer?.cancel()
        wake?.resume()
        return accepted
    }

    /// Refuses new requests and wakes the loop so that it drains what is queued and ends.
    func close() {
        let (idle, window) = state.withLock { state in
            state.accepting = false
            defer {
                state.idleLoop = nil
                state.window = nil
            }
            return (state.idleLoop, state.window)
        }
        window?.timer?.cancel()
        window?.continuation.resume()
        idle?.resume()
    }

    /// Returns once a request is queued or the inbox is closed.
    func waitForRequests() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if !state.requests.isEmpty || !state.accepting { return true }
                state.idleLoop = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Returns once `maxBatch` requests are queued, `duration` has passed, or the inbox is closed.
    func waitUntilFull(orFor duration: Duration) async {
        await withCheckedContinuation { continuation in
            let id: UInt64? = state.withLock { state in
                if state.requests.count >= maxBatch || !state.accepting { return nil }
                state.lastWindowID += 1
                state.window = Window(id: state.lastWindowID, continuation: continuation)
                return state.lastWindowID
            }
            guard let id else { return continuation.resume() }
            let timer = Task { [weak self] in
                try? await Task.sleep(for: duration)
                self?.endWindow(id)
            }
            // The window may already have ended (filled or closed) before the timer was stored; then cancel it.
            let stored = state.withLock { state in
                guard state.window?.id == id else { return false }
                state.window?.timer = timer
                return true
            }
            if !stored { timer.cancel() }
        }
    }

    private func endWindow(_ id: UInt64) {
        let window = state.withLock { state -> Window? in
            guard let window = state.window, window.id == id else { return nil }
            state.window = nil
            return window
        }
        window?.continuation.resume()
    }

    /// Removes and returns up to `maxBatch` requests, oldest first.
    func takeBatch() -> [Request] {
        state.withLock { state in
            let batch = Array(state.requests.prefix(maxBatch))
            state.requests.removeFirst(batch.count)
            return batch
        }
    }
}
