/// The gateway methods the sandbox implements.
public enum GatewayMethod: String, Sendable, CaseIterable {
    /// The cashier page, reached by the buyer's browser.
    case pagePay = "alipay.trade.page.pay"
    /// Server-to-server: the trade's status.
    case query = "alipay.trade.query"
    /// Server-to-server: close an unpaid trade.
    case close = "alipay.trade.close"
    /// Server-to-server: refund a paid trade.
    case refund = "alipay.trade.refund"
    /// Server-to-server: what became of one refund request.
    case refundQuery = "alipay.trade.fastpay.refund.query"
    /// Server-to-server, certificate mode: an Alipay public key certificate by its SN.
    case certDownload = "alipay.open.app.alipaycert.download"

    /// The methods an app with content encryption switched on must send encrypted: the server-to-server trade calls.
    var requiresEncryptionWhenOn: Bool { self == .query || self == .close || self == .refund || self == .refundQuery }
}
