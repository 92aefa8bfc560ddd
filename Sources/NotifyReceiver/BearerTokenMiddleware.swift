import DaemonSupport
import Foundation
import Hummingbird

/// Requires `Authorization: Bearer <api.token>` on the internal listener's protected routes.
///
/// The comparison takes the same time wherever the first difference is, so response timing does not leak
/// the token a byte at a time. The token never appears in a log line.
public struct BearerTokenMiddleware: RouterMiddleware {
    /// The context both listeners use.
    public typealias Context = ReceiverRequestContext

    let token: String

    /// A middleware accepting exactly `token`.
    public init(token: String) {
        self.token = token
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer ",
            constantTimeEquals(String(header.dropFirst(7)), token)
        else {
            context.logger.warning("internal API request without a valid bearer token", metadata: ["path": "\(request.uri.path)"])
            var response = JSONResponse.error(.unauthorized, "missing or invalid bearer token (Authorization: Bearer <api.token>)")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}
