import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Speaks systemd's `sd_notify` datagram protocol directly (no libsystemd): `READY=1`, `WATCHDOG=1`, `STOPPING=1`.
///
/// When the process was not started by systemd (`NOTIFY_SOCKET` unset) every call does nothing, so the
/// daemons run the same way under systemd, from a shell and in tests. A socket path starting with `@` is
/// Linux's abstract namespace, as systemd documents.
public struct SystemdNotifier: Sendable {
    /// The socket path from `NOTIFY_SOCKET`, or nil when not under systemd.
    public let socketPath: String?
    /// Half of `WATCHDOG_USEC`, the interval systemd expects `WATCHDOG=1` at; nil when the watchdog is off.
    public let watchdogInterval: Duration?

    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (honouring `WATCHDOG_PID`) from the environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if pidMatches, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    /// Tells systemd start-up is complete.
    public func ready() { send("READY=1") }
    /// Tells systemd the daemon is healthy.
    public func watchdog() { send("WATCHDOG=1") }
    /// Tells systemd the daemon is shutting down.
    public func stopping() { send("STOPPING=1") }
    /// Sets the one-line status `systemctl status` shows.
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// Sends one datagram; failures are ignored, as `sd_notify` does, because systemd treats a missing message as the signal.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let sent = state.withCString { message in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(fd, message, strlen(message), Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent >= 0
    }
}

/// A service that reports `WATCHDOG=1` while `isHealthy` holds, and `STOPPING=1` on graceful shutdown.
///
/// Put it in the daemon's `ServiceGroup` after the services it watches; READY=1 is sent by the daemon
/// itself once it listens or drains, because only it knows when that is.
public struct SystemdWatchdogService: Service {
    let notifier: SystemdNotifier
    let interval: Duration?
    let isHealthy: @Sendable () async -> Bool
    let logger: Logger

    /// - Parameters:
    ///   - interval: overrides the interval from `WATCHDOG_USEC` (tests); nil uses systemd's.
    public init(
        notifier: SystemdNotifier, interval: Duration? = nil, logger: Logger,
        isHealthy: @escaping @Sendable () async -> Bool
    ) {
        self.notifier = notifier
        self.interval = interval ?? notifier.watchdogInterval
        self.isHealthy = isHealthy
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            guard let interval else {
                try? await gracefulShutdown()
                return
            }
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if await isHealthy() {
                    notifier.watchdog()
                } else {
                    logger.warning("health check failed; not sending WATCHDOG=1")
                }
                try? await Task.sleep(for: interval)
            }
        } onGracefulShutdown: {
            notifier.stopping()
        }
    }
}
