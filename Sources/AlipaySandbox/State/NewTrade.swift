import AlipayKit
import Foundation

/// What opens an order at the cashier: the business fields of `alipay.trade.page.pay` plus its `notify_url` and `return_url`.
public struct NewTrade: Sendable, Equatable {
    /// `out_trade_no`: letters, digits, `_` or `-`, at most 64.
    public var outTradeNo: String
    /// `total_amount`, 0.01 … 100000000.
    public var totalAmount: Amount
    /// `subject`, at most 256 characters.
    public var subject: String
    /// `body`.
    public var body: String?
    /// `notify_url`; nil sends no notifications. A query string is kept: Alipay posts to the URL without it and puts
    /// its parameters in the notification body, as the real notifier does.
    public var notifyUrl: String?
    /// `return_url`.
    public var returnUrl: String?
    /// `passback_params`.
    public var passbackParams: String?
    /// `timeout_express`: `30m`, `2h`, `15d`, `1c`.
    public var timeoutExpress: String?
    /// `time_expire`: `yyyy-MM-dd HH:mm:ss`, China time; wins over `timeout_express`.
    public var timeExpire: String?
    /// `product_code` of the request that opened it: `FAST_INSTANT_TRADE_PAY` (page), `QUICK_WAP_WAY` (wap),
    /// `QUICK_MSECURITY_PAY` (app), `FACE_TO_FACE_PAYMENT` (precreate).
    public var productCode: String

    /// Gathers the fields of a new order.
    public init(
        outTradeNo: String, totalAmount: Amount, subject: String, body: String? = nil, notifyUrl: String? = nil,
        returnUrl: String? = nil, passbackParams: String? = nil, timeoutExpress: String? = nil, timeExpire: String? = nil,
        productCode: String = "FAST_INSTANT_TRADE_PAY"
    ) {
        self.productCode = productCode
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.body = body
        self.notifyUrl = notifyUrl
        self.returnUrl = returnUrl
        self.passbackParams = passbackParams
        self.timeoutExpress = timeoutExpress
        self.timeExpire = timeExpire
    }

    /// Alipay's limits; a violation is `ACQ.INVALID_PARAMETER`. Returns the parsed expiry, if any.
    @discardableResult
    func validate(now: Date = Date()) throws(TradeError) -> TradeExpiry? {
        if let problem = AlipayLimits.outTradeNoProblem(outTradeNo) ?? AlipayLimits.amountProblem(totalAmount)
            ?? AlipayLimits.subjectProblem(subject)
        {
            throw .invalidParameter(problem)
        }
        for (name, url) in [("notify_url", notifyUrl), ("return_url", returnUrl)] {
            guard let url, !url.isEmpty else { continue }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw .invalidParameter("\(name) must be an http or https URL")
            }
        }
        return try TradeExpiry.parse(timeoutExpress: timeoutExpress, timeExpire: timeExpire, now: now)
    }
}
