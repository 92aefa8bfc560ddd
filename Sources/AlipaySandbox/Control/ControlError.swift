import Foundation
import Hummingbird

/// A control API refusal: `{"error":{"code":"…","message":"…"}}` with a fitting HTTP status.
struct ControlError: HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// A trade error: 404 for an unknown trade, 400 for a bad parameter, 409 otherwise (wrong status, too much refunded).
    init(_ error: TradeError) {
        switch error {
        case .tradeNotExist: self.init(.notFound, code: error.subCode, message: error.subMessage)
        case .invalidParameter: self.init(.badRequest, code: error.subCode, message: error.subMessage)
        default: self.init(.conflict, code: error.subCode, message: error.subMessage)
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var error = JSONObjectText()
        error.add("code", code)
        error.add("message", message)
        let body = "{\"error\":\(error.text)}"
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
