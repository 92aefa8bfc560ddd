/// A request Alipay's gateway refuses before looking at the business: missing or invalid common parameters,
/// a foreign `app_id`, a bad signature (codes 40001 and 40002).
struct GatewayRejection: Error, Sendable, Equatable {
    /// `40001` (missing) or `40002` (invalid).
    let code: String
    /// Alipay's `sub_code`, e.g. `isv.invalid-signature`.
    let subCode: String
    /// Alipay's `sub_msg`.
    let subMessage: String
    /// Whether Alipay signs this answer: it does once it knows the request's `sign_type`.
    let signed: Bool

    /// Alipay's `msg` for the code.
    var message: String { code == "40001" ? "Missing Required Arguments" : "Invalid Arguments" }

    static func missing(_ subCode: String, _ subMessage: String, signed: Bool = true) -> GatewayRejection {
        GatewayRejection(code: "40001", subCode: subCode, subMessage: subMessage, signed: signed)
    }

    static func invalid(_ subCode: String, _ subMessage: String, signed: Bool = true) -> GatewayRejection {
        GatewayRejection(code: "40002", subCode: subCode, subMessage: subMessage, signed: signed)
    }

    /// The response node's JSON text.
    var json: String {
        var node = JSONObjectText()
        node.add("code", code)
        node.add("msg", message)
        node.add("sub_code", subCode)
        node.add("sub_msg", subMessage)
        return node.text
    }
}
