import AlipayKit
import PropertyBased

/// A notification to sign: its parameters as Alipay would send them and the algorithm to sign them with.
struct NotificationCase: Sendable, CustomStringConvertible {
    /// Every parameter but `sign` (and `sign_type`, which the signer adds).
    var parameters: [String: String]
    /// RSA2 or the legacy RSA.
    var signType: SignType

    var description: String { "\(signType.rawValue) \(parameters)" }
}

/// Generators of `trade_status_sync` notifications whose free-text fields and extra parameters are arbitrary.
enum NotificationGen {
    /// The keys a generated extra parameter must not take: the notification's own fields and the protocol's.
    static let reservedKeys: Set<String> = [
        "notify_time", "notify_type", "notify_id", "app_id", "charset", "version", "sign", "sign_type", "alipay_cert_sn",
        "trade_no", "out_trade_no", "trade_status", "total_amount", "refund_fee", "gmt_refund", "subject", "body",
        "seller_id", "buyer_id", "gmt_create", "gmt_payment", "fund_bill_list",
    ]

    /// A plain TRADE_SUCCESS notification of 88.88 yuan, for the examples beside the properties.
    static let fixedParameters: [String: String] = [
        "notify_time": "2024-01-01 12:00:00", "notify_type": "trade_status_sync", "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": PropertyFixtures.appId, "charset": "utf-8", "version": "1.0", "trade_no": "2024010122001400000000000001",
        "out_trade_no": "ORDER-1", "trade_status": "TRADE_SUCCESS", "total_amount": "88.88", "seller_id": PropertyFixtures.sellerId,
        "buyer_id": "2088102177846880", "gmt_create": "2024-01-01 11:59:00", "gmt_payment": "2024-01-01 12:00:00",
    ]

    /// Notifications in UTF-8 (the `charset` field absent, empty, "utf-8" or "UTF-8"), any Unicode text.
    static let utf8 = notifications(text: TextGen.utf8Text, charsets: [nil, "", "utf-8", "UTF-8"])

    /// Notifications declared GBK, as old accounts send them: signed and percent-encoded as GBK bytes.
    static let gbk = notifications(text: TextGen.gbkText, charsets: ["gbk", "GBK", "gb2312"])

    /// Notifications declared GB18030, which encodes every Unicode scalar (emoji too) in its own bytes.
    static let gb18030 = notifications(text: TextGen.utf8Text, charsets: ["gb18030", "GB18030"])

    /// UTF-8 half of the time, GBK and GB18030 a quarter each.
    static let any = Gen.oneOf(utf8, utf8, gbk, gb18030)

    /// Notifications whose free text comes from `text` and whose `charset` is one of `charsets` (nil: no such field).
    static func notifications(
        text: @Sendable (ClosedRange<Int>) -> Generator<String, AnySequence<Any>>, charsets: [String?]
    ) -> Generator<NotificationCase, AnySequence<Any>> {
        let extraKey = text(1...3).filter { !reservedKeys.contains($0) }
        return zip(
            Gen.letterOrNumber.string(of: 16...32),
            text(1...4),
            Gen<TradeStatus>.case,
            Gen.int64(in: 1...10_000_000_000),
            Gen.int64(in: 0...10_000_000_000).optional(valueRate: 0.3),
            zip(text(0...4), text(0...4)),
            zip(extraKey, text(0...3)).dictionary(ofAtMost: 0...4),
            Gen<String??>.element(of: charsets).map { $0! },
            Gen<SignType>.case
        ).map { notifyId, outTradeNo, status, totalFen, refundFen, texts, extras, charset, signType in
            var parameters = extras
            parameters["notify_time"] = "2024-01-01 12:00:00"
            parameters["notify_type"] = "trade_status_sync"
            parameters["notify_id"] = notifyId
            parameters["app_id"] = PropertyFixtures.appId
            parameters["version"] = "1.0"
            parameters["trade_no"] = "2024010122001400000000000001"
            parameters["out_trade_no"] = outTradeNo
            parameters["trade_status"] = status.rawValue
            parameters["total_amount"] = Amount(fen: totalFen).description
            parameters["seller_id"] = PropertyFixtures.sellerId
            parameters["buyer_id"] = "2088102177846880"
            parameters["gmt_create"] = "2024-01-01 11:59:00"
            parameters["subject"] = texts.0
            parameters["body"] = texts.1
            if let charset { parameters["charset"] = charset }
            if status == .tradeSuccess || status == .tradeFinished {
                parameters["gmt_payment"] = "2024-01-01 12:00:00"
                parameters["fund_bill_list"] = #"[{"amount":"\#(Amount(fen: totalFen))","fundChannel":"ALIPAYACCOUNT"}]"#
            }
            if let refundFen {
                parameters["refund_fee"] = Amount(fen: min(refundFen, totalFen)).description
                parameters["gmt_refund"] = "2024-01-02 10:00:00"
            }
            return NotificationCase(parameters: parameters, signType: signType)
        }.eraseToAny()
    }
}
