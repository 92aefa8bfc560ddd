import Foundation
import Testing

@testable import AlipayKit

@Suite("Requests: common parameters, biz_content, signatures, page-pay URL and form")
struct RequestSignerTests {
    static let now = Date(timeIntervalSince1970: 1_704_081_600)  // 2024-01-01 04:00:00 UTC = 12:00:00 in China

    static func signer() throws -> RequestSigner {
        var configuration = try Fixture.configuration(gatewayURL: "https://openapi.alipay.com/gateway.do")
        configuration.notifyURL = "https://merchant.example.com/alipay/notify"
        configuration.returnURL = "https://merchant.example.com/alipay/return"
        return RequestSigner(configuration: configuration)
    }

    static let pagePay = TradePagePay(outTradeNo: "ORDER000001", totalAmount: Amount(fen: 8888), subject: "测试 & <订单> \"x\"")

    @Test("page.pay parameters and signature equal those of Alipay's official Python SDK")
    func matchesOfficialSDK() throws {
        let vector = try #require(Vectors.shared.requests.first { $0.name == "page_pay" })
        let signed = try Self.signer().signedParameters(Self.pagePay, now: Date(timeIntervalSince1970: vector.unix_time))
        #expect(signed.filter { $0.key != "sign" } == vector.parameters)
        #expect(SignString.forRequest(signed) == vector.sign_string)
        #expect(signed["sign"] == vector.sign)
    }

    @Test("timestamp is China time whatever the process time zone")
    func timestamp() throws {
        let saved = NSTimeZone.default
        defer { NSTimeZone.default = saved }
        for zone in ["Pacific/Honolulu", "UTC", "Asia/Tokyo", "America/New_York"] {
            NSTimeZone.default = TimeZone(identifier: zone)!
            #expect(RequestSigner.timestamp(Self.now) == "2024-01-01 12:00:00", "\(zone)")
            #expect(RequestSigner.timestamp(Date(timeIntervalSince1970: 1_704_126_600)) == "2024-01-02 00:30:00", "\(zone)")
            #expect(try Self.signer().signedParameters(TradeQuery(outTradeNo: "O"), now: Self.now)["timestamp"] == "2024-01-01 12:00:00")
        }
    }

    @Test("biz_content is compact JSON with sorted snake_case keys; absent optionals are left out")
    func bizContent() throws {
        let signer = try Self.signer()
        let page = TradePagePay(
            outTradeNo: "O1", totalAmount: Amount(fen: 150), subject: "s/1", body: "b", timeoutExpress: "30m", passbackParams: "k=v&x")
        #expect(try signer.signedParameters(page, now: Self.now)["biz_content"]
            == #"{"body":"b","out_trade_no":"O1","passback_params":"k=v&x","product_code":"FAST_INSTANT_TRADE_PAY","subject":"s/1","timeout_express":"30m","total_amount":"1.50"}"#)
        #expect(try signer.signedParameters(TradeQuery(outTradeNo: "O1"), now: Self.now)["biz_content"] == #"{"out_trade_no":"O1"}"#)
        #expect(try signer.signedParameters(TradeClose(tradeNo: "T1"), now: Self.now)["biz_content"] == #"{"trade_no":"T1"}"#)
        let refund = TradeRefund(outTradeNo: "O1", refundAmount: Amount(fen: 888), outRequestNo: "R1", refundReason: "退货")
        #expect(try signer.signedParameters(refund, now: Self.now)["biz_content"]
            == #"{"out_request_no":"R1","out_trade_no":"O1","refund_amount":"8.88","refund_reason":"退货"}"#)
    }

