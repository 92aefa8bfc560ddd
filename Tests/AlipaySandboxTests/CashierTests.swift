import AlipayKit
import AlipaySandbox
import Foundation
import HummingbirdTesting
import Testing

/// The cashier page: its Pay form redirects to `return_url` with parameters AlipayKit verifies; Cancel closes.
@Suite struct CashierTests {
    @Test func payRedirectsToReturnURLWithVerifiableParameters() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient(returnURL: "http://merchant.test/alipay/return?shop=1")
        try await harness.run { client in
            let response = try await merchant.pay(outTradeNo: "CASH1", amount: "66.60", client: client)
            #expect(response.status == .seeOther)
            let location = try #require(response.headers[.location])
            #expect(location.hasPrefix("http://merchant.test/alipay/return?shop=1&"))
            let query = String(location.split(separator: "?", maxSplits: 1)[1]).replacingOccurrences(of: "shop=1&", with: "")
            let returned = try Fixtures.notificationVerifier.verifyReturn(query: query)
            let trade = try #require(await harness.sandbox.trade(outTradeNo: "CASH1"))
            #expect(returned.outTradeNo == "CASH1")
            #expect(returned.tradeNo == trade.tradeNo)
            #expect(returned.totalAmount == Amount(fen: 6660))
            #expect(returned.sellerId == Fixtures.sellerId)
            #expect(returned.appId == Fixtures.appId)
            #expect(returned.parameters["method"] == "alipay.trade.page.pay.return")
            #expect(returned.parameters["charset"] == "utf-8")
            #expect(returned.parameters["version"] == "1.0")
            #expect(returned.parameters["sign_type"] == "RSA2")
            #expect(returned.timestamp.flatMap { $0.wholeMatch(of: /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/) } != nil)

            let query2 = try #require(try await merchant.call(TradeQuery(outTradeNo: "CASH1"), client: client).value)
            #expect(query2.tradeStatus == .tradeSuccess)
            #expect(query2.buyerLogonId?.contains("****") == true)
            #expect(query2.sendPayDate != nil)
        }
    }

    @Test func tamperedReturnParametersDoNotVerify() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let response = try await merchant.pay(outTradeNo: "CASH2", amount: "1.00", client: client)
            let location = try #require(response.headers[.location])
            let query = String(location.split(separator: "?", maxSplits: 1)[1]).replacingOccurrences(of: "total_amount=1.00", with: "total_amount=0.01")
            #expect(throws: NotificationError.invalidSignature) { try Fixtures.notificationVerifier.verifyReturn(query: query) }
        }
    }

    @Test func secondPayClickRedirectsAgainWithoutPayingTwice() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let first = try await merchant.pay(outTradeNo: "CASH3", client: client)
            let trade = try #require(await harness.sandbox.trade(outTradeNo: "CASH3"))
            let again = try await client.execute(uri: "/cashier/\(trade.tradeNo)/pay", method: .post)
            #expect(first.status == .seeOther && again.status == .seeOther)
            #expect(await harness.sandbox.trade(outTradeNo: "CASH3")?.gmtPayment == trade.gmtPayment)
        }
    }

    @Test func withoutReturnURLThePaidPageIsShown() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient(returnURL: nil)
        try await harness.run { client in
            let response = try await merchant.pay(outTradeNo: "CASH4", client: client)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("TRADE_SUCCESS"))
        }
    }

    @Test func cancelClosesTheTrade() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let html = try await merchant.openCashier(outTradeNo: "CASH5", client: client)
            let action = try #require(html.firstMatch(of: /action="(\/cashier\/\d+\/cancel)"/)).1
            let response = try await client.execute(uri: String(action), method: .post)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("TRADE_CLOSED"))
            #expect(await harness.sandbox.trade(outTradeNo: "CASH5")?.status == .tradeClosed)
            let trade = try #require(await harness.sandbox.trade(outTradeNo: "CASH5"))
            let pay = try await client.execute(uri: "/cashier/\(trade.tradeNo)/pay", method: .post)
            #expect(pay.status == .conflict)
            #expect(String(buffer: pay.body).contains("ACQ.TRADE_HAS_CLOSE"))
        }
    }

    @Test func cashierPageCanBeOpenedAgainByTradeNumber() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let trade = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "CASH6", totalAmount: Amount(fen: 123), subject: "Again"))
            let page = try await client.execute(uri: "/cashier/\(trade.tradeNo)", method: .get)
            #expect(String(buffer: page.body).contains("1.23"))
            let missing = try await client.execute(uri: "/cashier/2026000000000000000000000000", method: .get)
            #expect(missing.status == .notFound)
        }
    }
}
