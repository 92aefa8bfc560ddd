import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Process-wide set-up shared by the daemons: logging, metrics and the one-line start-up failure.
public enum DaemonBootstrap {
    /// Installs swift-log's handler: `text` for people, `json` (one object a line) for journald shippers.
    public static func bootstrapLogging(label: String, level: String, format: String) {
        let logLevel = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                format == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }

    /// Installs the Prometheus metrics factory and returns the registry the `/metrics` route emits.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Runs `services` as one `ServiceGroup` until SIGTERM or SIGINT; shutdown runs in reverse order of the list.
    /// A service that fails ends the process with one line and exit code 1.
    public static func run(_ program: String, _ services: [ServiceGroupConfiguration.ServiceConfiguration], logger: Logger) async {
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            fail(program, "stopped: \(error)", code: 1)
        }
        logger.info("stopped")
    }

    /// Stops start-up with one line naming the key when `host:port` cannot be bound (in use, or not an address of this
    /// machine), instead of the listener failing later with a bare `bind(…): Address already in use`. Port 0 (any
    /// free port) is not checked.
    public static func requireBindable(_ program: String, host: String, port: Int, key: String, env: String) {
        guard port != 0 else { return }
        if let problem = bindProblem(host: host, port: port) {
            fail(program, "\(key) (\(env)) \(port) on \(host): \(problem); choose another port or stop what uses it")
        }
    }

    /// Why a TCP listener cannot bind `host:port` right now, or nil. Binds and closes a socket (IPv4 or IPv6).
    static func bindProblem(host: String, port: Int) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            return "\(host) is not an address of this machine"
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return nil }  // cannot probe: let the listener say
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            return code == EADDRINUSE ? "the port is in use" : String(cString: strerror(code))
        }
        return nil
    }

    /// Prints `program: message` on standard error and exits with `code` (2: usage or configuration).
    public static func fail(_ program: String, _ message: String, code: Int32 = 2) -> Never {
        FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
        exit(code)
    }
}

/// A log handler that writes one JSON object per line on standard error.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    /// Creates a handler for the logger `label`.
    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: String] = [
            "time": ISO8601DateFormatter().string(from: Date()),
            "level": event.level.rawValue,
            "logger": label,
            "message": event.message.description,
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let eventMetadata = event.metadata { merged.merge(eventMetadata) { $1 } }
        for (key, value) in merged where object[key] == nil { object[key] = value.description }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}