    @Test("common parameters of every method; callbacks only on page.pay")
    func commonParameters() throws {
        let signer = try Self.signer()
        let publicKey = try Fixture.appPublicKey()
        let requests: [(String, [String: String])] = [
            ("alipay.trade.page.pay", try signer.signedParameters(Self.pagePay, now: Self.now)),
            ("alipay.trade.query", try signer.signedParameters(TradeQuery(tradeNo: "T"), now: Self.now)),
            ("alipay.trade.close", try signer.signedParameters(TradeClose(outTradeNo: "O"), now: Self.now)),
            ("alipay.trade.refund", try signer.signedParameters(TradeRefund(outTradeNo: "O", refundAmount: Amount(fen: 1)), now: Self.now)),
            (
                "alipay.trade.fastpay.refund.query",
                try signer.signedParameters(TradeRefundQuery(outTradeNo: "O", outRequestNo: "R1"), now: Self.now)
            ),
            (
                "alipay.trade.wap.pay",
                try signer.signedParameters(TradeWapPay(outTradeNo: "W1", totalAmount: Amount(fen: 100), subject: "s", quitURL: "https://shop.example/q"), now: Self.now)
            ),
            (
                "alipay.trade.precreate",
                try signer.signedParameters(TradePrecreate(outTradeNo: "Q1", totalAmount: Amount(fen: 100), subject: "s", timeoutExpress: "30m"), now: Self.now)
            ),
            (
                "alipay.trade.app.pay",
                try signer.signedParameters(TradeAppPay(outTradeNo: "A1", totalAmount: Amount(fen: 100), subject: "s"), now: Self.now)
            ),
        ]
        // Payments carry notify_url (refunds and closings are notified to the payment's); only the cashier ones
        // send the buyer's browser back to return_url.
        let payments: Set = ["alipay.trade.page.pay", "alipay.trade.wap.pay", "alipay.trade.precreate", "alipay.trade.app.pay"]
        let cashiers: Set = ["alipay.trade.page.pay", "alipay.trade.wap.pay"]
        for (method, parameters) in requests {
            #expect(parameters["method"] == method)
            #expect(parameters["app_id"] == Fixture.appId)
            #expect(parameters["format"] == "JSON")
            #expect(parameters["charset"] == "utf-8")
            #expect(parameters["sign_type"] == "RSA2")
            #expect(parameters["version"] == "1.0")
            #expect(parameters["timestamp"] == "2024-01-01 12:00:00")
            #expect((parameters["notify_url"] != nil) == payments.contains(method), "\(method)")
            #expect((parameters["return_url"] != nil) == cashiers.contains(method), "\(method)")
            #expect(RequestVerifier.verify(parameters, appPublicKey: publicKey), "\(method)")
            var tampered = parameters
            tampered["biz_content"]! += " "
            #expect(!RequestVerifier.verify(tampered, appPublicKey: publicKey))
        }
    }

    @Test("the app order string is every signed parameter URL-encoded, keys sorted, and verifies as the request it is")
    func appOrderString() throws {
        let signer = try Self.signer()
        let request = TradeAppPay(outTradeNo: "A1", totalAmount: Amount(fen: 8888), subject: "绿茶 & tea", timeExpire: "2024-01-01 12:30:00")
        let orderString = try signer.orderString(request, now: Self.now)
        let pairs = orderString.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
        let keys = pairs.map { $0[0] }
        #expect(keys == keys.sorted() && keys.contains("sign") && keys.contains("notify_url") && !keys.contains("return_url"))
        #expect(!orderString.contains(" ") && !orderString.contains("绿"), "values are URL-encoded")
        let decoded = try FormCodec.decode(orderString).dictionary
        #expect(decoded == (try signer.signedParameters(request, now: Self.now)))
        #expect(RequestVerifier.verify(decoded, appPublicKey: try Fixture.appPublicKey()))
        #expect(decoded["biz_content"]?.contains(#""product_code":"QUICK_MSECURITY_PAY""#) == true)
    }

    /// Fixtures/app_pay.json, made by Alipay's official Python SDK (scripts/vectors/make_app_pay_vectors.py).
    struct AppPayVectors: Decodable {
        struct Vector: Decodable {
            let name: String
            let unix_time: Double
            let biz: [String: String]
            let order_string: String
            let parameters: [String: String]
        }
        let vectors: [Vector]
    }

