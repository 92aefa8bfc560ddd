/// A request that cannot be sent as it is (missing order number, amount out of range…).
public struct RequestError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, naming the Alipay field.
    public let message: String

    /// Creates a request error.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// An `alipay.*` gateway method: its fields are the `biz_content`, encoded with Alipay's snake_case names.
public protocol AlipayRequest: Encodable, Sendable {
    /// What the gateway answers inside `<method>_response`.
    associatedtype Response: Decodable & Sendable
    /// The gateway method, e.g. `alipay.trade.query`.
    static var method: String { get }
    /// Refuses a request Alipay would refuse, before it is signed.
    func validate() throws(RequestError)
    /// Whether `biz_content` goes encrypted when content encryption is configured: the server-to-server trade calls
    /// do; page pay does not (the buyer's browser carries it to a cashier that shows it anyway, and Alipay's SDKs only
    /// encrypt the requests that opt in), nor does the certificate download.
    static var encryptsContent: Bool { get }
    /// Whether the request carries `notify_url`: the payment requests (page, wap, precreate, app) do, and Alipay
    /// notifies the trade's later changes (refunds, closing) to that same URL; the others never do.
    static var takesNotifyURL: Bool { get }
    /// Whether the request carries `return_url`: only those that send the buyer's browser to a cashier (page, wap).
    static var takesReturnURL: Bool { get }
}

extension AlipayRequest {
    /// Accepts everything by default.
    public func validate() throws(RequestError) {}
    /// Not encrypted by default.
    public static var encryptsContent: Bool { false }
    /// No callbacks by default.
    public static var takesNotifyURL: Bool { false }
    /// No callbacks by default.
    public static var takesReturnURL: Bool { false }
}

/// A request that starts a payment (page, wap, precreate, app): one set of checks on its number, subject and amount.
public protocol PaymentRequest: AlipayRequest {
    /// The merchant's order number.
    var outTradeNo: String { get }
    /// The amount to pay.
    var totalAmount: Amount { get }
    /// What the buyer sees.
    var subject: String { get }
}

extension PaymentRequest {
    /// `out_trade_no`, `subject` and `total_amount` within Alipay's limits.
    public func validate() throws(RequestError) {
        try RequestChecks.outTradeNo(outTradeNo)
        if let problem = AlipayLimits.subjectProblem(subject) ?? AlipayLimits.amountProblem(totalAmount) { throw RequestError(problem) }
    }
}

/// A payment the buyer's browser carries to Alipay's cashier (page and wap pay): signed into a URL or a form, never
/// called by the server.
public protocol BrowserPayRequest: PaymentRequest {}

/// `alipay.trade.page.pay`: the PC cashier page the buyer's browser is sent to (never called by the server).
public struct TradePagePay: BrowserPayRequest {
    /// No gateway response: the browser goes to the cashier.
    public typealias Response = TradePagePayResponse
    /// `alipay.trade.page.pay`.
    public static var method: String { "alipay.trade.page.pay" }
    /// The payment's notifications go to `notify_url`.
    public static var takesNotifyURL: Bool { true }
    /// The buyer's browser comes back to `return_url`.
    public static var takesReturnURL: Bool { true }
    /// Page-pay limits Alipay enforces: 0.01 … 100000000.00 yuan.
    public static var amountRange: ClosedRange<Amount> { AlipayLimits.amountRange }

    /// `out_trade_no`: the merchant's order number (at most 64 characters).
    public var outTradeNo: String
    /// `total_amount`, "88.88".
    public var totalAmount: Amount
    /// `subject`: the order title shown to the buyer.
    public var subject: String
    /// `product_code`, always `FAST_INSTANT_TRADE_PAY` for the PC cashier.
    public var productCode: String
    /// `body`: the order description.
    public var body: String?
    /// `timeout_express`, e.g. "30m": counted by Alipay from when the buyer opens the cashier.
    public var timeoutExpress: String?
    /// `time_expire`, "yyyy-MM-dd HH:mm:ss" China time: an absolute deadline; wins over `timeout_express`.
    public var timeExpire: String?
    /// `passback_params`: returned unchanged in the notification.
    public var passbackParams: String?

