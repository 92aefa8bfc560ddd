/// The gateway methods the sandbox implements.
public enum GatewayMethod: String, Sendable, CaseIterable {
    /// The cashier page, reached by the buyer's browser.
    case pagePay = "alipay.trade.page.pay"
    /// The mobile-browser cashier, reached like page pay.
    case wapPay = "alipay.trade.wap.pay"
    /// The app payment: the order string the app's Alipay SDK hands over, opened at the cashier here.
    case appPay = "alipay.trade.app.pay"
    /// Server-to-server: a face-to-face trade and its QR code.
    case precreate = "alipay.trade.precreate"
    /// Server-to-server: the trade's status.
    case query = "alipay.trade.query"
    /// Server-to-server: close an unpaid trade.
    case close = "alipay.trade.close"
    /// Server-to-server: refund a paid trade.
    case refund = "alipay.trade.refund"
    /// Server-to-server: what became of one refund request.
    case refundQuery = "alipay.trade.fastpay.refund.query"
    /// Server-to-server: where to download a day's statement.
    case billQuery = "alipay.data.dataservice.bill.downloadurl.query"
    /// Server-to-server, certificate mode: an Alipay public key certificate by its SN.
    case certDownload = "alipay.open.app.alipaycert.download"

    /// The methods an app with content encryption switched on must send encrypted: the server-to-server trade calls.
    var requiresEncryptionWhenOn: Bool { [.query, .close, .refund, .refundQuery, .precreate, .billQuery].contains(self) }

    /// The methods answered with the cashier page (HTML), not JSON: the buyer's browser (or app) carries them.
    var opensCashier: Bool { [.pagePay, .wapPay, .appPay].contains(self) }

    /// The `product_code` a cashier method must carry.
    var productCode: String? {
        switch self {
        case .pagePay: "FAST_INSTANT_TRADE_PAY"
        case .wapPay: "QUICK_WAP_WAY"
        case .appPay: "QUICK_MSECURITY_PAY"
        default: nil
        }
    }
}
