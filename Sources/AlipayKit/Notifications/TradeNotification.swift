import Foundation

/// A trade's status in Alipay's words.
public enum TradeStatus: String, Sendable, Codable, CaseIterable {
    /// Created, waiting for the buyer to pay (not notified by default).
    case waitBuyerPay = "WAIT_BUYER_PAY"
    /// Paid and still refundable.
    case tradeSuccess = "TRADE_SUCCESS"
    /// Paid and final.
    case tradeFinished = "TRADE_FINISHED"
    /// Unpaid and timed out, or fully refunded.
    case tradeClosed = "TRADE_CLOSED"
}

/// One entry of `fund_bill_list`: how much came through which channel.
public struct FundBill: Sendable, Equatable, Codable {
    /// The payment channel, e.g. `ALIPAYACCOUNT`, `PCREDIT`, `BANKCARD`.
    public var fundChannel: String
    /// The amount paid through the channel.
    public var amount: Amount
    /// The amount actually paid through the channel, when Alipay reports it.
    public var realAmount: Amount?

    /// Creates a fund bill entry.
    public init(fundChannel: String, amount: Amount, realAmount: Amount? = nil) {
        self.fundChannel = fundChannel
        self.amount = amount
        self.realAmount = realAmount
    }
}

/// A verified `trade_status_sync` notification, fields named as Alipay names them.
public struct TradeNotification: Sendable {
    /// `notify_id`: the same for every re-delivery of one notification.
    public let notifyId: String
    /// `notify_time`, "yyyy-MM-dd HH:mm:ss" in China time.
    public let notifyTime: String
    /// `notify_type`, normally `trade_status_sync`.
    public let notifyType: String
    /// `app_id`.
    public let appId: String
    /// `auth_app_id`.
    public let authAppId: String?
    /// `charset`.
    public let charset: String?
    /// `version`.
    public let version: String?
    /// `sign_type`.
    public let signType: String?
    /// `trade_no`: Alipay's trade number.
    public let tradeNo: String
    /// `out_trade_no`: the merchant's order number.
    public let outTradeNo: String
    /// `out_biz_no`: the refund request number in a refund notification.
    public let outBizNo: String?
    /// `buyer_id`.
    public let buyerId: String?
    /// `buyer_logon_id` (masked).
    public let buyerLogonId: String?
    /// `seller_id`.
    public let sellerId: String?
    /// `seller_email`.
    public let sellerEmail: String?
    /// `trade_status`.
    public let tradeStatus: TradeStatus
    /// `total_amount`.
    public let totalAmount: Amount
    /// `receipt_amount`.
    public let receiptAmount: Amount?
    /// `invoice_amount`.
    public let invoiceAmount: Amount?
    /// `buyer_pay_amount`.
    public let buyerPayAmount: Amount?
    /// `point_amount`.
    public let pointAmount: Amount?
    /// `refund_fee`: the total refunded so far, in a refund notification.
    public let refundFee: Amount?
    /// `subject`.
    public let subject: String?
    /// `body`.
    public let body: String?
    /// `gmt_create`.
    public let gmtCreate: String?
    /// `gmt_payment`.
    public let gmtPayment: String?
    /// `gmt_refund`.
    public let gmtRefund: String?
    /// `gmt_close`.
    public let gmtClose: String?
    /// `fund_bill_list`, decoded from its JSON string; empty when absent.
    public let fundBillList: [FundBill]
    /// `passback_params`, exactly as received (decoded once).
    public let passbackParams: String?
    /// `voucher_detail_list`, the raw JSON string.
    public let voucherDetailList: String?
    /// Every decoded field as received.
    public let parameters: [String: String]

    /// Reads the typed fields from verified parameters; empty optional fields count as absent.
    public init(parameters: [String: String]) throws(NotificationError) {
        let fields = Fields(parameters)
        notifyId = try fields.required("notify_id")
        notifyTime = try fields.required("notify_time")
        notifyType = try fields.required("notify_type")
        appId = try fields.required("app_id")
        authAppId = fields.optional("auth_app_id")
        charset = fields.optional("charset")
        version = fields.optional("version")
        signType = fields.optional("sign_type")
        tradeNo = try fields.required("trade_no")
        outTradeNo = try fields.required("out_trade_no")
        outBizNo = fields.optional("out_biz_no")
        buyerId = fields.optional("buyer_id")
        buyerLogonId = fields.optional("buyer_logon_id")
        sellerId = fields.optional("seller_id")
        sellerEmail = fields.optional("seller_email")
        let status = try fields.required("trade_status")
        guard let tradeStatus = TradeStatus(rawValue: status) else {
            throw .invalidField("trade_status", "unknown trade status '\(status)'")
        }
        self.tradeStatus = tradeStatus
        totalAmount = try fields.requiredAmount("total_amount")
        receiptAmount = try fields.optionalAmount("receipt_amount")
        invoiceAmount = try fields.optionalAmount("invoice_amount")
        buyerPayAmount = try fields.optionalAmount("buyer_pay_amount")
        pointAmount = try fields.optionalAmount("point_amount")
        refundFee = try fields.optionalAmount("refund_fee")
        subject = fields.optional("subject")
        body = fields.optional("body")
        gmtCreate = fields.optional("gmt_create")
        gmtPayment = fields.optional("gmt_payment")
        gmtRefund = fields.optional("gmt_refund")
        gmtClose = fields.optional("gmt_close")
        fundBillList = try fields.optional("fund_bill_list").map(Self.decodeFundBills) ?? []
        passbackParams = fields.optional("passback_params")
        voucherDetailList = fields.optional("voucher_detail_list")
        self.parameters = parameters
    }

    static func decodeFundBills(_ json: String) throws(NotificationError) -> [FundBill] {
        // Some gateways and proxies hand the JSON over HTML-escaped; the signature covers it as received either way.
        let text = ByteSearch.contains(json, "&quot;") ? json.replacingOccurrences(of: "&quot;", with: "\"") : json
        do {
            return try JSONDecoder().decode([FundBill].self, from: Data(text.utf8))
        } catch {
            throw .invalidField("fund_bill_list", "not a JSON list of {fundChannel, amount}")
        }
    }
}

/// Typed access to decoded parameters, shared by notifications and `return_url` queries.
struct Fields {
    let parameters: [String: String]

    init(_ parameters: [String: String]) {
        self.parameters = parameters
    }

    func optional(_ name: String) -> String? {
        guard let value = parameters[name], !value.isEmpty else { return nil }
        return value
    }

    func required(_ name: String) throws(NotificationError) -> String {
        guard let value = optional(name) else { throw .missingField(name) }
        return value
    }

    func requiredAmount(_ name: String) throws(NotificationError) -> Amount {
        try amount(name, try required(name))
    }

    func optionalAmount(_ name: String) throws(NotificationError) -> Amount? {
        guard let text = optional(name) else { return nil }
        return try amount(name, text)
    }

    private func amount(_ name: String, _ text: String) throws(NotificationError) -> Amount {
        do {
            return try Amount(text)
        } catch {
            throw .invalidField(name, error.description)
        }
    }
}
