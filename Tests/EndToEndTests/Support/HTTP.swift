import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Small HTTP helpers over `HTTPClient.shared`, always with a timeout.
enum HTTP {
    /// A response's status and body text.
    struct Reply: Sendable {
        let status: Int
        let body: String
    }

    /// Sends a request and reads up to 1 MiB of the answer.
    static func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil,
        timeout: Duration = .seconds(15)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), body: String(buffer: bytes))
    }

    /// POSTs a notification body as Alipay does.
    ///
    /// Against a process that is gone, AsyncHTTPClient keeps retrying the connection until the deadline:
    /// tests that kill the receiver pass a short `timeout`.
    static func notify(_ baseURL: String, body: String, timeout: Duration = .seconds(15)) async throws -> Reply {
        try await send(
            .POST, "\(baseURL)/alipay/notify", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            body: body, timeout: timeout)
    }
}
