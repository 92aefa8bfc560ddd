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