    /// Creates a page-pay request.
    public init(
        outTradeNo: String, totalAmount: Amount, subject: String, productCode: String = "FAST_INSTANT_TRADE_PAY",
        body: String? = nil, timeoutExpress: String? = nil, timeExpire: String? = nil, passbackParams: String? = nil
    ) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.productCode = productCode
        self.body = body
        self.timeoutExpress = timeoutExpress
        self.timeExpire = timeExpire
        self.passbackParams = passbackParams
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, productCode = "product_code", body
        case timeoutExpress = "timeout_express", timeExpire = "time_expire", passbackParams = "passback_params"
    }

    /// Checks the order number, subject and the 0.01 … 100000000.00 amount range.
}

/// `alipay.trade.wap.pay`: the mobile-browser cashier (手机网站支付), sent like page pay; `quit_url` is where the
/// buyer lands when they leave the cashier without paying.
public struct TradeWapPay: BrowserPayRequest {
    /// No gateway response: the browser goes to the cashier.
    public typealias Response = TradePagePayResponse
    /// `alipay.trade.wap.pay`.
    public static var method: String { "alipay.trade.wap.pay" }
    /// The payment's notifications go to `notify_url`.
    public static var takesNotifyURL: Bool { true }
    /// The buyer's browser comes back to `return_url`.
    public static var takesReturnURL: Bool { true }

    /// `out_trade_no`.
    public var outTradeNo: String
    /// `total_amount`.
    public var totalAmount: Amount
    /// `subject`.
    public var subject: String
    /// `product_code`, always `QUICK_WAP_WAY`.
    public var productCode: String
    /// `quit_url`: where the buyer goes when they leave the cashier.
    public var quitURL: String?
    /// `time_expire`, "yyyy-MM-dd HH:mm:ss" China time.
    public var timeExpire: String?

    /// Creates a wap-pay request.
    public init(outTradeNo: String, totalAmount: Amount, subject: String, quitURL: String? = nil, timeExpire: String? = nil) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.productCode = "QUICK_WAP_WAY"
        self.quitURL = quitURL
        self.timeExpire = timeExpire
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, productCode = "product_code", quitURL = "quit_url"
        case timeExpire = "time_expire"
    }

    /// Checks the order number, subject and amount range.
}

/// `alipay.trade.precreate`: face-to-face pay (当面付) — the server asks Alipay for a QR code the buyer scans with
/// the Alipay app; the answer's `qr_code` is the text to render as the code.
public struct TradePrecreate: PaymentRequest {
    /// The verified `alipay_trade_precreate_response`.
    public typealias Response = TradePrecreateResponse
    /// `alipay.trade.precreate`.
    public static var method: String { "alipay.trade.precreate" }
    /// Server to server: encrypted when content encryption is configured.
    public static var encryptsContent: Bool { true }
    /// The payment's notifications go to `notify_url`.
    public static var takesNotifyURL: Bool { true }

    /// `out_trade_no`.
    public var outTradeNo: String
    /// `total_amount`.
    public var totalAmount: Amount
    /// `subject`.
    public var subject: String
    /// `timeout_express`, e.g. "30m": how long the trade may be paid, counted from now.
    public var timeoutExpress: String?

    /// Creates a precreate request.
    public init(outTradeNo: String, totalAmount: Amount, subject: String, timeoutExpress: String? = nil) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.timeoutExpress = timeoutExpress
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, timeoutExpress = "timeout_express"
    }

    /// Checks the order number, subject and amount range.
}

/// `alipay.trade.app.pay`: the payment inside the merchant's mobile app. The server signs it and hands the
/// resulting order string (``RequestSigner/orderString(_:now:)``) to the app, whose Alipay SDK passes it to Alipay.
public struct TradeAppPay: PaymentRequest {
    /// No gateway response: the app SDK carries it.
    public typealias Response = TradePagePayResponse
    /// `alipay.trade.app.pay`.
    public static var method: String { "alipay.trade.app.pay" }
    /// The payment's notifications go to `notify_url`.
    public static var takesNotifyURL: Bool { true }

    /// `out_trade_no`.
    public var outTradeNo: String
    /// `total_amount`.
    public var totalAmount: Amount
    /// `subject`.
    public var subject: String
    /// `product_code`, always `QUICK_MSECURITY_PAY`.
    public var productCode: String
    /// `time_expire`, "yyyy-MM-dd HH:mm:ss" China time.
    public var timeExpire: String?

