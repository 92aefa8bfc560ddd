/// The fields every `<method>_response` and `error_response` carries.
struct GatewayStatus: Decodable, Sendable {
    let code: String
    let msg: String?
    let subCode: String?
    let subMsg: String?

    enum CodingKeys: String, CodingKey { case code, msg, subCode = "sub_code", subMsg = "sub_msg" }
}

/// `alipay.trade.page.pay` has no gateway response: the buyer's browser goes to the cashier.
public struct TradePagePayResponse: Decodable, Sendable {}

/// The verified content of `alipay_trade_precreate_response`.
public struct TradePrecreateResponse: Decodable, Sendable {
    /// `code`, "10000" on success.
    public let code: String
    /// `msg`.
    public let msg: String
    /// `out_trade_no`.
    public let outTradeNo: String?
    /// `qr_code`: the text the buyer's Alipay app scans (render it as a QR code).
    public let qrCode: String?

    enum CodingKeys: String, CodingKey { case code, msg, outTradeNo = "out_trade_no", qrCode = "qr_code" }
}

/// The verified content of `alipay_data_dataservice_bill_downloadurl_query_response`.
public struct BillDownloadURLResponse: Decodable, Sendable {
    /// `code`, "10000" on success.
    public let code: String
    /// `msg`.
    public let msg: String
    /// `bill_download_url`: the zip, for about 30 seconds.
    public let billDownloadURL: String?

    enum CodingKeys: String, CodingKey { case code, msg, billDownloadURL = "bill_download_url" }
}

/// The verified content of `alipay_trade_query_response`.
public struct TradeQueryResponse: Decodable, Sendable {
    /// `code`, "10000" on success.
    public let code: String
    /// `msg`.
    public let msg: String
    /// `sub_code`, e.g. `ACQ.TRADE_NOT_EXIST`.
    public let subCode: String?
    /// `sub_msg`.
    public let subMsg: String?
    /// `trade_no`.
    public let tradeNo: String?
    /// `out_trade_no`.
    public let outTradeNo: String?
    /// `buyer_logon_id` (masked).
    public let buyerLogonId: String?
    /// `trade_status`.
    public let tradeStatus: TradeStatus?
    /// `total_amount`.
    public let totalAmount: Amount?
    /// `receipt_amount`.
    public let receiptAmount: Amount?
    /// `buyer_pay_amount`.
    public let buyerPayAmount: Amount?
    /// `send_pay_date`, "yyyy-MM-dd HH:mm:ss" China time.
    public let sendPayDate: String?

    /// Creates a response (tests and the sandbox).
    public init(
        code: String = "10000", msg: String = "Success", subCode: String? = nil, subMsg: String? = nil, tradeNo: String? = nil,
        outTradeNo: String? = nil, buyerLogonId: String? = nil, tradeStatus: TradeStatus? = nil, totalAmount: Amount? = nil,
        receiptAmount: Amount? = nil, buyerPayAmount: Amount? = nil, sendPayDate: String? = nil
    ) {
        self.code = code
        self.msg = msg
        self.subCode = subCode
        self.subMsg = subMsg
        self.tradeNo = tradeNo
        self.outTradeNo = outTradeNo
        self.buyerLogonId = buyerLogonId
        self.tradeStatus = tradeStatus
        self.totalAmount = totalAmount
        self.receiptAmount = receiptAmount
        self.buyerPayAmount = buyerPayAmount
        self.sendPayDate = sendPayDate
    }

    enum CodingKeys: String, CodingKey {
        case code, msg, subCode = "sub_code", subMsg = "sub_msg", tradeNo = "trade_no", outTradeNo = "out_trade_no"
        case buyerLogonId = "buyer_logon_id", tradeStatus = "trade_status", totalAmount = "total_amount"
        case receiptAmount = "receipt_amount", buyerPayAmount = "buyer_pay_amount", sendPayDate = "send_pay_date"
    }
}

/// The verified content of `alipay_trade_close_response`.
public struct TradeCloseResponse: Decodable, Sendable {
    /// `code`, "10000" on success.
    public let code: String
    /// `msg`.
    public let msg: String
    /// `sub_code`.
    public let subCode: String?
    /// `sub_msg`.
    public let subMsg: String?
    /// `trade_no`.
    public let tradeNo: String?
    /// `out_trade_no`.
    public let outTradeNo: String?

