import Logging
import NotifyStore
import ServiceLifecycle

/// Keeps the notification writer for the life of the service group and flushes it on graceful shutdown.
///
/// Put it *first* in the group: services shut down in reverse order, so the listeners have answered their
/// in-flight requests (each waiting for its commit) before the writer flushes what is left and refuses more.
public struct WriterFlushService: Service {
    let writer: NotificationWriter
    let logger: Logger

    /// A service flushing `writer` when the group shuts down.
    public init(writer: NotificationWriter, logger: Logger) {
        self.writer = writer
        self.logger = logger
    }

    public func run() async throws {
        // Returns on graceful shutdown; cancellation (a second signal, or a failing service) also ends the wait.
        try? await gracefulShutdown()
        logger.info("flushing the notification writer")
        await writer.shutdown()
        logger.info("notification writer flushed")
    }
}