    @Test("the app order string carries what the official SDK's sdk_execute signs, signature included")
    func appOrderStringMatchesTheOfficialSDK() throws {
        let vectors = try JSONDecoder().decode(AppPayVectors.self, from: try Fixture.data("app_pay.json")).vectors
        #expect(vectors.count == 2)
        let signer = try Self.signer()
        for vector in vectors {
            let biz = vector.biz
            let amount = try Amount(try #require(biz["total_amount"]))
            let request = TradeAppPay(
                outTradeNo: try #require(biz["out_trade_no"]), totalAmount: amount, subject: try #require(biz["subject"]), timeExpire: biz["time_expire"])
            let ours = try FormCodec.decode(try signer.orderString(request, now: Date(timeIntervalSince1970: vector.unix_time))).dictionary
            // The SDK's own string read by a form decoder ('+' is a space there) gives the same parameters too.
            let theirs = try FormCodec.decode(vector.order_string).dictionary
            #expect(theirs == vector.parameters, "\(vector.name): the SDK's string reads back as its parameters")
            #expect(ours == vector.parameters, "\(vector.name)")
            #expect(ours["sign"] == vector.parameters["sign"], "\(vector.name): the same signature")
        }
    }

    @Test("RSA (SHA1) requests verify under their own sign_type; no sign_type is refused")
    func rsa1Requests() throws {
        var configuration = try Fixture.configuration()
        configuration.signType = .rsa
        var parameters = try RequestSigner(configuration: configuration).signedParameters(TradeQuery(outTradeNo: "O"))
        #expect(parameters["sign_type"] == "RSA")
        #expect(RequestVerifier.verify(parameters, appPublicKey: try Fixture.appPublicKey()))
        #expect(!RequestVerifier.verify(parameters, appPublicKey: try Fixture.alipayPublicKey()))
        parameters["sign_type"] = nil
        #expect(!RequestVerifier.verify(parameters, appPublicKey: try Fixture.appPublicKey()))
    }

    @Test("validation: page.pay amounts 0.01…100000000.00, an order number for query/close/refund", arguments: [
        (Int64(0), false), (1, true), (10_000_000_000, true), (10_000_000_001, false), (-1, false),
    ])
    func pagePayAmounts(fen: Int64, ok: Bool) throws {
        let request = TradePagePay(outTradeNo: "O", totalAmount: Amount(fen: fen), subject: "s")
        if ok {
            _ = try Self.signer().signedParameters(request)
        } else {
            #expect(throws: RequestError.self) { try Self.signer().signedParameters(request) }
        }
    }

    @Test("requests without an order number are refused before signing")
    func identifiers() throws {
        let signer = try Self.signer()
        #expect(throws: RequestError("out_trade_no or trade_no is required")) { try signer.signedParameters(TradeQuery()) }
        #expect(throws: RequestError.self) { try signer.signedParameters(TradeClose(outTradeNo: "")) }
        #expect(throws: RequestError.self) { try signer.signedParameters(TradeRefund(tradeNo: "T", refundAmount: Amount(fen: 0))) }
        #expect(throws: RequestError.self) { try signer.signedParameters(TradePagePay(outTradeNo: "", totalAmount: Amount(fen: 1), subject: "s")) }
        #expect(throws: RequestError.self) {
            try signer.signedParameters(TradePagePay(outTradeNo: String(repeating: "x", count: 65), totalAmount: Amount(fen: 1), subject: "s"))
        }
    }

    @Test("page-pay URL parses back into parameters whose signature verifies")
    func pagePayURL() throws {
        let url = try Self.signer().pagePayURL(Self.pagePay, now: Self.now)
        #expect(url.hasPrefix("https://openapi.alipay.com/gateway.do?"))
        let components = try #require(URLComponents(string: url))
        #expect(components.host == "openapi.alipay.com")
        let query = try #require(components.percentEncodedQuery)
        #expect(!query.contains(" ") && !query.contains("<") && !query.contains("\""))
        let parameters = try FormCodec.decode(query).dictionary
        #expect(parameters == (try Self.signer().signedParameters(Self.pagePay, now: Self.now)))
        #expect(RequestVerifier.verify(parameters, appPublicKey: try Fixture.appPublicKey()))
        // Foundation's own parser agrees on the values.
        let items = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(items == parameters)
    }

    @Test("page-pay form escapes every value and posts parameters that verify")
    func pagePayForm() throws {
        let request = TradePagePay(
            outTradeNo: "O_1", totalAmount: Amount(fen: 8888), subject: #"<script>alert("x")</script> & 'q'"#, body: "O'1")
        let html = try Self.signer().pagePayForm(request, now: Self.now)
        #expect(!html.contains("<script>alert"))
        #expect(html.contains("&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt; &amp; &#39;q&#39;"))
        #expect(html.contains("action=\"https://openapi.alipay.com/gateway.do?charset=utf-8\""))
        #expect(html.contains("document.forms['alipaysubmit'].submit()"))
        // Read the inputs back the way a browser would (unescape), then verify the signature.
        let pattern = try NSRegularExpression(pattern: #"<input type="hidden" name="([^"]*)" value="([^"]*)">"#)
        var fields: [String: String] = [:]
        for match in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let name = String(html[Range(match.range(at: 1), in: html)!])
            fields[name] = Self.htmlUnescape(String(html[Range(match.range(at: 2), in: html)!]))
        }
        #expect(fields.count == 11)
        #expect(fields["biz_content"]?.contains(#""body":"O'1""#) == true)
        #expect(RequestVerifier.verify(fields, appPublicKey: try Fixture.appPublicKey()))
        #expect(RequestSigner.htmlEscape(#"<>"'&"#) == "&lt;&gt;&quot;&#39;&amp;")
    }

    static func htmlUnescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