    enum CodingKeys: String, CodingKey {
        case code, msg, subCode = "sub_code", subMsg = "sub_msg", tradeNo = "trade_no", outTradeNo = "out_trade_no"
    }
}

/// The verified content of `alipay_trade_refund_response`.
public struct TradeRefundResponse: Decodable, Sendable {
    /// `code`, "10000" on success.
    public let code: String
    /// `msg`.
    public let msg: String
    /// `sub_code`.
    public let subCode: String?
    /// `sub_msg`.
    public let subMsg: String?
    /// `trade_no`.
    public let tradeNo: String?
    /// `out_trade_no`.
    public let outTradeNo: String?
    /// `refund_fee`: the total refunded on this trade so far.
    public let refundFee: Amount?
    /// `fund_change`: "Y" when this call moved money, "N" for a repeated request.
    public let fundChange: String?
    /// `gmt_refund_pay`.
    public let gmtRefundPay: String?

    enum CodingKeys: String, CodingKey {
        case code, msg, subCode = "sub_code", subMsg = "sub_msg", tradeNo = "trade_no", outTradeNo = "out_trade_no"
        case refundFee = "refund_fee", fundChange = "fund_change", gmtRefundPay = "gmt_refund_pay"
    }
}

/// The verified content of `alipay_trade_fastpay_refund_query_response`.
public struct TradeRefundQueryResponse: Decodable, Sendable {
    /// `code`, "10000" on success (also when no such refund was made).
    public let code: String
    /// `msg`.
    public let msg: String
    /// `trade_no`.
    public let tradeNo: String?
    /// `out_trade_no`.
    public let outTradeNo: String?
    /// `out_request_no`.
    public let outRequestNo: String?
    /// `total_amount` of the trade.
    public let totalAmount: Amount?
    /// `refund_amount` of this refund request; absent when Alipay made no such refund.
    public let refundAmount: Amount?
    /// `refund_status`: `REFUND_SUCCESS`, or absent.
    public let refundStatus: String?
    /// `gmt_refund_pay`, when `query_options` asked for it.
    public let gmtRefundPay: String?

    /// Alipay's rule: the refund was made when the answer carries it and does not say otherwise.
    public var refundSucceeded: Bool {
        refundAmount != nil && (refundStatus == nil || refundStatus == "REFUND_SUCCESS")
    }

    enum CodingKeys: String, CodingKey {
        case code, msg, tradeNo = "trade_no", outTradeNo = "out_trade_no", outRequestNo = "out_request_no"
        case totalAmount = "total_amount", refundAmount = "refund_amount", refundStatus = "refund_status"
        case gmtRefundPay = "gmt_refund_pay"
    }
}

/// What a gateway call came to, in the terms a worker acts on.
public enum GatewayOutcome<Response: Sendable>: Sendable {
    /// Code 10000 and the signature verified.
    case success(Response)
    /// ACQ.TRADE_NOT_EXIST: the buyer has not scanned or logged in yet; still waiting.
    case tradeNotExist
    /// Try again later: 20000, ACQ.SYSTEM_ERROR, a timeout, a 5xx, a bad signature, a malformed body.
    case retryable(String)
    /// Fix the configuration: 40001, 40002, 40006, ACQ.INVALID_PARAMETER, a gateway that is not one.
    case configurationError(String)
    /// Any other business error, e.g. ACQ.TRADE_STATUS_ERROR.
    case rejected(code: String, subCode: String?, message: String)
}

/// The verified content of `alipay_open_app_alipaycert_download_response`.
public struct AlipayCertDownloadResponse: Decodable, Sendable {
    /// `code`, "10000" on success.
    public let code: String
    /// `alipay_cert_content`: base64 of the certificate file's PEM text.
    public let alipayCertContent: String

    /// Creates a response (tests and the sandbox).
    public init(code: String = "10000", alipayCertContent: String) {
        self.code = code
        self.alipayCertContent = alipayCertContent
    }

    enum CodingKeys: String, CodingKey { case code, alipayCertContent = "alipay_cert_content" }
}