    /// Creates an app-pay request.
    public init(outTradeNo: String, totalAmount: Amount, subject: String, timeExpire: String? = nil) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.productCode = "QUICK_MSECURITY_PAY"
        self.timeExpire = timeExpire
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, productCode = "product_code", timeExpire = "time_expire"
    }

    /// Checks the order number, subject and amount range.
}

/// `alipay.trade.query`: a trade's current status.
public struct TradeQuery: AlipayRequest {
    /// The verified `alipay_trade_query_response`.
    public typealias Response = TradeQueryResponse
    /// `alipay.trade.query`.
    public static var method: String { "alipay.trade.query" }
    /// Encrypted when content encryption is configured.
    public static var encryptsContent: Bool { true }
    /// `out_trade_no`.
    public var outTradeNo: String?
    /// `trade_no`.
    public var tradeNo: String?

    /// Creates a query by order number and/or Alipay trade number.
    public init(outTradeNo: String? = nil, tradeNo: String? = nil) {
        self.outTradeNo = outTradeNo
        self.tradeNo = tradeNo
    }

    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", tradeNo = "trade_no" }

    /// Requires `out_trade_no` or `trade_no`.
    public func validate() throws(RequestError) { try RequestChecks.identified(outTradeNo, tradeNo) }
}

/// `alipay.trade.close`: closes an unpaid trade.
public struct TradeClose: AlipayRequest {
    /// The verified `alipay_trade_close_response`.
    public typealias Response = TradeCloseResponse
    /// `alipay.trade.close`.
    public static var method: String { "alipay.trade.close" }
    /// Encrypted when content encryption is configured.
    public static var encryptsContent: Bool { true }
    /// `out_trade_no`.
    public var outTradeNo: String?
    /// `trade_no`.
    public var tradeNo: String?

    /// Creates a close request by order number and/or Alipay trade number.
    public init(outTradeNo: String? = nil, tradeNo: String? = nil) {
        self.outTradeNo = outTradeNo
        self.tradeNo = tradeNo
    }

    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", tradeNo = "trade_no" }

    /// Requires `out_trade_no` or `trade_no`.
    public func validate() throws(RequestError) { try RequestChecks.identified(outTradeNo, tradeNo) }
}

/// `alipay.trade.refund`: refunds all or part of a paid trade.
public struct TradeRefund: AlipayRequest {
    /// The verified `alipay_trade_refund_response`.
    public typealias Response = TradeRefundResponse
    /// `alipay.trade.refund`.
    public static var method: String { "alipay.trade.refund" }
    /// Encrypted when content encryption is configured.
    public static var encryptsContent: Bool { true }
    /// `out_trade_no`.
    public var outTradeNo: String?
    /// `trade_no`.
    public var tradeNo: String?
    /// `refund_amount`.
    public var refundAmount: Amount
    /// `out_request_no`: identifies one partial refund (required by Alipay for partial refunds).
    public var outRequestNo: String?
    /// `refund_reason`.
    public var refundReason: String?

    /// Creates a refund request.
    public init(outTradeNo: String? = nil, tradeNo: String? = nil, refundAmount: Amount, outRequestNo: String? = nil, refundReason: String? = nil) {
        self.outTradeNo = outTradeNo
        self.tradeNo = tradeNo
        self.refundAmount = refundAmount
        self.outRequestNo = outRequestNo
        self.refundReason = refundReason
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", tradeNo = "trade_no", refundAmount = "refund_amount"
        case outRequestNo = "out_request_no", refundReason = "refund_reason"
    }

    /// Requires an order or trade number and a positive amount.
    public func validate() throws(RequestError) {
        try RequestChecks.identified(outTradeNo, tradeNo)
        guard refundAmount.fen > 0 else { throw RequestError("refund_amount must be at least 0.01") }
    }
}

