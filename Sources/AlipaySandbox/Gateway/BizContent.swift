import AlipayKit
import Foundation

/// The `biz_content` fields the sandbox's four methods read, decoded from its JSON text.
struct BizContent: Decodable, Sendable {
    var outTradeNo: String?
    var tradeNo: String?
    var totalAmount: AmountText?
    var subject: String?
    var body: String?
    var productCode: String?
    var passbackParams: String?
    var refundAmount: AmountText?
    var outRequestNo: String?
    var refundReason: String?
    var timeoutExpress: String?
    var timeExpire: String?
    /// `query_options` of `alipay.trade.query`, e.g. `["fund_bill_list"]`.
    var queryOptions: [String]?
    /// `alipay_cert_sn` of `alipay.open.app.alipaycert.download`.
    var alipayCertSN: String?
    /// `bill_type` and `bill_date` of `alipay.data.dataservice.bill.downloadurl.query`.
    var billType: String?
    var billDate: String?

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", tradeNo = "trade_no", totalAmount = "total_amount", subject, body
        case productCode = "product_code", passbackParams = "passback_params", refundAmount = "refund_amount"
        case outRequestNo = "out_request_no", refundReason = "refund_reason"
        case timeoutExpress = "timeout_express", timeExpire = "time_expire", queryOptions = "query_options"
        case alipayCertSN = "alipay_cert_sn", billType = "bill_type", billDate = "bill_date"
    }

    /// Parses `biz_content`; a missing or malformed one is `ACQ.INVALID_PARAMETER`.
    static func parse(_ text: String?) throws(TradeError) -> BizContent {
        guard let text, !text.isEmpty else { throw .invalidParameter("biz_content is missing") }
        do {
            return try JSONDecoder().decode(BizContent.self, from: Data(text.utf8))
        } catch {
            throw .invalidParameter("biz_content is not a JSON object of the expected fields")
        }
    }

    /// `out_trade_no` or `trade_no`, at least one, as query, close and refund require.
    func tradeReference() throws(TradeError) -> (outTradeNo: String?, tradeNo: String?) {
        let outTradeNo = outTradeNo.flatMap { $0.isEmpty ? nil : $0 }
        let tradeNo = tradeNo.flatMap { $0.isEmpty ? nil : $0 }
        guard outTradeNo != nil || tradeNo != nil else { throw .invalidParameter("out_trade_no or trade_no is required") }
        return (outTradeNo, tradeNo)
    }

    /// A required amount field as an exact `Amount`.
    static func amount(_ value: AmountText?, field: String) throws(TradeError) -> Amount {
        guard let text = value?.text else { throw .invalidParameter("\(field) is required") }
        do {
            return try Amount(text)
        } catch {
            throw .invalidParameter("\(field) \(error.problem)")
        }
    }
}

/// An amount as its decimal text, whether the JSON carried `"88.88"` or `88.88` (some SDKs send numbers).
///
/// A number is read through `Decimal`, which keeps the digits of the JSON text, never through `Double`.
struct AmountText: Decodable, Sendable {
    let text: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string
        } else {
            text = try container.decode(Decimal.self).description
        }
    }
}
