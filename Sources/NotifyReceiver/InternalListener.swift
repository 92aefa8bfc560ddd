import AlipayKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NotifyCore
import NotifyStore

/// The listener for the merchant's own systems: the orders API, `/metrics` and `/readyz`.
///
/// With `api.token` set, `/api/*` and `/metrics` need `Authorization: Bearer <token>`; `/readyz` stays open
/// for health probes (it says only "ready" or "not ready"). Without a token the listener must be bound to
/// loopback, which ``InternalListener/checkBinding(host:token:)`` enforces at start-up.
public struct InternalListener: Sendable {
    let orderService: OrderService
    let store: any Store
    let metrics: ReceiverMetrics
    let token: String?
    let webhooks: WebhookService
    let refunds: RefundService

    /// The internal routes over `database`, creating orders with `orderService`; endpoint URLs follow `webhookPolicy`.
    public init(
        orderService: OrderService, store: any Store,
        metrics: ReceiverMetrics, token: String?, webhookPolicy: EndpointPolicy = EndpointPolicy()
    ) {
        self.orderService = orderService
        self.store = store
        self.metrics = metrics
        self.token = token
        self.webhooks = WebhookService(store: store, policy: webhookPolicy)
        self.refunds = RefundService(store: store)
    }

    /// The router with every internal route.
    public func router() -> Router<ReceiverRequestContext> {
        let router = Router(context: ReceiverRequestContext.self)
        router.get("/readyz") { [store] _, _ in
            await store.isWritable()
                ? NotificationEndpoint.answer(.ok, "ready")
                : NotificationEndpoint.answer(.serviceUnavailable, "not ready: the database is not writable")
        }
        let protected = router.group()
        if let token {
            protected.add(middleware: BearerTokenMiddleware(token: token))
        }
        protected.get("/metrics") { [self] _, _ in
            await metrics.refresh(store: store)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        protected.post("/api/orders") { [self] request, context in
            await createOrder(request, context: context)
        }
        protected.get("/api/orders") { [orderService] request, _ in
            do throws(OrderServiceError) {
                var status: OrderStatus?
                if let raw = request.uri.queryParameters["status"].map(String.init) {
                    guard let parsed = OrderStatus(rawValue: raw) else {
                        throw .invalid("status: \"\(raw.prefix(40))\" is not one of \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    status = parsed
                }
                var limit = 100
                if let raw = request.uri.queryParameters["limit"].map(String.init) {
                    guard let parsed = Int(raw), (1...1000).contains(parsed) else { throw .invalid("limit: must be a whole number from 1 to 1000") }
                    limit = parsed
                }
                return JSONResponse.make(.ok, try await orderService.list(status: status, limit: limit))
            } catch {
                return Self.errorResponse(error)
            }
        }
        protected.get("/api/orders/{out_trade_no}/pay-url") { [orderService] _, context in
            let outTradeNo = context.parameters.get("out_trade_no") ?? ""
            do throws(OrderServiceError) {
                return JSONResponse.make(.ok, try await orderService.payURL(for: outTradeNo))
            } catch {
                return Self.errorResponse(error)
            }
        }
        protected.post("/api/orders/{out_trade_no}/refunds") { [self] request, context in
            await createRefund(request, context: context)
        }
        protected.get("/api/orders/{out_trade_no}/refunds") { [refunds] _, context in
            let outTradeNo = context.parameters.get("out_trade_no") ?? ""
            do throws(RefundServiceError) {
                return JSONResponse.make(.ok, try await refunds.list(outTradeNo: outTradeNo))
            } catch {
                return Self.errorResponse(error)
            }
        }
        protected.get("/api/orders/{out_trade_no}") { [orderService] _, context in
            let outTradeNo = context.parameters.get("out_trade_no") ?? ""
            do throws(OrderServiceError) {
                return JSONResponse.make(.ok, try await orderService.find(outTradeNo))
            } catch {
                return Self.errorResponse(error)
            }
        }
        addWebhookRoutes(to: protected)
        return router
    }

    /// `/api/endpoints` and `/api/events`: what `notifyctl endpoints|events` does, over HTTP.
    func addWebhookRoutes(to routes: RouterGroup<ReceiverRequestContext>) {
        let webhooks = webhooks
        routes.get("/api/endpoints") { _, _ in
            await Self.answer { () async throws(WebhookServiceError) in try await webhooks.list() }
        }
        routes.post("/api/endpoints") { request, context in
            let input: CreateEndpointRequest
            switch await Self.decodeBody(
                CreateEndpointRequest.self, request, context, shape: #"{"url": "https://…", "events"?: ["order.paid", …], "description"?: "…"}"#)
            {
            case .failure(let refusal): return refusal.response
            case .success(let decoded): input = decoded
            }
            return await Self.answer(.created) { () async throws(WebhookServiceError) in
                try await webhooks.add(url: input.url, events: input.events ?? [], note: input.description)
            }
        }
        routes.get("/api/endpoints/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            return await Self.answer { () async throws(WebhookServiceError) in try await webhooks.show(id) }
        }
        routes.delete("/api/endpoints/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            do throws(WebhookServiceError) {
                try await webhooks.remove(id)
                return Response(status: .noContent)
            } catch {
                return Self.errorResponse(error)
            }
        }
        routes.post("/api/endpoints/{id}/{action}") { _, context in
            let id = context.parameters.get("id") ?? ""
            switch context.parameters.get("action") ?? "" {
            case "disable": return await Self.answer { () async throws(WebhookServiceError) in try await webhooks.disable(id) }
            case "enable": return await Self.answer { () async throws(WebhookServiceError) in try await webhooks.enable(id) }
            case "rotate-secret": return await Self.answer { () async throws(WebhookServiceError) in try await webhooks.rotateSecret(id) }
            default: return JSONResponse.error(.notFound, "no such action: disable, enable or rotate-secret")
            }
        }
        routes.get("/api/events") { request, _ in
            var limit = 100
            if let raw = request.uri.queryParameters["limit"].map(String.init) {
                guard let parsed = Int(raw), (1...1000).contains(parsed) else {
                    return JSONResponse.error(.badRequest, "limit: must be a whole number from 1 to 1000")
                }
                limit = parsed
            }
            let order = request.uri.queryParameters["order"].map(String.init)
            let type = request.uri.queryParameters["type"].map(String.init)
            return await Self.answer { () async throws(WebhookServiceError) in try await webhooks.events(outTradeNo: order, type: type, limit: limit) }
        }
        routes.get("/api/events/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            return await Self.answer { () async throws(WebhookServiceError) in try await webhooks.event(id) }
        }
    }

    /// A JSON answer from a webhook service call, or its error.
    static func answer<T: Encodable>(
        _ status: HTTPResponse.Status = .ok, _ body: () async throws(WebhookServiceError) -> T
    ) async -> Response {
        do throws(WebhookServiceError) {
            return JSONResponse.make(status, try await body())
        } catch {
            return errorResponse(error)
        }
    }

    static func errorResponse(_ error: WebhookServiceError) -> Response {
        switch error {
        case .invalid: JSONResponse.error(.badRequest, error.description)
        case .notFound: JSONResponse.error(.notFound, error.description)
        case .conflict: JSONResponse.error(.conflict, error.description)
        case .unavailable: JSONResponse.error(.serviceUnavailable, error.description)
        }
    }

    /// The Hummingbird application serving `router()` on `host:port`.
    public func application(
        host: String, port: Int, logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> Application<RouterResponder<ReceiverRequestContext>> {
        ServerLimits.application(router: router(), host: host, port: port, logger: logger, onServerRunning: onServerRunning)
    }

    /// `POST /api/orders`: 201 with the pay URL, 400 for bad input, 409 for a duplicate number.
    func createOrder(_ request: Request, context: ReceiverRequestContext) async -> Response {
        let input: CreateOrderRequest
        switch await Self.decodeBody(
            CreateOrderRequest.self, request, context, shape: #"{"total_amount": "88.88", "subject": "…", "out_trade_no"?: "…"}"#)
        {
        case .failure(let refusal): return refusal.response
        case .success(let decoded): input = decoded
        }
        do throws(OrderServiceError) {
            let created = try await orderService.create(input)
            metrics.ordersCreated.increment()
            context.logger.info(
                "order created", metadata: ["out_trade_no": "\(created.outTradeNo)", "total_amount": "\(created.totalAmount)"])
            return JSONResponse.make(.created, created)
        } catch {
            if case .unavailable = error {
                context.logger.error("order not created", metadata: ["error": "\(error)"])
            }
            return Self.errorResponse(error)
        }
    }

    /// `POST /api/orders/{n}/refunds`: 201 with the pending refund (200 with it when the same request was made before),
    /// 400 for bad input or more than is left to refund, 404 for an unknown order, 409 when it cannot be refunded.
    func createRefund(_ request: Request, context: ReceiverRequestContext) async -> Response {
        let outTradeNo = context.parameters.get("out_trade_no") ?? ""
        let input: CreateRefundRequest
        switch await Self.decodeBody(
            CreateRefundRequest.self, request, context, shape: #"{"refund_amount": "10.00", "reason"?: "…", "out_request_no"?: "…"}"#)
        {
        case .failure(let refusal): return refusal.response
        case .success(let decoded): input = decoded
        }
        do throws(RefundServiceError) {
            let result = try await refunds.create(outTradeNo: outTradeNo, input)
            if result.created {
                context.logger.info(
                    "refund requested",
                    metadata: [
                        "out_trade_no": "\(outTradeNo)", "out_request_no": "\(result.refund.outRequestNo)",
                        "refund_amount": "\(result.refund.refundAmount)",
                    ])
            }
            return JSONResponse.make(result.created ? .created : .ok, result.refund)
        } catch {
            if case .unavailable = error {
                context.logger.error("refund not recorded", metadata: ["error": "\(error)"])
            }
            return Self.errorResponse(error)
        }
    }

    static func errorResponse(_ error: RefundServiceError) -> Response {
        switch error {
        case .invalid: JSONResponse.error(.badRequest, error.description)
        case .overRefund(_, _, let remaining):
            // The amount left, for a caller that offers the rest.
            JSONResponse.make(.badRequest, ["error": error.description, "remaining_amount": Amount(fen: remaining).description])
        case .notFound: JSONResponse.error(.notFound, error.description)
        case .notRefundable, .conflict: JSONResponse.error(.conflict, error.description)
        case .unavailable: JSONResponse.error(.serviceUnavailable, error.description)
        }
    }

    static func errorResponse(_ error: OrderServiceError) -> Response {
        switch error {
        case .invalid: JSONResponse.error(.badRequest, error.description)
        case .duplicate, .notPayable: JSONResponse.error(.conflict, error.description)
        case .refusedByAlipay: JSONResponse.error(.badGateway, error.description)
        case .notFound: JSONResponse.error(.notFound, error.description)
        case .unavailable: JSONResponse.error(.serviceUnavailable, error.description)
        }
    }

    /// Why a request body was refused, as the answer to send.
    struct BodyRefusal: Error {
        let response: Response
    }

    /// The JSON body as `T` (strictly, see the request types), or the answer refusing it: 413 past the upload limit,
    /// 400 naming what is wrong and the `shape` expected.
    static func decodeBody<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: ReceiverRequestContext, shape: String
    ) async -> Result<T, BodyRefusal> {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            return .failure(BodyRefusal(response: JSONResponse.error(.contentTooLarge, "request body larger than \(context.maxUploadSize) bytes")))
        }
        do {
            return .success(try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)))
        } catch {
            return .failure(BodyRefusal(response: JSONResponse.error(.badRequest, "body must be JSON \(shape): \(describe(error))")))
        }
    }

    /// A decoding error in words: which key is missing or of the wrong type.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing key \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" (amounts are strings: \"88.88\")"
        case let error as UnknownFieldError: error.description
        case DecodingError.dataCorrupted: "not valid JSON"
        default: "\(error)"
        }
    }

    /// Refuses to serve the internal API without a token on anything but loopback: orders and metrics are not public.
    public static func checkBinding(host: String, token: String?) throws(ConfigurationError) {
        guard token == nil, !isLoopback(host) else { return }
        throw ConfigurationError(
            "api.host (API_HOST) is \(host), which is not loopback, and api.token (API_TOKEN) is not set; "
                + "set a token or bind the internal API to 127.0.0.1")
    }

    /// Whether a host name or address only reaches this machine.
    public static func isLoopback(_ host: String) -> Bool {
        let trimmed = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if trimmed == "localhost" || trimmed == "::1" { return true }
        let octets = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
