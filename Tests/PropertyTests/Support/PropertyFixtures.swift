import AlipayKit

/// What every property of this target shares: one real 2048-bit key pair and the identity of the merchant app.
///
/// RSA key generation takes far longer than a signature (~0.6 ms), so the key is made once per test run.
enum PropertyFixtures {
    /// Stands in for Alipay's key pair: signs every notification the properties verify.
    static let alipayKey: RSAPrivateKey = try! RSAPrivateKey.generate()
    /// Our `alipay.appId`.
    static let appId = "2021000000000001"
    /// Our `alipay.sellerId`.
    static let sellerId = "2088000000000001"

    /// The verifier the receiver and the worker would build for `signType`.
    static func verifier(_ signType: SignType) -> NotificationVerifier {
        NotificationVerifier(alipayPublicKey: alipayKey.publicKey, signType: signType, appId: appId)
    }
}
