/// What every signed request needs: the app, its key, Alipay's key and the gateway.
public struct AlipayConfiguration: Sendable {
    /// `app_id`.
    public var appId: String
    /// `sign_type` of requests, and the only one accepted from Alipay.
    public var signType: SignType
    /// The app private key that signs requests.
    public var appPrivateKey: RSAPrivateKey
    /// Alipay's public key that verifies responses and notifications (in certificate mode: the key of Alipay's
    /// certificate as configured).
    public var alipayPublicKey: RSAPublicKey
    /// The gateway, e.g. `https://openapi.alipay.com/gateway.do`.
    public var gatewayURL: String
    /// `notify_url` of page-pay requests.
    public var notifyURL: String?
    /// `return_url` of page-pay requests.
    public var returnURL: String?
    /// Certificate mode (公钥证书模式): the SNs every request carries and Alipay's certificates, including one it
    /// rotated to since start-up; nil in public key mode.
    public var certificates: AlipayCertificateKeyring?
    /// AES content encryption (接口内容加密): `biz_content` sent encrypted and encrypted answers read; nil sends it in
    /// the clear.
    public var encryptionKey: ContentEncryptionKey?

    /// The production gateway.
    public static let productionGateway = "https://openapi.alipay.com/gateway.do"
    /// Alipay's sandbox gateway.
    public static let sandboxGateway = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"

    /// Creates a configuration; with `certificates`, `alipayPublicKey` is its Alipay certificate's key.
    public init(
        appId: String, signType: SignType = .rsa2, appPrivateKey: RSAPrivateKey, alipayPublicKey: RSAPublicKey,
        gatewayURL: String = AlipayConfiguration.productionGateway, notifyURL: String? = nil, returnURL: String? = nil,
        certificates: AlipayCertificateKeyring? = nil, encryptionKey: ContentEncryptionKey? = nil
    ) {
        self.appId = appId
        self.signType = signType
        self.appPrivateKey = appPrivateKey
        self.alipayPublicKey = certificates?.current.publicKey ?? alipayPublicKey
        self.gatewayURL = gatewayURL
        self.notifyURL = notifyURL
        self.returnURL = returnURL
        self.certificates = certificates
        self.encryptionKey = encryptionKey
    }
}
