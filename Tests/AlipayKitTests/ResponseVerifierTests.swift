import Foundation
import Testing

@testable import AlipayKit

@Suite("Responses: raw node extraction, signature over the raw text, classification")
struct ResponseVerifierTests {
    static func verifier() throws -> ResponseVerifier { ResponseVerifier(alipayPublicKey: try Fixture.alipayPublicKey()) }

    static func signedBody(_ json: String, method: String = "alipay.trade.query") throws -> String {
        try ResponseSigner.body(method: method, responseJSON: json, key: Fixture.alipayPrivateKey())
    }

    @Test("extraction table")
    func extraction() {
        let cases: [(String, String, String?)] = [
            (#"{"a_response":{"x":1},"sign":"s"}"#, "a_response", #"{"x":1}"#),
            (#"{"sign":"s", "a_response" : { "x" : "}" } }"#, "a_response", #"{ "x" : "}" }"#),
            (#"{"a_response":{"x":"\"}{\\","y":{"z":[1,{"w":"]"}]}},"sign":"s"}"#, "a_response", #"{"x":"\"}{\\","y":{"z":[1,{"w":"]"}]}}"#),
            (#"{"a_response":{"u":"http:\/\/x\/y"},"sign":"s"}"#, "a_response", #"{"u":"http:\/\/x\/y"}"#),
            (#"{"a_response":{"x":1},"sign":"s"}"#, "sign", #""s""#),
            (#"{"a":{"a_response":{"inner":1}},"a_response":{"outer":2}}"#, "a_response", #"{"outer":2}"#),
            (#"{"a":"\"a_response\":{}","a_response":{"outer":2}}"#, "a_response", #"{"outer":2}"#),
            (#"{"n":12.5e3,"t":true,"a_response":null}"#, "a_response", "null"),
            (#"{"n":12.5e3,"t":true,"a_response":null}"#, "n", "12.5e3"),
            ("\n {\"a_response\":\t{\"x\":\"中文🎉\"}\r\n}", "a_response", #"{"x":"中文🎉"}"#),
            (#"{"a_response":{"x":1},"a_response":{"x":2}}"#, "a_response", nil),  // ambiguous: refused
            (#"{"b_response":{"x":1}}"#, "a_response", nil),
            (#"{"a_response":{"x":"unterminated}}"#, "a_response", nil),
            (#"{"a_response":{"x":1}"#, "a_response", nil),
            ("<html>502 Bad Gateway</html>", "a_response", nil),
            ("", "a_response", nil),
            (#"["a_response"]"#, "a_response", nil),
            (#"{"a_response" {"x":1}}"#, "a_response", nil),
        ]
        for (body, key, expected) in cases {
            #expect(ResponseExtractor.rawNode(named: key, in: body).map(String.init) == expected, "\(body)")
        }
    }

    @Test("vectors signed by the official Python SDK over the raw text", arguments: Vectors.shared.responses)
    func vectors(vector: Vectors.Response) throws {
        let verifier = try Self.verifier()
        let key = ResponseVerifier.responseKey(method: vector.method)
        #expect(ResponseExtractor.rawNode(named: key, in: vector.body).map(String.init) == vector.raw)
        let body = Array(vector.body.utf8)
        let outcome: String
        switch vector.method {
        case "alipay.trade.query": outcome = Self.kind(verifier.outcome(for: TradeQuery.self, httpStatus: 200, body: body))
        case "alipay.trade.refund": outcome = Self.kind(verifier.outcome(for: TradeRefund.self, httpStatus: 200, body: body))
        default: outcome = Self.kind(verifier.outcome(for: TradeClose.self, httpStatus: 200, body: body))
        }
        #expect(outcome == vector.expect)
    }

    static func kind<R>(_ outcome: GatewayOutcome<R>) -> String {
        switch outcome {
        case .success: "success"
        case .tradeNotExist: "trade_not_exist"
        case .retryable: "retryable"
        case .configurationError: "configuration_error"
        case .rejected: "rejected"
        }
    }

    @Test("a verified query response decodes with exact amounts and status")
    func decodedQuery() throws {
        let vector = try #require(Vectors.shared.responses.first { $0.name == "query_tricky_strings" })
        guard case .success(let response) = try Self.verifier().outcome(for: TradeQuery.self, httpStatus: 200, body: Array(vector.body.utf8))
        else {
            Issue.record("expected success")
            return
        }
        #expect(response.outTradeNo == "ORDER}{\"1")
        #expect(response.tradeStatus == .tradeSuccess)
        #expect(response.totalAmount == Amount(fen: 8888))
        #expect(response.sendPayDate == "2024-01-01 12:00:00")
    }

    @Test("classification table", arguments: [
        ("10000 signed", 200, #"{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}"#, "signed", "success"),
        ("10000 unsigned", 200, #"{"code":"10000","msg":"Success"}"#, "unsigned", "retryable"),
        ("10000 bad signature", 200, #"{"code":"10000","msg":"Success"}"#, "wrong key", "retryable"),
        ("10000 undecodable amount", 200, #"{"code":"10000","msg":"Success","total_amount":"1e2"}"#, "signed", "retryable"),
        ("10000 unknown status", 200, #"{"code":"10000","msg":"Success","trade_status":"PAID"}"#, "signed", "retryable"),
        ("trade not exist", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}"#, "signed", "trade_not_exist"),
        ("trade not exist unsigned", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}"#, "unsigned", "retryable"),
        ("20000", 200, #"{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}"#, "signed", "retryable"),
        ("system error", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}"#, "signed", "retryable"),
        ("40001 error_response", 200, #"{"code":"40001","msg":"Missing Required Arguments","sub_code":"isv.missing-app-id"}"#, "error", "configuration_error"),
        ("40002 error_response", 200, #"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"}"#, "error", "configuration_error"),
        ("40006", 200, #"{"code":"40006","msg":"Insufficient Permissions","sub_code":"isv.insufficient-isv-permissions"}"#, "signed", "configuration_error"),
        ("invalid parameter", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.INVALID_PARAMETER"}"#, "signed", "configuration_error"),
        ("20000 error_response", 200, #"{"code":"20000","msg":"Service Currently Unavailable"}"#, "error", "retryable"),
        ("business error", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_STATUS_ERROR"}"#, "signed", "rejected"),
        ("business error unsigned", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_STATUS_ERROR"}"#, "unsigned", "retryable"),
        ("business error_response unsigned", 200, #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_HAS_CLOSE"}"#, "error", "retryable"),
        ("500", 500, "", "raw", "retryable"),
        ("502 html", 502, "<html>Bad Gateway</html>", "raw", "retryable"),
        ("503 with a signed 10000", 503, #"{"code":"10000","msg":"Success"}"#, "signed", "retryable"),
        ("429", 429, "", "raw", "retryable"),
        ("404", 404, "not found", "raw", "configuration_error"),
        ("garbage", 200, "garbage", "raw", "retryable"),
        ("empty", 200, "", "raw", "retryable"),
        ("html", 200, "<html><body>maintenance</body></html>", "raw", "retryable"),
        ("other method's response", 200, #"{"alipay_trade_close_response":{"code":"10000","msg":"Success"},"sign":"x"}"#, "raw", "retryable"),
        ("node is a string", 200, #"{"alipay_trade_query_response":"{\"code\":\"10000\"}","sign":"x"}"#, "raw", "retryable"),
        ("duplicated node", 200, #"{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"alipay_trade_query_response":{"code":"10000","msg":"Success"}}"#, "raw", "retryable"),
        ("truncated", 200, #"{"alipay_trade_query_response":{"code":"10000","msg":"Succ"#, "raw", "retryable"),
    ])
    func classification(name: String, status: Int, json: String, form: String, expected: String) throws {
        let body: String
        switch form {
        case "signed": body = try Self.signedBody(json)
        case "unsigned": body = #"{"alipay_trade_query_response":\#(json)}"#
        case "wrong key": body = try ResponseSigner.body(method: "alipay.trade.query", responseJSON: json, key: Fixture.appPrivateKey())
        case "error": body = ResponseSigner.errorBody(method: "alipay.trade.query", responseJSON: json)
        default: body = json
        }
        let outcome = try Self.verifier().outcome(for: TradeQuery.self, httpStatus: status, body: Array(body.utf8))
        #expect(Self.kind(outcome) == expected, "\(name): \(outcome)")
    }

    @Test("non-UTF-8 bodies are malformed, hence retryable")
    func notUTF8() throws {
        #expect(Self.kind(try Self.verifier().outcome(for: TradeQuery.self, httpStatus: 200, body: [0x7B, 0xFF, 0xFE, 0x7D])) == "retryable")
    }

    @Test("a rejected business error carries code, sub_code and message")
    func rejectedDetails() throws {
        let body = try Self.signedBody(
            #"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_HAS_FINISHED","sub_msg":"交易已完结"}"#, method: "alipay.trade.refund")
        guard case .rejected(let code, let subCode, let message) = try Self.verifier().outcome(for: TradeRefund.self, httpStatus: 200, body: Array(body.utf8))
        else {
            Issue.record("expected rejected")
            return
        }
        #expect(code == "40004")
        #expect(subCode == "ACQ.TRADE_HAS_FINISHED")
        #expect(message == "交易已完结")
    }

    @Test("ResponseSigner writes Alipay's layout and the signature covers the raw JSON exactly")
    func signerLayout() throws {
        let json = #"{"code":"10000","msg":"Success","url":"http:\/\/x"}"#
        let body = try Self.signedBody(json)
        #expect(body.hasPrefix(#"{"alipay_trade_query_response":{"code":"10000""#))
        let sign = try #require(ResponseExtractor.rawNode(named: "sign", in: body))
        #expect(try Fixture.alipayPublicKey().isValidSignature(String(sign.dropFirst().dropLast()), for: json, type: .rsa2))
        #expect(ResponseSigner.errorBody(method: "alipay.trade.query", responseJSON: #"{"code":"40002"}"#) == #"{"error_response":{"code":"40002"}}"#)
        #expect(ResponseVerifier.responseKey(method: "alipay.trade.page.pay") == "alipay_trade_page_pay_response")
    }
}
