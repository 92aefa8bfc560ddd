import AlipayKit
import Crypto
import Foundation

/// The receiver's word, stored with each notification, that it verified the body's signature: HMAC-SHA256 of the
/// exact body under a secret derived from the app's private key, which every receiver and worker of the merchant
/// holds and the database does not.
///
/// The worker reads a stored body whose seal agrees without verifying Alipay's RSA signature a second time (that
/// verification was a fifth of the worker's time draining a backlog; BENCHMARKS.md, "Fifth pass"). A body whose seal
/// does not agree — stored before seals existed, by a receiver holding another app key, or changed in the database —
/// is verified with Alipay's key as before, so a row altered by someone without the app's private key still never
/// reaches an order.
public struct NotificationSeal: Sendable {
    private let key: SymmetricKey

    /// The seal of the processes holding `appPrivateKey`.
    public init(appPrivateKey: RSAPrivateKey) {
        key = appPrivateKey.derivedSecret(label: "alipay-notify notification seal v1")
    }

    /// The seal of `body` (base64).
    public func seal(_ body: String) -> String {
        var body = body
        return body.withUTF8 { Data(HMAC<SHA256>.authenticationCode(for: UnsafeRawBufferPointer($0), using: key)) }.base64EncodedString()
    }

    /// Whether `seal` is this key's seal of `body` (compared in constant time).
    public func verifies(_ body: String, seal: String) -> Bool {
        guard let code = Data(base64Encoded: seal) else { return false }
        var body = body
        return body.withUTF8 { HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: UnsafeRawBufferPointer($0), using: key) }
    }
}
