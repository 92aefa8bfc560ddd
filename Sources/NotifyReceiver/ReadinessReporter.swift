import Logging
import NIOCore
import Synchronization

/// Calls `ready` once every listener reported that it is listening (Hummingbird's `onServerRunning`).
///
/// The receiver sends systemd `READY=1` through it only when both the public and the internal listener
/// accept connections, so `systemctl start` returns when the service can really be used.
public final class ReadinessReporter: Sendable {
    private let remaining: Mutex<Int>
    private let ready: @Sendable () -> Void
    private let logger: Logger

    /// Waits for `listeners` calls of ``listening(_:channel:)`` before calling `ready`.
    public init(listeners: Int, logger: Logger, ready: @escaping @Sendable () -> Void) {
        self.remaining = Mutex(listeners)
        self.ready = ready
        self.logger = logger
    }

    /// Records that the listener `name` is bound; the last one triggers `ready`.
    public func listening(_ name: String, channel: any Channel) {
        let address = channel.localAddress.map { "\($0)" } ?? "unknown"
        logger.info("\(name) listener is listening", metadata: ["address": "\(address)"])
        let isLast = remaining.withLock { count -> Bool in
            count -= 1
            return count == 0
        }
        if isLast { ready() }
    }
}
