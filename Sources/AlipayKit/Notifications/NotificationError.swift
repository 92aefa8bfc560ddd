/// Why a notification (or `return_url` query) was refused.
public enum NotificationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The body is not a valid form (duplicate key, bad percent-encoding, bad charset bytes…).
    case malformedBody(String)
    /// `sign` is absent or empty.
    case missingSign
    /// `sign` is not standard base64.
    case invalidSignEncoding
    /// `sign_type` differs from the configured one (no downgrade from RSA2 to RSA).
    case signTypeMismatch(expected: String, got: String)
    /// `app_id` is not ours.
    case foreignAppId(String)
    /// The signature does not verify with Alipay's public key.
    case invalidSignature
    /// A required field is absent or empty.
    case missingField(String)
    /// A field has a value that cannot be read (field, problem).
    case invalidField(String, String)

    /// A stable metric label.
    public var reason: String {
        switch self {
        case .malformedBody: "bad_form"
        case .missingSign: "missing_sign"
        case .invalidSignEncoding: "bad_sign_encoding"
        case .signTypeMismatch: "sign_type"
        case .foreignAppId: "foreign_app_id"
        case .invalidSignature: "bad_signature"
        case .missingField: "missing_field"
        case .invalidField: "bad_field"
        }
    }

    /// A sentence a person can act on; never contains the signature or key material.
    public var description: String {
        switch self {
        case .malformedBody(let problem): "malformed body: \(problem)"
        case .missingSign: "the sign parameter is missing or empty"
        case .invalidSignEncoding: "the sign parameter is not valid base64"
        case .signTypeMismatch(let expected, let got): "sign_type is '\(got)' but '\(expected)' is configured"
        case .foreignAppId(let appId): "app_id '\(appId)' is not the configured app"
        case .invalidSignature: "the signature does not verify with the Alipay public key"
        case .missingField(let name): "required field '\(name)' is missing or empty"
        case .invalidField(let name, let problem): "field '\(name)' is invalid: \(problem)"
        }
    }
}
