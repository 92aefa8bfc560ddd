import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Answers 429 `failure` when a client address exceeds the public listener's rate limit.
///
/// The address is the TCP peer, or with `trustForwardedFor` the last `X-Forwarded-For` entry (the one the
/// proxy in front of us appended; earlier entries come from the client and can be forged), then `X-Real-IP`.
public struct RateLimitMiddleware: RouterMiddleware {
    /// The context both listeners use.
    public typealias Context = ReceiverRequestContext

    let limiter: RateLimiter
    let trustForwardedFor: Bool
    let metrics: ReceiverMetrics

    /// A middleware taking one token of `limiter` per request.
    public init(limiter: RateLimiter, trustForwardedFor: Bool, metrics: ReceiverMetrics) {
        self.limiter = limiter
        self.trustForwardedFor = trustForwardedFor
        self.metrics = metrics
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let client = Self.clientAddress(request, context: context, trustForwardedFor: trustForwardedFor)
        guard limiter.allow(client) else {
            if request.uri.path == "/alipay/notify" { metrics.rejected("rate_limited") }
            context.logger.warning("rate limit exceeded", metadata: ["client": "\(client)"])
            var response = NotificationEndpoint.answer(.tooManyRequests, "failure")
            response.headers[.retryAfter] = "1"
            return response
        }
        return try await next(request, context)
    }

    /// The address requests are counted under.
    static func clientAddress(_ request: Request, context: Context, trustForwardedFor: Bool) -> String {
        if trustForwardedFor {
            if let forwarded = request.headers[values: .xForwardedFor].last,
                let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
            {
                return last
            }
            if let realIP = request.headers[.xRealIP]?.trimmingCharacters(in: .whitespaces), !realIP.isEmpty {
                return realIP
            }
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For`, set by reverse proxies.
    static var xForwardedFor: Self { .init("X-Forwarded-For")! }
    /// `X-Real-IP`, set by nginx's `proxy_set_header X-Real-IP $remote_addr`.
    static var xRealIP: Self { .init("X-Real-IP")! }
}
