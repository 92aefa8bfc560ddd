import AlipayKit
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NotifyCore
import NotifyStore

/// The listener Alipay and buyers' browsers reach: `POST /alipay/notify`, `GET /alipay/return`, `GET /healthz`.
///
/// It never changes an order: notifications go to the queue through the writer, and the return page only reads.
public struct PublicListener: Sendable {
    let endpoint: NotificationEndpoint
    let verifier: NotificationVerifier
    let store: any Store
    let metrics: ReceiverMetrics
    let limits: NotifyConfiguration.ReceiverLimits
    let rateLimiter: RateLimiter?
    /// scripts/bench/receiver's `bare` mode only: `POST /alipay/notify` answers `success` to anything, the
    /// Hummingbird ceiling the real handler is measured against. Never in production: it verifies nothing.
    let bareForBenchmark: Bool

    /// The public routes, verifying with `verifier`, storing with `writer`, reading orders from `orders`.
    ///
    /// `writer` is nil only for the benchmark baseline (verify, answer, store nothing); see ``NotificationEndpoint``.
    /// `certificates` (certificate mode) fetches the Alipay certificate a notification names after a rotation; `seal`
    /// seals each stored body for the worker (``NotificationSeal``).
    public init(
        verifier: NotificationVerifier, writer: NotificationWriter?, store: any Store, metrics: ReceiverMetrics,
        limits: NotifyConfiguration.ReceiverLimits = NotifyConfiguration().receiverLimits, rateLimiter: RateLimiter? = nil,
        certificates: NotificationCertificateAdopter? = nil, seal: NotificationSeal? = nil, bareForBenchmark: Bool = false
    ) {
        self.bareForBenchmark = bareForBenchmark
        self.endpoint = NotificationEndpoint(
            verifier: verifier, writer: writer, metrics: metrics, rejections: RejectionLog(store: store), certificates: certificates,
            seal: seal)
        self.verifier = verifier
        self.store = store
        self.metrics = metrics
        self.limits = limits
        // `rateLimiter` overrides the one made from `limits.rateLimitPerSecond` (tests pass one with a fixed clock).
        self.rateLimiter = rateLimiter ?? (limits.rateLimitPerSecond > 0 ? RateLimiter(perSecond: limits.rateLimitPerSecond) : nil)
    }

    /// The router with every public route (and the rate limit when configured).
    public func router() -> Router<ReceiverRequestContext> {
        let router = Router(context: ReceiverRequestContext.self)
        router.get("/healthz") { _, _ in
            NotificationEndpoint.answer(.ok, "ok")
        }
        let limited = router.group()
        if let rateLimiter {
            limited.add(
                middleware: RateLimitMiddleware(
                    limiter: rateLimiter, trustForwardedFor: limits.trustForwardedFor,
                    metrics: metrics))
        }
        if bareForBenchmark {
            limited.post("/alipay/notify") { _, _ in NotificationEndpoint.answer(.ok, "success") }
        } else {
            limited.post("/alipay/notify") { [endpoint] request, context in
                await endpoint.handle(request, context: context)
            }
        }
        limited.get("/alipay/return") { [self] request, context in
            await returnPage(request, context: context)
        }
        return router
    }

    /// The Hummingbird application serving `router()` on `host:port` with the receiver's connection limits.
    public func application(
        host: String, port: Int, logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> Application<RouterResponder<ReceiverRequestContext>> {
        ServerLimits.application(router: router(), host: host, port: port, logger: logger, onServerRunning: onServerRunning)
    }

    /// `GET /alipay/return`: verify the query, then show what the database knows. Reads only (invariant 7).
    func returnPage(_ request: Request, context: ReceiverRequestContext) async -> Response {
        let parameters: ReturnParameters
        do throws(NotificationError) {
            parameters = try verifier.verifyReturn(query: request.uri.query ?? "")
        } catch {
            context.logger.warning("return_url refused", metadata: ["reason": "\(error.reason)"])
            return Self.html(.badRequest, ReturnPage.invalidLink())
        }
        var logger = context.logger
        logger[metadataKey: "out_trade_no"] = "\(parameters.outTradeNo)"
        do {
            guard let order = try await store.order(parameters.outTradeNo) else {
                logger.warning("return_url for an unknown order")
                return Self.html(.notFound, ReturnPage.unknownOrder(parameters.outTradeNo))
            }
            return Self.html(.ok, ReturnPage.status(of: order))
        } catch {
            logger.error("return_url: cannot read the order", metadata: ["error": "\(error)"])
            return Self.html(.serviceUnavailable, ReturnPage.unavailable())
        }
    }

    static func html(_ status: HTTPResponse.Status, _ page: String) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'",
                .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }
}

/// Connection limits shared by both listeners.
enum ServerLimits {
    /// Connections served at once; further ones wait in the backlog.
    static let maximumConnections = 1024
    /// Pending connections the kernel queues.
    static let backlog = 256
    /// HTTP/1 settings: idle connections closed after 30 s, headers capped well below Hummingbird's 80 KiB default.
    static let http1 = HTTP1Channel.Configuration(
        idleTimeout: .seconds(30),
        httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 100))

    /// An application for `router` on `host:port` with these limits; both of the receiver's listeners are built here.
    static func application(
        router: Router<ReceiverRequestContext>, host: String, port: Int, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) -> Application<RouterResponder<ReceiverRequestContext>> {
        Application(
            router: router,
            server: .http1(configuration: http1),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: nil, backlog: backlog,
                availableConnectionsDelegate: MaximumAvailableConnections(maximumConnections)),
            onServerRunning: onServerRunning,
            logger: logger)
    }
}

extension HTTPField.Name {
    /// `Referrer-Policy`: the return URL carries a signature, so the page does not pass it on.
    static var referrerPolicy: Self { .init("Referrer-Policy")! }
    /// `X-Content-Type-Options`.
    static var xContentTypeOptions: Self { .init("X-Content-Type-Options")! }
}
