/// A business error Alipay answers with code 40004 ("Business Failed") and a `sub_code`.
public enum TradeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `ACQ.TRADE_NOT_EXIST`: no such trade, or not yet: a page.pay order exists at Alipay only once the buyer
    /// scanned or logged in.
    case tradeNotExist
    /// `ACQ.TRADE_STATUS_ERROR`: the operation is not allowed in the trade's status (close a paid trade, refund an
    /// unpaid or closed one).
    case tradeStatusError
    /// `ACQ.TRADE_HAS_CLOSE` (Alipay's spelling): page.pay or paying again for an order whose trade is closed.
    case tradeHasClosed
    /// `ACQ.TRADE_HAS_FINISHED`: the trade is finished and no longer refundable.
    case tradeHasFinished
    /// `ACQ.TRADE_HAS_SUCCESS`: page.pay for an order that is already paid.
    case tradeHasSuccess
    /// `ACQ.CONTEXT_INCONSISTENT`: page.pay again for the same `out_trade_no` with other details.
    case contextInconsistent
    /// `ACQ.REFUND_AMT_NOT_EQUAL_TOTAL`: the refund exceeds what is left to refund.
    case refundAmountExceeded
    /// `ACQ.DISCORDANT_REPEAT_REQUEST`: an `out_request_no` used again with another refund amount.
    case discordantRepeatRequest
    /// `ACQ.INVALID_PARAMETER`: a business parameter is missing or malformed.
    case invalidParameter(String)
    /// `CERT_NOT_EXIST`: `alipay.open.app.alipaycert.download` for an SN Alipay never issued.
    case certNotExist
    /// No statement for that date (today or later: Alipay makes a day's statement the next morning).
    case billNotExist

    /// Alipay's `sub_code`.
    public var subCode: String {
        switch self {
        case .tradeNotExist: "ACQ.TRADE_NOT_EXIST"
        case .tradeStatusError: "ACQ.TRADE_STATUS_ERROR"
        case .tradeHasClosed: "ACQ.TRADE_HAS_CLOSE"
        case .tradeHasFinished: "ACQ.TRADE_HAS_FINISHED"
        case .tradeHasSuccess: "ACQ.TRADE_HAS_SUCCESS"
        case .contextInconsistent: "ACQ.CONTEXT_INCONSISTENT"
        case .refundAmountExceeded: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
        case .discordantRepeatRequest: "ACQ.DISCORDANT_REPEAT_REQUEST"
        case .invalidParameter: "ACQ.INVALID_PARAMETER"
        case .certNotExist: "CERT_NOT_EXIST"
        case .billNotExist: "isp.bill_not_exist"
        }
    }

    /// Alipay's `sub_msg`, in Alipay's words.
    public var subMessage: String {
        switch self {
        case .tradeNotExist: "交易不存在"
        case .tradeStatusError: "交易状态不合法"
        case .tradeHasClosed: "交易已经关闭"
        case .tradeHasFinished: "交易已完结"
        case .tradeHasSuccess: "交易已被支付"
        case .contextInconsistent: "交易信息被篡改"
        case .refundAmountExceeded: "退款金额超限"
        case .discordantRepeatRequest: "不一致的请求"
        case .invalidParameter(let detail): "参数无效: \(detail)"
        case .certNotExist: "证书不存在"
        case .billNotExist: "账单不存在"
        }
    }

    /// Alipay's `code` for business errors.
    public var code: String { "40004" }

    /// `sub_code: sub_msg`.
    public var description: String { "\(subCode): \(subMessage)" }
}