/// `alipay.trade.fastpay.refund.query`: what became of one refund request. Settles a `trade.refund` whose answer
/// never came (a timeout, a 5xx): Alipay's rule is that the refund succeeded when the answer carries it
/// (`refund_amount`) with `refund_status` absent or `REFUND_SUCCESS`; an answer without it means no refund was made.
public struct TradeRefundQuery: AlipayRequest {
    /// The verified `alipay_trade_fastpay_refund_query_response`.
    public typealias Response = TradeRefundQueryResponse
    /// `alipay.trade.fastpay.refund.query`.
    public static var method: String { "alipay.trade.fastpay.refund.query" }
    /// Encrypted when content encryption is configured, like the refund itself.
    public static var encryptsContent: Bool { true }
    /// `out_trade_no`.
    public var outTradeNo: String?
    /// `trade_no`.
    public var tradeNo: String?
    /// `out_request_no` of the refund asked about.
    public var outRequestNo: String
    /// `query_options`: `gmt_refund_pay` makes the answer carry when the money went back.
    public var queryOptions: [String]?

    /// Creates a refund query, asking for `gmt_refund_pay` by default.
    public init(outTradeNo: String? = nil, tradeNo: String? = nil, outRequestNo: String, queryOptions: [String]? = ["gmt_refund_pay"]) {
        self.outTradeNo = outTradeNo
        self.tradeNo = tradeNo
        self.outRequestNo = outRequestNo
        self.queryOptions = queryOptions
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", tradeNo = "trade_no", outRequestNo = "out_request_no", queryOptions = "query_options"
    }

    /// Requires an order or trade number and the refund's request number.
    public func validate() throws(RequestError) {
        try RequestChecks.identified(outTradeNo, tradeNo)
        guard !outRequestNo.isEmpty else { throw RequestError("out_request_no is required") }
    }
}

/// `alipay.data.dataservice.bill.downloadurl.query`: where to download a day's statement (`bill_type` `trade`). The
/// answer's URL is short-lived (about 30 seconds): download at once.
public struct BillDownloadURLQuery: AlipayRequest {
    /// The verified `alipay_data_dataservice_bill_downloadurl_query_response`.
    public typealias Response = BillDownloadURLResponse
    /// `alipay.data.dataservice.bill.downloadurl.query`.
    public static var method: String { "alipay.data.dataservice.bill.downloadurl.query" }
    /// Server to server: encrypted when content encryption is configured.
    public static var encryptsContent: Bool { true }

    /// `bill_type`: `trade` (the merchant's trades).
    public var billType: String
    /// `bill_date`: `yyyy-MM-dd` (a day), China time; yesterday at the latest.
    public var billDate: String

    /// Asks for the trade statement of `billDate`.
    public init(billDate: String, billType: String = "trade") {
        self.billType = billType
        self.billDate = billDate
    }

    enum CodingKeys: String, CodingKey { case billType = "bill_type", billDate = "bill_date" }

    /// Requires a `yyyy-MM-dd` day.
    public func validate() throws(RequestError) {
        guard billDate.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil else { throw RequestError("bill_date must be yyyy-MM-dd") }
    }
}

enum RequestChecks {
    static func outTradeNo(_ value: String) throws(RequestError) {
        if let problem = AlipayLimits.outTradeNoProblem(value) { throw RequestError(problem) }
    }

    static func identified(_ outTradeNo: String?, _ tradeNo: String?) throws(RequestError) {
        guard !(outTradeNo ?? "").isEmpty || !(tradeNo ?? "").isEmpty else {
            throw RequestError("out_trade_no or trade_no is required")
        }
    }
}

/// `alipay.open.app.alipaycert.download`: the Alipay public key certificate with a given SN, after Alipay rotated
/// its certificate (certificate mode only).
public struct AlipayCertDownload: AlipayRequest {
    /// The certificate, base64 of its PEM text.
    public typealias Response = AlipayCertDownloadResponse
    /// `alipay.open.app.alipaycert.download`.
    public static var method: String { "alipay.open.app.alipaycert.download" }

    /// `alipay_cert_sn`: the SN a response carried.
    public var alipayCertSN: String

    /// Creates the request.
    public init(alipayCertSN: String) {
        self.alipayCertSN = alipayCertSN
    }

    enum CodingKeys: String, CodingKey { case alipayCertSN = "alipay_cert_sn" }

    public func validate() throws(RequestError) {
        guard !alipayCertSN.isEmpty, alipayCertSN.count <= 256 else { throw RequestError("alipay_cert_sn must be 1…256 characters") }
    }
}
