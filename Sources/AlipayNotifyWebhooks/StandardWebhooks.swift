import Crypto
import Foundation

/// Standard Webhooks v1 (symmetric, HMAC-SHA256), both sides: how alipay-notify signs the order events it delivers,
/// and how the merchant's application checks them.
///
/// A delivery carries three headers: `webhook-id` (the event's id, the same on every retry: the consumer's
/// idempotency key), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`, a space-separated
/// list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (more than one while a secret is being rotated).
///
/// ```swift
/// let verifier = try WebhookVerifier(secret: "whsec_…")
/// try verifier.verify(body: request.body, headers: request.headers)   // throws WebhookVerificationError
/// ```
public enum StandardWebhooks {
    /// `webhook-id`.
    public static let idHeader = "webhook-id"
    /// `webhook-timestamp`.
    public static let timestampHeader = "webhook-timestamp"
    /// `webhook-signature`.
    public static let signatureHeader = "webhook-signature"
    /// How far a delivery's timestamp may be from the verifier's clock, either way (the reference libraries' 5 minutes).
    public static let tolerance: TimeInterval = 300
}

/// A signing secret: `whsec_` followed by the base64 of 24 to 64 random bytes.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    /// The prefix of the text form.
    public static let prefix = "whsec_"
    /// The key bytes.
    public let key: [UInt8]

    /// Parses `whsec_<base64>` (the prefix may be left out). Throws for anything else, without echoing the text.
    public init(_ text: String) throws(WebhookSecretError) {
        let encoded = text.hasPrefix(Self.prefix) ? String(text.dropFirst(Self.prefix.count)) : text
        guard let data = Data(base64Encoded: encoded), (24...64).contains(data.count) else { throw WebhookSecretError() }
        key = Array(data)
    }

    /// A fresh secret of 32 random bytes.
    public static func generate() -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        return WebhookSecret(key: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    private init(key: [UInt8]) {
        self.key = key
    }

    /// `whsec_<base64>`: what the endpoint's owner stores.
    public var text: String { Self.prefix + Data(key).base64EncodedString() }

    /// Never the key.
    public var description: String { "whsec_…(redacted)" }
}

/// A text that is not `whsec_` followed by the base64 of 24 to 64 bytes.
public struct WebhookSecretError: Error, CustomStringConvertible, Sendable {
    public init() {}
    public var description: String { "a webhook secret is whsec_ followed by the base64 of 24 to 64 bytes" }
}

/// Signs deliveries (the sender's side).
public enum WebhookSigner {
    /// The `webhook-signature` value for one delivery: one `v1,…` entry per secret, space-separated.
    public static func signature(id: String, timestamp: Int64, body: some DataProtocol, secrets: [WebhookSecret]) -> String {
        secrets.map { "v1," + Data(mac(id: id, timestamp: timestamp, body: body, key: $0.key)).base64EncodedString() }
            .joined(separator: " ")
    }

    /// The three headers of one delivery.
    public static func headers(id: String, timestamp: Int64, body: some DataProtocol, secrets: [WebhookSecret]) -> [(String, String)] {
        [
            (StandardWebhooks.idHeader, id),
            (StandardWebhooks.timestampHeader, String(timestamp)),
            (StandardWebhooks.signatureHeader, signature(id: id, timestamp: timestamp, body: body, secrets: secrets)),
        ]
    }

    static func mac(id: String, timestamp: Int64, body: some DataProtocol, key: [UInt8]) -> HashedAuthenticationCode<SHA256> {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: key))
        hmac.update(data: Array("\(id).\(timestamp).".utf8))
        hmac.update(data: body)
        return hmac.finalize()
    }
}

/// Checks deliveries (the merchant's side): the timestamp within ``StandardWebhooks/tolerance`` of now, and one of
/// the `v1` signatures made with one of the secrets, compared in constant time.
public struct WebhookVerifier: Sendable {
    /// The secrets accepted (during a rotation: the new one and the old one).
    public let secrets: [WebhookSecret]
    /// Allowed distance between the delivery's timestamp and now, in seconds.
    public let tolerance: TimeInterval

    /// A verifier for one endpoint's secret (`whsec_…`), or several while rotating.
    public init(secrets: [String], tolerance: TimeInterval = StandardWebhooks.tolerance) throws(WebhookSecretError) {
        var parsed: [WebhookSecret] = []
        for secret in secrets { parsed.append(try WebhookSecret(secret)) }
        self.secrets = parsed
        self.tolerance = tolerance
    }

    /// A verifier for one secret.
    public init(secret: String, tolerance: TimeInterval = StandardWebhooks.tolerance) throws(WebhookSecretError) {
        try self.init(secrets: [secret], tolerance: tolerance)
    }

    /// Verifies one delivery; `headers` are matched without regard to case. Returns the `webhook-id`.
    @discardableResult
    public func verify(body: some DataProtocol, headers: [String: String], now: Date = Date()) throws(WebhookVerificationError) -> String {
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value }
        guard let id = lowered[StandardWebhooks.idHeader], let rawTimestamp = lowered[StandardWebhooks.timestampHeader],
            let signatures = lowered[StandardWebhooks.signatureHeader]
        else { throw .missingHeaders }
        guard let timestamp = Int64(rawTimestamp.trimmingCharacters(in: .whitespaces)) else { throw .invalidTimestamp }
        let age = now.timeIntervalSince1970 - Double(timestamp)
        if age > tolerance { throw .timestampTooOld }
        if age < -tolerance { throw .timestampTooNew }
        let candidates = signatures.split(separator: " ").compactMap { entry -> Data? in
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1" else { return nil }
            return Data(base64Encoded: String(parts[1]))
        }
        for secret in secrets {
            let key = SymmetricKey(data: secret.key)
            var message = Data("\(id).\(timestamp).".utf8)
            message.append(contentsOf: body)
            for candidate in candidates where HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: message, using: key) {
                return id
            }
        }
        throw .noMatchingSignature
    }
}

/// Why a delivery did not verify.
public enum WebhookVerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing.
    case missingHeaders
    /// `webhook-timestamp` is not whole Unix seconds.
    case invalidTimestamp
    /// Older than the tolerance: a replay, or a clock far behind.
    case timestampTooOld
    /// Newer than the tolerance: a clock far ahead.
    case timestampTooNew
    /// No `v1` signature matches a secret: forged, altered, or the wrong secret.
    case noMatchingSignature

    public var description: String {
        switch self {
        case .missingHeaders: "missing webhook-id, webhook-timestamp or webhook-signature"
        case .invalidTimestamp: "webhook-timestamp is not Unix seconds"
        case .timestampTooOld: "webhook-timestamp is more than 5 minutes old (a replay?)"
        case .timestampTooNew: "webhook-timestamp is more than 5 minutes in the future"
        case .noMatchingSignature: "no webhook-signature matches the secret"
        }
    }
}
