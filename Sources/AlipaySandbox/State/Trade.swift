import AlipayKit
import Foundation

/// A trade as the sandbox's Alipay knows it; also the JSON of the control API and of the state file.
public struct Trade: Sendable, Equatable, Codable {
    /// `out_trade_no`: the merchant's order number.
    public var outTradeNo: String
    /// `trade_no`: Alipay's trade number, 28 digits, e.g. `2026112922001400000000001234`.
    public var tradeNo: String
    /// `app_id` of the application that created the trade.
    public var appId: String
    /// `subject` shown on the cashier.
    public var subject: String
    /// `body`, the optional description.
    public var body: String?
    /// `total_amount`.
    public var totalAmount: Amount
    /// The trade's status; for a pre-trade, the status it will have once the buyer logs in (WAIT_BUYER_PAY), or
    /// TRADE_CLOSED when it expired before that.
    public var status: TradeStatus
    /// The buyer has not scanned or logged in yet, so Alipay has no trade: `trade.query`, `.close` and `.refund`
    /// answer ACQ.TRADE_NOT_EXIST and nothing is ever notified for it. Logging in or paying makes it a trade.
    public var isPreTrade: Bool
    /// Sum of the refunds applied so far.
    public var refundedAmount: Amount
    /// Every refund applied, in order.
    public var refunds: [RefundRecord]
    /// Where notifications go; nil sends none.
    public var notifyUrl: String?
    /// Where the browser goes after paying.
    public var returnUrl: String?
    /// `passback_params`, returned as is in notifications.
    public var passbackParams: String?
    /// `buyer_id` (2088…), set when paid.
    public var buyerId: String?
    /// `buyer_logon_id`, masked (`138****8000`), set when paid.
    public var buyerLogonId: String?
    /// `gmt_create`, China time: when the buyer logged in (for a pre-trade, when the cashier was opened).
    public var gmtCreate: String
    /// `gmt_payment`, China time, set when paid.
    public var gmtPayment: String?
    /// `gmt_close`, China time, set when closed.
    public var gmtClose: String?
    /// When the sandbox turns a paid trade into `TRADE_FINISHED` (only with `sandbox.finishAfterSeconds`).
    public var finishAt: Date?
    /// When the unpaid order expires (`timeout_express` / `time_expire`, scaled); nil never.
    public var expireAt: Date?

    /// `product_code` of the request that opened it (`FAST_INSTANT_TRADE_PAY` for state files written before).
    public var productCode: String

    /// What is left to refund.
    public var refundableAmount: Amount { Amount(fen: totalAmount.fen - refundedAmount.fen) }

    /// Face-to-face pay: the QR code content `alipay.trade.precreate` answers (Alipay's shape; scanning it is the
    /// cashier's "Log in (scan)" or the control API's `pay`).
    public var qrCode: String? {
        productCode == Self.faceToFace ? "https://qr.alipay.com/bax" + tradeNo.suffix(20) : nil
    }

    /// The `product_code` of `alipay.trade.precreate`.
    static let faceToFace = "FACE_TO_FACE_PAYMENT"

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", tradeNo = "trade_no", appId = "app_id", subject, body
        case totalAmount = "total_amount", status, isPreTrade = "pre_trade", refundedAmount = "refunded_amount", refunds
        case notifyUrl = "notify_url", returnUrl = "return_url", passbackParams = "passback_params"
        case buyerId = "buyer_id", buyerLogonId = "buyer_logon_id"
        case gmtCreate = "gmt_create", gmtPayment = "gmt_payment", gmtClose = "gmt_close", finishAt = "finish_at"
        case expireAt = "expire_at", productCode = "product_code"
    }

    /// Reads a trade; `pre_trade` and `expire_at` may be absent (state files written before they existed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        outTradeNo = try c.decode(String.self, forKey: .outTradeNo)
        tradeNo = try c.decode(String.self, forKey: .tradeNo)
        appId = try c.decode(String.self, forKey: .appId)
        subject = try c.decode(String.self, forKey: .subject)
        body = try c.decodeIfPresent(String.self, forKey: .body)
        totalAmount = try c.decode(Amount.self, forKey: .totalAmount)
        status = try c.decode(TradeStatus.self, forKey: .status)
        isPreTrade = try c.decodeIfPresent(Bool.self, forKey: .isPreTrade) ?? false
        refundedAmount = try c.decode(Amount.self, forKey: .refundedAmount)
        refunds = try c.decode([RefundRecord].self, forKey: .refunds)
        notifyUrl = try c.decodeIfPresent(String.self, forKey: .notifyUrl)
        returnUrl = try c.decodeIfPresent(String.self, forKey: .returnUrl)
        passbackParams = try c.decodeIfPresent(String.self, forKey: .passbackParams)
        buyerId = try c.decodeIfPresent(String.self, forKey: .buyerId)
        buyerLogonId = try c.decodeIfPresent(String.self, forKey: .buyerLogonId)
        gmtCreate = try c.decode(String.self, forKey: .gmtCreate)
        gmtPayment = try c.decodeIfPresent(String.self, forKey: .gmtPayment)
        gmtClose = try c.decodeIfPresent(String.self, forKey: .gmtClose)
        finishAt = try c.decodeIfPresent(Date.self, forKey: .finishAt)
        expireAt = try c.decodeIfPresent(Date.self, forKey: .expireAt)
        productCode = try c.decodeIfPresent(String.self, forKey: .productCode) ?? "FAST_INSTANT_TRADE_PAY"
    }

    init(
        outTradeNo: String, tradeNo: String, appId: String, subject: String, body: String?, totalAmount: Amount,
        notifyUrl: String?, returnUrl: String?, passbackParams: String?, gmtCreate: String, expireAt: Date?,
        productCode: String = "FAST_INSTANT_TRADE_PAY"
    ) {
        self.productCode = productCode
        self.outTradeNo = outTradeNo
        self.tradeNo = tradeNo
        self.appId = appId
        self.subject = subject
        self.body = body
        self.totalAmount = totalAmount
        self.status = .waitBuyerPay
        self.isPreTrade = true
        self.refundedAmount = Amount(fen: 0)
        self.refunds = []
        self.notifyUrl = notifyUrl
        self.returnUrl = returnUrl
        self.passbackParams = passbackParams
        self.gmtCreate = gmtCreate
        self.expireAt = expireAt
    }
}

/// One refund applied to a trade (`alipay.trade.refund` or the control API).
public struct RefundRecord: Sendable, Equatable, Codable {
    /// `out_request_no`: identifies the refund request; repeating it repeats the answer, not the refund.
    public var outRequestNo: String
    /// `refund_amount` of this request.
    public var refundAmount: Amount
    /// `refund_reason`, when given.
    public var refundReason: String?
    /// `gmt_refund_pay`, China time.
    public var gmtRefund: String

    enum CodingKeys: String, CodingKey {
        case outRequestNo = "out_request_no", refundAmount = "refund_amount", refundReason = "refund_reason"
        case gmtRefund = "gmt_refund"
    }
}
