import Logging
import NotifyStore
import PostgresNIO
import Synchronization

/// Turns `NOTIFY alipay_notify_jobs` into wake-ups for idle workers: a hint only, workers keep polling.
///
/// One dedicated connection outside the pool LISTENs (a pooled connection would be lent to units of work). It is
/// opened on the first subscription; when it drops it is opened again after 1 s, 2 s, 4 s… at most 30 s, until the
/// store closes. Each (re)connection after the first also yields once, since notifications sent while it was down are
/// lost. Every subscriber gets its own stream, which keeps at most one pending wake-up.
final class PostgresWakeUps: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextSubscriber = 0
        var listener: Task<Void, Never>?
        var connection: PostgresConnection?
        var stopped = false
    }

    private let state = Mutex(State())
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// A new subscriber's stream; finished at once when the store is closed.
    func stream() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            guard !state.stopped else { return nil }
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            if state.listener == nil {
                state.listener = Task.detached { [self] in await self.listen() }
            }
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Closes the connection, ends the loop and finishes every stream.
    func stop() async {
        let (listener, connection, subscribers) = state.withLock { state in
            state.stopped = true
            defer { state.subscribers = [:] }
            return (state.listener, state.connection, Array(state.subscribers.values))
        }
        listener?.cancel()
        if let connection { try? await connection.close() }
        await listener?.value
        for subscriber in subscribers { subscriber.finish() }
    }

    private func wakeAll() {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield() }
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    private func listen() async {
        var backoff = 1
        var connections = 0
        while !Task.isCancelled, !isStopped {
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: connections, logger: logger)
                connections += 1
                let kept = state.withLock { state in
                    guard !state.stopped else { return false }
                    state.connection = connection
                    return true
                }
                guard kept else {
                    try? await connection.close()
                    return
                }
                let reconnected = connections > 1
                do {
                    try await connection.listen(on: PostgresTransaction.wakeUpChannel) { notifications in
                        backoff = 1
                        if reconnected { wakeAll() }
                        for try await _ in notifications { wakeAll() }
                    }
                } catch {
                    if !isStopped { logger.debug("the LISTEN connection ended", metadata: ["error": "\(PostgresErrors.storeError(error))"]) }
                }
                state.withLock { $0.connection = nil }
                try? await connection.close()
            } catch {
                if !isStopped {
                    logger.debug("cannot open the LISTEN connection", metadata: ["error": "\(PostgresErrors.storeError(error))"])
                }
            }
            guard !Task.isCancelled, !isStopped else { return }
            try? await Task.sleep(for: .seconds(backoff))
            backoff = min(backoff * 2, 30)
        }
    }
}
