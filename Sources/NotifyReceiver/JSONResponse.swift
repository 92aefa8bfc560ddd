import Foundation
import Hummingbird

/// JSON answers of the internal API: sorted keys, unescaped slashes (URLs stay readable), errors as `{"error": "…"}`.
public enum JSONResponse {
    /// Encodes `value` with `status`.
    public static func make<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else {
            return error(.internalServerError, "could not encode the response")
        }
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `{"error": message}` with `status`.
    public static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        make(status, ["error": message])
    }
}
