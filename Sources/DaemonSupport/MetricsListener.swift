import Hummingbird
import NIOCore
import Logging
import Prometheus

/// A small loopback HTTP listener for a daemon that has no other: `GET /metrics` (Prometheus text) and `GET /healthz`.
///
/// The worker uses it so that its own counters (job outcomes, `trade.query` results) can be scraped; the queue and
/// order gauges come from the receiver's `/metrics`, which reads them from the database.
public struct MetricsListener: Sendable {
    let registry: PrometheusCollectorRegistry
    let token: String?

    /// - Parameter token: when set, `/metrics` needs `Authorization: Bearer TOKEN` (the `api.token` of the configuration).
    public init(registry: PrometheusCollectorRegistry, token: String?) {
        self.registry = registry
        self.token = token
    }

    /// The routes, for tests.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let registry = registry
        let expected = token.map { "Bearer \($0)" }
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { request, _ -> Response in
            if let expected, !constantTimeEquals(request.headers[.authorization] ?? "", expected) {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"])
            }
            var text: [UInt8] = []
            registry.emit(into: &text)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        return router
    }

    /// The application serving `router()` on `host:port`.
    public func application(
        host: String, port: Int, logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(), configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: onServerRunning, logger: logger)
    }
}

/// Compares two strings without an early exit, so a token cannot be guessed byte by byte from timing: the one
/// comparison every bearer token in the project goes through.
public func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let a = Array(lhs.utf8)
    let b = Array(rhs.utf8)
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
