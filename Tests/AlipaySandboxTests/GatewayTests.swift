import AlipayKit
import AlipaySandbox
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `/gateway.do`: AlipayKit's signed requests are accepted, everything the sandbox answers verifies with AlipayKit,
/// and anything not signed by the app is refused as Alipay refuses it.
@Suite struct GatewayTests {
    @Test func pagePaySignedByAlipayKitOpensTheCashier() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let html = try await merchant.openCashier(outTradeNo: "PAGE1", amount: "88.88", subject: "Coffee & <beans>", client: client)
            #expect(html.contains("Coffee &amp; &lt;beans&gt;"))
            #expect(html.contains("88.88"))
            #expect(html.contains("action=\"/cashier/"))
            #expect(html.contains("/pay\"") && html.contains("/cancel\""))
            let trade = try #require(await harness.sandbox.trade(outTradeNo: "PAGE1"))
            #expect(trade.status == .waitBuyerPay)
            #expect(trade.totalAmount == Amount(fen: 8888))
            #expect(trade.returnUrl == "http://merchant.test/alipay/return")
            #expect(trade.tradeNo.count == 28 && trade.tradeNo.allSatisfy(\.isNumber))
        }
    }

    @Test("wap and app requests open the cashier like page pay; each method insists on its own product_code")
    func wapAndAppOpenTheCashier() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let wap = try await merchant.get(
                try merchant.parameters(TradeWapPay(outTradeNo: "WAP1", totalAmount: Amount(fen: 500), subject: "Mobile", quitURL: "https://m.test/q")),
                client: client)
            #expect(wap.status == .ok && String(buffer: wap.body).contains("Mobile"))
            #expect(await harness.sandbox.trade(outTradeNo: "WAP1")?.productCode == "QUICK_WAP_WAY")
            let app = try await merchant.get(
                try merchant.parameters(TradeAppPay(outTradeNo: "APP1", totalAmount: Amount(fen: 500), subject: "In app")), client: client)
            #expect(app.status == .ok && String(buffer: app.body).contains("In app"))
            #expect(await harness.sandbox.trade(outTradeNo: "APP1")?.productCode == "QUICK_MSECURITY_PAY")
            // A page-pay product code sent as wap pay: Alipay's invalid-parameter page, no trade.
            var wrong = TradePagePay(outTradeNo: "WRONG1", totalAmount: Amount(fen: 1), subject: "x")
            wrong.productCode = "QUICK_WAP_WAY"
            let refused = try await merchant.get(try merchant.parameters(wrong), client: client)
            #expect(String(buffer: refused.body).contains("product_code must be FAST_INSTANT_TRADE_PAY"))
            #expect(await harness.sandbox.trade(outTradeNo: "WRONG1") == nil)
        }
    }

    @Test("precreate answers a verified qr_code and opens a pre-trade that trade.query does not know until it is paid")
    func precreateAnswersAQRCode() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let outcome = try await merchant.call(
                TradePrecreate(outTradeNo: "QR1", totalAmount: Amount(fen: 1234), subject: "Face to face", timeoutExpress: "30m"), client: client)
            guard case .success(let answer) = outcome else {
                Issue.record("precreate: \(outcome)")
                return
            }
            #expect(answer.outTradeNo == "QR1" && answer.qrCode?.hasPrefix("https://qr.alipay.com/bax") == true)
            guard case .tradeNotExist = try await merchant.call(TradeQuery(outTradeNo: "QR1"), client: client) else {
                Issue.record("a code nobody scanned is no trade yet")
                return
            }
            let trade = try #require(await harness.sandbox.trade(outTradeNo: "QR1"))
            #expect(trade.productCode == "FACE_TO_FACE_PAYMENT" && trade.qrCode == answer.qrCode)
        }
    }

    @Test func pagePayPostedAsAFormIsAcceptedToo() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let parameters = try merchant.parameters(TradePagePay(outTradeNo: "FORM1", totalAmount: Amount(fen: 1), subject: "One fen"))
            let response = try await merchant.post(parameters, client: client)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("One fen"))
            #expect(await harness.sandbox.trade(outTradeNo: "FORM1")?.totalAmount == Amount(fen: 1))
        }
    }

    @Test func pagePayURLAndAutoSubmitFormFromRequestSignerBothOpenTheCashier() async throws {
        let harness = try SandboxHarness()
        let signer = MerchantClient().signer
        try await harness.run { client in
            let url = try signer.pagePayURL(TradePagePay(outTradeNo: "URL1", totalAmount: Amount(fen: 1999), subject: "Via URL + 加号"))
            let pathAndQuery = String(url.dropFirst("http://sandbox.test".count))
            let viaURL = try await client.execute(uri: pathAndQuery, method: .get)
            #expect(String(buffer: viaURL.body).contains("Via URL + 加号"))

            let form = try signer.pagePayForm(TradePagePay(outTradeNo: "FORM2", totalAmount: Amount(fen: 2999), subject: "Via <form> & \"quotes\""))
            let action = try #require(form.firstMatch(of: /action="([^"]+)"/)).1
            var fields: [String: String] = [:]
            for input in form.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/) {
                fields[htmlUnescape(String(input.1))] = htmlUnescape(String(input.2))
            }
            let viaForm = try await client.execute(
                uri: String(htmlUnescape(String(action)).dropFirst("http://sandbox.test".count)), method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: FormCodec.encode(fields)))
            #expect(String(buffer: viaForm.body).contains("Via &lt;form&gt; &amp; &quot;quotes&quot;"))
            #expect(await harness.sandbox.trade(outTradeNo: "URL1")?.totalAmount == Amount(fen: 1999))
            #expect(await harness.sandbox.trade(outTradeNo: "FORM2")?.subject == "Via <form> & \"quotes\"")
        }
    }

    private func htmlUnescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    @Test func queryCloseAndRefundResponsesVerifyWithAlipayKit() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "Q1", amount: "10.00", client: client)
            _ = try await harness.sandbox.login(outTradeNo: "Q1")
            let waiting = try #require(try await merchant.call(TradeQuery(outTradeNo: "Q1"), client: client).value)
            #expect(waiting.tradeStatus == .waitBuyerPay)
            #expect(waiting.totalAmount == Amount(fen: 1000))

            _ = try await merchant.openCashier(outTradeNo: "C1", amount: "5.00", client: client)
            _ = try await harness.sandbox.login(outTradeNo: "C1")
            let closed = try #require(try await merchant.call(TradeClose(outTradeNo: "C1"), client: client).value)
            #expect(closed.code == "10000" && closed.outTradeNo == "C1")
            let afterClose = try #require(try await merchant.call(TradeQuery(outTradeNo: "C1"), client: client).value)
            #expect(afterClose.tradeStatus == .tradeClosed)

            _ = try await harness.sandbox.pay(outTradeNo: "Q1")
            let refund = try #require(
                try await merchant.call(TradeRefund(outTradeNo: "Q1", refundAmount: Amount(fen: 250), outRequestNo: "R1"), client: client).value)
            #expect(refund.refundFee == Amount(fen: 250))
            #expect(refund.fundChange == "Y")
            let byTradeNo = try #require(
                try await merchant.call(TradeQuery(tradeNo: refund.tradeNo), client: client).value)
            #expect(byTradeNo.outTradeNo == "Q1" && byTradeNo.tradeStatus == .tradeSuccess)
        }
    }

    @Test func tamperedRequestIsRefusedWithInvalidSignature() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "T1", client: client)
            var parameters = try merchant.parameters(TradeClose(outTradeNo: "T1"))
            parameters["biz_content"] = #"{"out_trade_no":"T2"}"#
            let response = try await merchant.get(parameters, client: client)
            let body = String(buffer: response.body)
            let node = try #require(ResponseExtractor.rawNode(named: "alipay_trade_close_response", in: body))
            let fields = try JSONDecoder().decode([String: String].self, from: Data(node.utf8))
            #expect(fields["code"] == "40002")
            #expect(fields["msg"] == "Invalid Arguments")
            #expect(fields["sub_code"] == "isv.invalid-signature")
            // Alipay shows the string it verified, so the merchant can compare it with the one it signed.
            #expect(fields["sub_msg"]?.contains(#"biz_content={&quot;out_trade_no&quot;:&quot;T2&quot;}"#) == true)
            let outcome = Fixtures.responseVerifier.outcome(for: TradeClose.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            guard case .configurationError = outcome else {
                Issue.record("expected a configuration error, got \(outcome)")
                return
            }
            // The tampered request changed nothing.
            #expect(await harness.sandbox.trade(outTradeNo: "T1")?.status == .waitBuyerPay)
        }
    }

    @Test func tamperedPagePayShowsAlipaysErrorPageAndOpensNothing() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            var parameters = try merchant.parameters(TradePagePay(outTradeNo: "P1", totalAmount: Amount(fen: 100), subject: "x"))
            parameters["biz_content"] = parameters["biz_content"]!.replacingOccurrences(of: "1.00", with: "0.01")
            let response = try await merchant.get(parameters, client: client)
            #expect(String(buffer: response.body).contains("isv.invalid-signature"))
            #expect(await harness.sandbox.trade(outTradeNo: "P1") == nil)
        }
    }

    @Test func requestSignedWithAnotherKeyIsRefused() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            var configuration = Fixtures.alipayConfiguration()
            configuration.appPrivateKey = try RSAPrivateKey.generate()
            let stranger = MerchantClient(signer: RequestSigner(configuration: configuration))
            let outcome = try await stranger.call(TradeQuery(outTradeNo: "X"), client: client)
            guard case .configurationError(let message) = outcome else {
                Issue.record("expected a configuration error, got \(outcome)")
                return
            }
            #expect(message.contains("isv.invalid-signature"))
        }
    }

    @Test func foreignAppIdIsRefusedWithInvalidAppId() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            var configuration = Fixtures.alipayConfiguration()
            configuration.appId = "2021999999999999"
            let stranger = MerchantClient(signer: RequestSigner(configuration: configuration))
            let response = try await stranger.get(try stranger.parameters(TradeQuery(outTradeNo: "X")), client: client)
            let body = String(buffer: response.body)
            #expect(body.contains(#""sub_code":"isv.invalid-app-id""#))
            #expect(body.contains(#""code":"40002""#))
            #expect(!body.contains(#""sign""#), "Alipay does not sign answers to apps it does not know")
        }
    }

    @Test func missingOrUnknownMethodAnswersErrorResponse() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let missing = try await client.execute(uri: "/gateway.do", method: .get)
            #expect(String(buffer: missing.body).hasPrefix(#"{"error_response":{"code":"40001""#))
            #expect(String(buffer: missing.body).contains("isv.missing-method"))
            let unknown = try await client.execute(uri: "/gateway.do?method=alipay.trade.pay", method: .get)
            #expect(String(buffer: unknown.body).contains("isv.invalid-method"))
        }
    }

    @Test func missingCommonParametersAreNamed() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            for (drop, subCode) in [("sign", "isv.missing-signature"), ("timestamp", "isv.missing-timestamp"), ("sign_type", "isv.missing-signature-type"), ("app_id", "isv.missing-app-id")] {
                var parameters = try merchant.parameters(TradeQuery(outTradeNo: "X"))
                parameters[drop] = nil
                let body = String(buffer: try await merchant.get(parameters, client: client).body)
                #expect(body.contains(#""code":"40001""#), "without \(drop)")
                #expect(body.contains(subCode), "without \(drop)")
            }
            var parameters = try merchant.parameters(TradeQuery(outTradeNo: "X"))
            parameters["timestamp"] = "2026/11/29 12:00"
            #expect(String(buffer: try await merchant.get(parameters, client: client).body).contains("isv.invalid-timestamp"))
        }
    }

    @Test func unknownTradeIsTradeNotExist() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let query = try await merchant.call(TradeQuery(outTradeNo: "NOPE"), client: client)
            guard case .tradeNotExist = query else {
                Issue.record("expected tradeNotExist, got \(query)")
                return
            }
            let response = try await merchant.get(try merchant.parameters(TradeClose(outTradeNo: "NOPE")), client: client)
            let body = String(buffer: response.body)
            #expect(body.contains(#""code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST""#))
            #expect(body.contains(#""sign":""#))
        }
    }

    @Test func closingAPaidTradeIsTradeStatusError() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "PAID1", client: client)
            _ = try await harness.sandbox.pay(outTradeNo: "PAID1")
            let outcome = try await merchant.call(TradeClose(outTradeNo: "PAID1"), client: client)
            guard case .rejected(let code, let subCode, _) = outcome else {
                Issue.record("expected a rejection, got \(outcome)")
                return
            }
            #expect(code == "40004")
            #expect(subCode == "ACQ.TRADE_STATUS_ERROR")
            #expect(await harness.sandbox.trade(outTradeNo: "PAID1")?.status == .tradeSuccess)
        }
    }

    @Test func refundsStopAtThePaidAmount() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "RF1", amount: "10.00", client: client)
            _ = try await harness.sandbox.login(outTradeNo: "RF1")
            let unpaid = try await merchant.call(TradeRefund(outTradeNo: "RF1", refundAmount: Amount(fen: 100)), client: client)
            guard case .rejected(_, "ACQ.TRADE_STATUS_ERROR", _) = unpaid else {
                Issue.record("refunding an unpaid trade: \(unpaid)")
                return
            }
            _ = try await harness.sandbox.pay(outTradeNo: "RF1")
            let first = try #require(
                try await merchant.call(TradeRefund(outTradeNo: "RF1", refundAmount: Amount(fen: 400), outRequestNo: "A"), client: client).value)
            #expect(first.refundFee == Amount(fen: 400))
            let repeated = try #require(
                try await merchant.call(TradeRefund(outTradeNo: "RF1", refundAmount: Amount(fen: 400), outRequestNo: "A"), client: client).value)
            #expect(repeated.fundChange == "N", "the same out_request_no repeats the answer, not the refund")
            #expect(repeated.refundFee == Amount(fen: 400))
            let tooMuch = try await merchant.call(TradeRefund(outTradeNo: "RF1", refundAmount: Amount(fen: 601), outRequestNo: "B"), client: client)
            guard case .rejected(_, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", _) = tooMuch else {
                Issue.record("over-refund: \(tooMuch)")
                return
            }
            let rest = try #require(
                try await merchant.call(TradeRefund(outTradeNo: "RF1", refundAmount: Amount(fen: 600), outRequestNo: "C"), client: client).value)
            #expect(rest.refundFee == Amount(fen: 1000))
            let query = try #require(try await merchant.call(TradeQuery(outTradeNo: "RF1"), client: client).value)
            #expect(query.tradeStatus == .tradeClosed)
            let afterClose = try await merchant.call(TradeRefund(outTradeNo: "RF1", refundAmount: Amount(fen: 1), outRequestNo: "D"), client: client)
            guard case .rejected(_, "ACQ.TRADE_STATUS_ERROR", _) = afterClose else {
                Issue.record("refund after full refund: \(afterClose)")
                return
            }
        }
    }

    @Test func pagePayAgainForTheSameOrderShowsTheSameTradeOrRefusesChanges() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "SAME", amount: "1.00", client: client)
            let first = try #require(await harness.sandbox.trade(outTradeNo: "SAME"))
            _ = try await merchant.openCashier(outTradeNo: "SAME", amount: "1.00", client: client)
            #expect(await harness.sandbox.trade(outTradeNo: "SAME")?.tradeNo == first.tradeNo)
            let changed = try await merchant.openCashier(outTradeNo: "SAME", amount: "2.00", client: client)
            #expect(changed.contains("ACQ.CONTEXT_INCONSISTENT"))
            _ = try await harness.sandbox.pay(outTradeNo: "SAME")
            let paid = try await merchant.openCashier(outTradeNo: "SAME", amount: "1.00", client: client)
            #expect(paid.contains("ACQ.TRADE_HAS_SUCCESS"))
        }
    }
}
