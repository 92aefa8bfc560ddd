/// What every signed request needs: the app, its key, Alipay's key and the gateway.
public struct AlipayConfiguration: Sendable {
    /// `app_id`.
    public var appId: String
    /// `sign_type` of requests, and the only one accepted from Alipay.
    public var signType: SignType
    /// The app private key that signs requests.
    public var appPrivateKey: RSAPrivateKey
    /// Alipay's public key that verifies responses and notifications.
    public var alipayPublicKey: RSAPublicKey
    /// The gateway, e.g. `https://openapi.alipay.com/gateway.do`.
    public var gatewayURL: String
    /// `notify_url` of page-pay requests.
    public var notifyURL: String?
    /// `return_url` of page-pay requests.
    public var returnURL: String?

    /// The production gateway.
    public static let productionGateway = "https://openapi.alipay.com/gateway.do"
    /// Alipay's sandbox gateway.
    public static let sandboxGateway = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"

    /// Creates a configuration.
    public init(
        appId: String, signType: SignType = .rsa2, appPrivateKey: RSAPrivateKey, alipayPublicKey: RSAPublicKey,
        gatewayURL: String = AlipayConfiguration.productionGateway, notifyURL: String? = nil, returnURL: String? = nil
    ) {
        self.appId = appId
        self.signType = signType
        self.appPrivateKey = appPrivateKey
        self.alipayPublicKey = alipayPublicKey
        self.gatewayURL = gatewayURL
        self.notifyURL = notifyURL
        self.returnURL = returnURL
    }
}
