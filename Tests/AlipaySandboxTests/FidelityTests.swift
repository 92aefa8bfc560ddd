import AlipayKit
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import AlipaySandbox

/// The protocol reviewer's findings (coord/SANDBOX-REVIEW.md), each pinned to Alipay's real behaviour.
@Suite struct FidelityTests {
    // MARK: 1. Pre-trades

    @Test func pagePayOpensAPreTradeThatQueryCloseAndRefundDoNotKnow() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "PRE1", amount: "10.00", client: client)
            let preTrade = try #require(await harness.sandbox.trade(outTradeNo: "PRE1"))
            #expect(preTrade.isPreTrade && preTrade.status == .waitBuyerPay)
            guard case .tradeNotExist = try await merchant.call(TradeQuery(outTradeNo: "PRE1"), client: client) else {
                Issue.record("query of a pre-trade must be ACQ.TRADE_NOT_EXIST")
                return
            }
            guard case .tradeNotExist = try await merchant.call(TradeQuery(tradeNo: preTrade.tradeNo), client: client) else {
                Issue.record("query of a pre-trade by trade_no must be ACQ.TRADE_NOT_EXIST")
                return
            }
            let close = try await merchant.get(try merchant.parameters(TradeClose(outTradeNo: "PRE1")), client: client)
            #expect(String(buffer: close.body).contains(#""code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST""#))
            guard case .tradeNotExist = try await merchant.call(TradeRefund(outTradeNo: "PRE1", refundAmount: Amount(fen: 1)), client: client) else {
                Issue.record("refund of a pre-trade must be ACQ.TRADE_NOT_EXIST")
                return
            }
            // trade.close changed nothing: the buyer can still log in and pay until the order expires, as at Alipay.
            #expect(await harness.sandbox.trade(outTradeNo: "PRE1")?.isPreTrade == true)

            let login = try await client.execute(uri: "/sandbox/trades/PRE1/login", method: .post)
            #expect(login.status == .ok)
            let shown = try JSONSerialization.jsonObject(with: Data(login.body.readableBytesView)) as? [String: Any]
            #expect(shown?["pre_trade"] as? Bool == false && shown?["status"] as? String == "WAIT_BUYER_PAY")
            let waiting = try #require(try await merchant.call(TradeQuery(outTradeNo: "PRE1"), client: client).value)
            #expect(waiting.tradeStatus == .waitBuyerPay && waiting.tradeNo == preTrade.tradeNo)
            let closed = try #require(try await merchant.call(TradeClose(outTradeNo: "PRE1"), client: client).value)
            #expect(closed.code == "10000")
            #expect(await harness.sandbox.trade(outTradeNo: "PRE1")?.status == .tradeClosed)
        }
    }

    @Test func controlAPIPreTradeJSONAndPayLogsInFirst() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let created = try await client.execute(
                uri: "/sandbox/trades", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"out_trade_no":"PRE2","total_amount":"3.00","subject":"pre"}"#))
            #expect(created.status == .created)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any])
            #expect(json["pre_trade"] as? Bool == true && json["status"] as? String == "WAIT_BUYER_PAY")
            let paid = try await client.execute(uri: "/sandbox/trades/PRE2/pay", method: .post)
            #expect(paid.status == .ok)
            let trade = try #require(await harness.sandbox.existingTrade(outTradeNo: "PRE2"))
            #expect(!trade.isPreTrade && trade.status == .tradeSuccess && trade.gmtPayment != nil)
            let loginAfterPay = try await client.execute(uri: "/sandbox/trades/PRE2/login", method: .post)
            #expect(loginAfterPay.status == .conflict)
            #expect(String(buffer: loginAfterPay.body).contains("ACQ.TRADE_HAS_SUCCESS"))
            #expect(try await client.execute(uri: "/sandbox/trades/NOPE/login", method: .post).status == .notFound)
        }
    }

    @Test func cancelOnAPreTradeSendsNothingAndClosesItForThePayer() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            let client = MerchantClient(notifyURL: notifyURL)
            try await harness.run { http in
                let html = try await client.openCashier(outTradeNo: "PRE3", client: http)
                #expect(html.contains("action=\"/cashier/") && html.contains("/login\""))
                let action = try #require(html.firstMatch(of: /action="(\/cashier\/\d+\/cancel)"/)).1
                let cancelled = try await http.execute(uri: String(action), method: .post)
                #expect(String(buffer: cancelled.body).contains("sends no notification"))
                // Nothing was queued by the cancel: no attempt pending, none made.
                #expect(await harness.sandbox.pendingNotificationCount() == 0)
                #expect(await harness.sandbox.deliveries().isEmpty)
                #expect(await harness.sandbox.trade(outTradeNo: "PRE3")?.status == .tradeClosed)
                guard case .tradeNotExist = try await client.call(TradeQuery(outTradeNo: "PRE3"), client: http) else {
                    Issue.record("an expired pre-trade never became a trade")
                    return
                }
                let tradeNo = try #require(await harness.sandbox.trade(outTradeNo: "PRE3")?.tradeNo)
                let pay = try await http.execute(uri: "/cashier/\(tradeNo)/pay", method: .post)
                #expect(pay.status == .conflict && String(buffer: pay.body).contains("ACQ.TRADE_HAS_CLOSE"))
            }
            #expect(merchant.bodies.isEmpty)
        }
    }

    @Test func cashierLogInCreatesTheTradeWithoutANotification() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient(notifyURL: "http://127.0.0.1:9/notify")
        try await harness.run { client in
            let html = try await merchant.openCashier(outTradeNo: "PRE4", client: client)
            let action = try #require(html.firstMatch(of: /action="(\/cashier\/\d+\/login)"/)).1
            let page = try await client.execute(uri: String(action), method: .post)
            #expect(page.status == .ok && String(buffer: page.body).contains("WAIT_BUYER_PAY"))
            #expect(!String(buffer: page.body).contains("/login\""), "no second Log in once the trade exists")
            #expect(await harness.sandbox.existingTrade(outTradeNo: "PRE4")?.status == .waitBuyerPay)
            #expect(await harness.sandbox.pendingNotificationCount() == 0, "WAIT_BUYER_PAY is not notified")
        }
    }

    // MARK: 2. One sign_type per app

    @Test func signTypeOtherThanTheAppsIsInvalidSignatureSignedWithTheAppsType() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            var configuration = Fixtures.alipayConfiguration()
            configuration.signType = .rsa
            let rsaMerchant = MerchantClient(signer: RequestSigner(configuration: configuration))
            let response = try await rsaMerchant.get(try rsaMerchant.parameters(TradeQuery(outTradeNo: "X")), client: client)
            let body = String(buffer: response.body)
            let node = try #require(ResponseExtractor.rawNode(named: "alipay_trade_query_response", in: body))
            let fields = try JSONDecoder().decode([String: String].self, from: Data(node.utf8))
            #expect(fields["code"] == "40002" && fields["sub_code"] == "isv.invalid-signature")
            #expect(fields["sub_msg"]?.contains("sign值与sign_type参数指定的签名类型不一致") == true)
            #expect(fields["sub_msg"]?.contains("sign_type参数值为RSA，您实际用的签名类型可能是RSA2") == true)
            let sign = try #require(body.firstMatch(of: /"sign":"([^"]+)"/)).1
            #expect(Fixtures.alipayKey.publicKey.isValidSignature(String(sign), for: String(node), type: .rsa2), "signed with the app's RSA2")
            #expect(!Fixtures.alipayKey.publicKey.isValidSignature(String(sign), for: String(node), type: .rsa))
        }
    }

    @Test func anRSAAppIsAnsweredInRSA() async throws {
        var configuration = Fixtures.configuration()
        configuration.signType = .rsa
        let harness = try SandboxHarness(configuration)
        try await harness.run { client in
            var merchantConfiguration = Fixtures.alipayConfiguration()
            merchantConfiguration.signType = .rsa
            let merchant = MerchantClient(signer: RequestSigner(configuration: merchantConfiguration))
            let response = try await merchant.get(try merchant.parameters(TradeQuery(outTradeNo: "NONE")), client: client)
            let outcome = ResponseVerifier(alipayPublicKey: Fixtures.alipayKey.publicKey, signType: .rsa)
                .outcome(for: TradeQuery.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            guard case .tradeNotExist = outcome else {
                Issue.record("expected a verified RSA answer, got \(outcome)")
                return
            }
            let rsa2Request = try await MerchantClient().call(TradeQuery(outTradeNo: "NONE"), client: client)
            guard case .configurationError(let message) = rsa2Request else {
                Issue.record("an RSA2 request to an RSA app: \(rsa2Request)")
                return
            }
            #expect(message.contains("isv.invalid-signature"))
        }
    }

    // MARK: 3. Charset from the URL

    @Test func postWithCharsetOnlyInTheBodyFailsVerificationAsAtAlipay() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let parameters = try merchant.parameters(TradeQuery(outTradeNo: "CS1"))
            let response = try await client.execute(
                uri: "/gateway.do", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: FormCodec.encode(parameters)))
            let body = String(buffer: response.body)
            let node = try #require(ResponseExtractor.rawNode(named: "alipay_trade_query_response", in: body))
            let fields = try JSONDecoder().decode([String: String].self, from: Data(node.utf8))
            #expect(fields["code"] == "40002" && fields["sub_code"] == "isv.invalid-signature")
            #expect(fields["sub_msg"] == Gateway.charsetNotInURLMessage)
            #expect(body.contains(#""sign":""#))
            // The same request with charset in the URL passes (MerchantClient.post puts it there).
            let outcome = Fixtures.responseVerifier.outcome(
                for: TradeQuery.self, httpStatus: 200, body: Array(try await merchant.post(parameters, client: client).body.readableBytesView))
            guard case .tradeNotExist = outcome else {
                Issue.record("with charset in the URL: \(outcome)")
                return
            }
        }
    }

    @Test func nonUTF8RequestsAreRefusedExplicitly() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            var parameters = try merchant.parameters(TradeQuery(outTradeNo: "CS2"))
            parameters["charset"] = "GBK"
            parameters["sign"] = try Fixtures.appKey.sign(SignString.forRequest(parameters), type: .rsa2)
            let body = String(buffer: try await merchant.get(parameters, client: client).body)
            #expect(body.contains(#""sub_code":"isv.invalid-charset""#))
            #expect(body.contains("utf-8"))
        }
    }

    // MARK: 4. Redirects are not followed

    @Test func aRedirectIsAFailedAttemptAndIsNotFollowed() async throws {
        let merchant = ScriptedMerchant { count in count == 1 ? .redirect("/landing") : .answer("success") }
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "RD", totalAmount: Amount(fen: 100), subject: "redirect", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "RD")
                try await waitUntil(harness.sandbox, "the acknowledgement") { $0.pendingNotifications == 0 && !$0.deliveries.isEmpty }
            }
            let deliveries = await harness.sandbox.deliveries()
            #expect(deliveries.map(\.httpStatus) == [302, 200])
            #expect(deliveries.map(\.acknowledged) == [false, true])
            #expect(merchant.landingHits == 0, "Alipay's notifier does not follow redirects")
        }
    }

    // MARK: 5 and 11. Refund answers

    @Test func repeatedOutRequestNoWithAnotherAmountIsDiscordant() async throws {
        let sandbox = try Sandbox(configuration: Fixtures.configuration())
        _ = try await sandbox.openTrade(NewTrade(outTradeNo: "DR", totalAmount: Amount(fen: 1000), subject: "discordant"))
        _ = try await sandbox.pay(outTradeNo: "DR")
        _ = try await sandbox.refund(outTradeNo: "DR", tradeNo: nil, amount: Amount(fen: 100), outRequestNo: "R1", reason: nil)
        await #expect(throws: TradeError.discordantRepeatRequest) {
            try await sandbox.refund(outTradeNo: "DR", tradeNo: nil, amount: Amount(fen: 200), outRequestNo: "R1", reason: nil)
        }
        let same = try await sandbox.refund(outTradeNo: "DR", tradeNo: nil, amount: Amount(fen: 100), outRequestNo: "R1", reason: nil)
        #expect(!same.fundChange && same.trade.refundedAmount == Amount(fen: 100))
        #expect(TradeError.discordantRepeatRequest.subCode == "ACQ.DISCORDANT_REPEAT_REQUEST")
    }

    @Test func refundingAClosedTradeIsTradeStatusErrorOverTheGateway() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "RC", totalAmount: Amount(fen: 500), subject: "closed"))
            _ = try await harness.sandbox.pay(outTradeNo: "RC")
            _ = try #require(try await merchant.call(TradeRefund(outTradeNo: "RC", refundAmount: Amount(fen: 500), outRequestNo: "ALL"), client: client).value)
            let again = try await merchant.call(TradeRefund(outTradeNo: "RC", refundAmount: Amount(fen: 1), outRequestNo: "MORE"), client: client)
            guard case .rejected("40004", "ACQ.TRADE_STATUS_ERROR", _) = again else {
                Issue.record("refund of a closed trade: \(again)")
                return
            }
            let discordant = try await merchant.call(TradeRefund(outTradeNo: "RC", refundAmount: Amount(fen: 499), outRequestNo: "ALL"), client: client)
            guard case .rejected("40004", "ACQ.DISCORDANT_REPEAT_REQUEST", _) = discordant else {
                Issue.record("repeated out_request_no, other amount: \(discordant)")
                return
            }
            let repeated = try #require(
                try await merchant.call(TradeRefund(outTradeNo: "RC", refundAmount: Amount(fen: 500), outRequestNo: "ALL"), client: client).value)
            #expect(repeated.fundChange == "N")
        }
    }

    // MARK: 6. timeout_express / time_expire

    @Test func expiryFieldsParseAsAlipayWritesThem() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 19:06:40 China time
        #expect(try TradeExpiry.parse(timeoutExpress: "30m", timeExpire: nil, now: now) == .after(.seconds(1800)))
        #expect(try TradeExpiry.parse(timeoutExpress: "2h", timeExpire: nil, now: now) == .after(.seconds(7200)))
        #expect(try TradeExpiry.parse(timeoutExpress: "15d", timeExpire: nil, now: now) == .after(.seconds(15 * 86_400)))
        #expect(try TradeExpiry.parse(timeoutExpress: "1c", timeExpire: nil, now: now) == .endOfDay)
        #expect(try TradeExpiry.parse(timeoutExpress: nil, timeExpire: nil, now: now) == nil)
        let at = try TradeExpiry.parse(timeoutExpress: "30m", timeExpire: "2026-11-18 20:00:00", now: now)
        #expect(at == .at(Date(timeIntervalSince1970: 1_795_003_200)), "time_expire wins over timeout_express")
        for bad in ["0m", "1.5h", "16d", "2c", "30", "m", "30s", " 30m"] {
            #expect(throws: TradeError.self, "\(bad)") { try TradeExpiry.parse(timeoutExpress: bad, timeExpire: nil, now: now) }
        }
        #expect(throws: TradeError.self) { try TradeExpiry.parse(timeoutExpress: nil, timeExpire: "2026-11-18 19:00:00", now: now) }
        #expect(throws: TradeError.self) { try TradeExpiry.parse(timeoutExpress: nil, timeExpire: "2026/11/18 20:00", now: now) }
        // The wait is scaled; 1c ends at China midnight.
        #expect(TradeExpiry.after(.seconds(600)).deadline(openedAt: now, timeScale: 10) == now.addingTimeInterval(60))
        #expect(TradeExpiry.endOfDay.deadline(openedAt: now, timeScale: 1) == Date(timeIntervalSince1970: 1_795_017_600))
    }

    @Test func pagePayTimeoutExpressSetsTheExpiryAndBadValuesAreInvalidParameter() async throws {
        let harness = try SandboxHarness(Fixtures.configuration(timeScale: 1))
        let merchant = MerchantClient()
        try await harness.run { client in
            let before = Date()
            let request = TradePagePay(outTradeNo: "TX1", totalAmount: Amount(fen: 100), subject: "expiring", timeoutExpress: "30m")
            _ = try await merchant.get(try merchant.parameters(request), client: client)
            let after = Date()
            let expireAt = try #require(await harness.sandbox.trade(outTradeNo: "TX1")?.expireAt)
            #expect(expireAt >= before.addingTimeInterval(1800) && expireAt <= after.addingTimeInterval(1800))
            let bad = TradePagePay(outTradeNo: "TX2", totalAmount: Amount(fen: 100), subject: "bad", timeoutExpress: "1.5h")
            let page = String(buffer: try await merchant.get(try merchant.parameters(bad), client: client).body)
            #expect(page.contains("ACQ.INVALID_PARAMETER") && page.contains("timeout_express"))
            #expect(await harness.sandbox.trade(outTradeNo: "TX2") == nil)
        }
    }

    @Test func anUnpaidTradeClosesAtItsExpiryWithANotificationAPreTradeSilently() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            // Real time scale: the orders were opened two minutes ago with one minute to live.
            let harness = try SandboxHarness(Fixtures.configuration(timeScale: 1))
            let opened = Date().addingTimeInterval(-120)
            let sandbox = harness.sandbox
            // Opened before the dispatcher runs: it would otherwise expire EXP1 before the buyer's login below.
            _ = try await sandbox.openTrade(
                NewTrade(outTradeNo: "EXP1", totalAmount: Amount(fen: 100), subject: "logged in", notifyUrl: notifyURL, timeoutExpress: "1m"),
                now: opened)
            _ = try await sandbox.login(outTradeNo: "EXP1", now: opened)
            _ = try await sandbox.openTrade(
                NewTrade(outTradeNo: "EXP2", totalAmount: Amount(fen: 100), subject: "never logged in", notifyUrl: notifyURL, timeoutExpress: "1m"),
                now: opened)
            try await harness.run { _ in
                try await waitUntil(sandbox, "both expired and the close notified") { snapshot in
                    snapshot.trades.values.allSatisfy { $0.status == .tradeClosed } && snapshot.pendingNotifications == 0
                        && !snapshot.deliveries.isEmpty
                }
                await #expect(throws: TradeError.tradeHasClosed) { try await sandbox.pay(outTradeNo: "EXP2") }
                #expect(await sandbox.existingTrade(outTradeNo: "EXP2") == nil, "the pre-trade never became a trade")
            }
            let notifications = try merchant.bodies.map { try Fixtures.notificationVerifier.verify(body: $0) }
            #expect(notifications.map(\.outTradeNo) == ["EXP1"])
            #expect(notifications.first?.tradeStatus == .tradeClosed)
            #expect(notifications.first?.gmtClose == ChinaTime.string(opened.addingTimeInterval(60)))
        }
    }

    @Test func controlAPIAcceptsTimeoutExpress() async throws {
        let harness = try SandboxHarness(Fixtures.configuration(timeScale: 1))
        try await harness.run { client in
            let response = try await client.execute(
                uri: "/sandbox/trades", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"out_trade_no":"TX3","total_amount":"1.00","subject":"x","timeout_express":"2h"}"#))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            #expect(json["expire_at"] is String)
            let bad = try await client.execute(
                uri: "/sandbox/trades", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"total_amount":"1.00","subject":"x","timeout_express":"20d"}"#))
            #expect(bad.status == .badRequest && String(buffer: bad.body).contains("ACQ.INVALID_PARAMETER"))
        }
    }

    // MARK: 7. notify_url with a query string

    @Test func notifyURLQueryGoesInTheBodyUnsignedAsAlipaySendsIt() async throws {
        let merchant = Merchant(always: "failure")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(
                    NewTrade(outTradeNo: "NQ", totalAmount: Amount(fen: 100), subject: "query", notifyUrl: notifyURL + "?shop=7&r=a%2Fb"))
                _ = try await harness.sandbox.pay(outTradeNo: "NQ")
                try await waitUntil(harness.sandbox, "the first attempt") { !$0.deliveries.isEmpty }
            }
            let body = try #require(merchant.bodies.first)
            #expect(body.hasPrefix("shop=7&r=a%2Fb&"))
            #expect(await harness.sandbox.deliveries().first?.url == notifyURL, "posted to the URL without its query")
            // The extra fields are not signed: a merchant that verifies every field refuses the notification.
            #expect(throws: NotificationError.invalidSignature) { try Fixtures.notificationVerifier.verify(body: body) }
        }
    }

    // MARK: 8. GBK notifications

    @Test func gbkFaultSendsAnOldAccountsNotificationThatVerifiesOverGBKBytes() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness(Fixtures.configuration(faults: try FaultConfiguration(spec: "gbk:1", seed: 3)))
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "GBK", totalAmount: Amount(fen: 100), subject: "中文", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "GBK")
                try await waitUntil(harness.sandbox, "the notification") { $0.pendingNotifications == 0 && !$0.deliveries.isEmpty }
            }
            let body = try #require(merchant.bodies.first)
            #expect(body.contains("charset=GBK"))
            #expect(body.contains("subject=%D6%D0%CE%C4"), "中文 as GBK bytes")
            let notification = try Fixtures.notificationVerifier.verify(body: body)
            #expect(notification.subject == "中文" && notification.charset == "GBK")
        }
        #expect(try FaultConfiguration(spec: "gbk:0.5,escapedslash:0.25").spec == "escapedslash:0.25,gbk:0.5")
    }

    // MARK: 9. Exactly `success`, HTTP 200

    @Test func onlyHTTP200WithExactlySuccessAcknowledges() async throws {
        let merchant = ScriptedMerchant { count in
            switch count {
            case 1: .answer("success\n")
            case 2: .answer(" success")
            case 3: .status(.created, "success")
            default: .answer("success")
            }
        }
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "ACK", totalAmount: Amount(fen: 100), subject: "ack", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "ACK")
                try await waitUntil(harness.sandbox, "the acknowledgement") { $0.pendingNotifications == 0 && !$0.deliveries.isEmpty }
            }
            let deliveries = await harness.sandbox.deliveries()
            #expect(deliveries.map(\.answer) == ["success\n", " success", "success", "success"])
            #expect(deliveries.map(\.httpStatus) == [200, 200, 201, 200])
            #expect(deliveries.map(\.acknowledged) == [false, false, false, true])
        }
    }

    // MARK: 10. notify_id shape

    @Test func notifyIdIs34DigitsWithTheTimeOfDay() {
        let instant = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 19:06:40 China time
        #expect(Identifiers.notifyId(day: instant, sequence: 42) == "2026111800222190640000000000000042")
        #expect(Identifiers.notifyId(day: instant, sequence: 42).count == 34)
    }

    // MARK: Nits

    @Test func invalidSignatureSubMsgEscapesAmpersandsAndQuotesAsAlipayDoes() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            var parameters = try merchant.parameters(TradeQuery(outTradeNo: "ESC"))
            parameters["sign"] = try Fixtures.appKey.sign("something else", type: .rsa2)
            let body = String(buffer: try await merchant.get(parameters, client: client).body)
            let node = try #require(ResponseExtractor.rawNode(named: "alipay_trade_query_response", in: body))
            let subMsg = try #require(try JSONDecoder().decode([String: String].self, from: Data(node.utf8))["sub_msg"])
            #expect(subMsg.contains("app_id=\(Fixtures.appId)&amp;biz_content={&quot;out_trade_no&quot;:&quot;ESC&quot;}&amp;charset=utf-8"))
        }
    }

    @Test func escapedSlashAnswersVerifyThroughTheSecondAttempt() async throws {
        let harness = try SandboxHarness(Fixtures.configuration(faults: try FaultConfiguration(spec: "escapedslash:1", seed: 2)))
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "SL", totalAmount: Amount(fen: 100), subject: "A/B"))
            _ = try await harness.sandbox.login(outTradeNo: "SL")
            let response = try await merchant.get(try merchant.parameters(TradeQuery(outTradeNo: "SL")), client: client)
            let body = String(buffer: response.body)
            #expect(body.contains(#""subject":"A\/B""#))
            let outcome = Fixtures.responseVerifier.outcome(for: TradeQuery.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            #expect(outcome.value?.tradeStatus == .waitBuyerPay)
        }
    }

    @Test func fundBillListOnlyWhenQueryOptionsAskForIt() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "FB", totalAmount: Amount(fen: 100), subject: "bills"))
            _ = try await harness.sandbox.pay(outTradeNo: "FB")
            let plain = String(buffer: try await merchant.get(try merchant.parameters(TradeQuery(outTradeNo: "FB")), client: client).body)
            #expect(!plain.contains("fund_bill_list"))
            let asked = try await merchant.get(try merchant.parameters(QueryWithOptions(outTradeNo: "FB", queryOptions: ["fund_bill_list"])), client: client)
            #expect(String(buffer: asked.body).contains(#""fund_bill_list":[{"fund_channel":"ALIPAYACCOUNT","amount":"1.00"}]"#))
            let outcome = Fixtures.responseVerifier.outcome(for: QueryWithOptions.self, httpStatus: 200, body: Array(asked.body.readableBytesView))
            #expect(outcome.value?.tradeStatus == .tradeSuccess)
        }
    }

    @Test func multipartFormDataIsAccepted() async throws {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        try await harness.run { client in
            let parameters = try merchant.parameters(TradeQuery(outTradeNo: "MP"))
            let boundary = "----AlipaySandboxBoundary7"
            var body = ""
            for (key, value) in parameters.sorted(by: { $0.key < $1.key }) {
                body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(key)\"\r\n\r\n\(value)\r\n"
            }
            body += "--\(boundary)--\r\n"
            let response = try await client.execute(
                uri: "/gateway.do?charset=utf-8", method: .post, headers: [.contentType: "multipart/form-data; boundary=\(boundary)"],
                body: ByteBuffer(string: body))
            let outcome = Fixtures.responseVerifier.outcome(for: TradeQuery.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            guard case .tradeNotExist = outcome else {
                Issue.record("a multipart query: \(outcome)")
                return
            }
            let broken = try await client.execute(
                uri: "/gateway.do?charset=utf-8", method: .post, headers: [.contentType: "multipart/form-data; boundary=\(boundary)"],
                body: ByteBuffer(string: "--\(boundary)\r\nno headers"))
            #expect(String(buffer: broken.body).contains("isv.invalid-parameter"))
        }
    }
}

/// `alipay.trade.query` with `query_options`, which AlipayKit's `TradeQuery` does not send.
private struct QueryWithOptions: AlipayRequest {
    typealias Response = TradeQueryResponse
    static var method: String { "alipay.trade.query" }
    var outTradeNo: String
    var queryOptions: [String]

    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", queryOptions = "query_options" }
}

/// A `notify_url` on a real loopback port answering each notification as scripted (status, body or redirect).
private final class ScriptedMerchant: Sendable {
    enum Reply: Sendable {
        case answer(String)
        case status(HTTPResponse.Status, String)
        case redirect(String)
    }

    private let script: @Sendable (Int) -> Reply
    private let count = Mutex(0)
    private let landing = Mutex(0)

    init(_ script: @escaping @Sendable (Int) -> Reply) {
        self.script = script
    }

    /// How often a redirect target was reached.
    var landingHits: Int { landing.withLock { $0 } }

    func serve<Value: Sendable>(_ body: @Sendable (_ notifyURL: String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.post("/notify") { [self] request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            let number = count.withLock {
                $0 += 1
                return $0
            }
            switch script(number) {
            case .answer(let text):
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .status(let status, let text):
                return Response(status: status, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .redirect(let location):
                return Response(status: .found, headers: [.location: location])
            }
        }
        let land: @Sendable (Request, BasicRequestContext) async throws -> String = { [self] _, _ in
            self.landing.withLock { $0 += 1 }
            return "success"
        }
        router.post("/landing", use: land)
        router.get("/landing", use: land)
        return try await Application(router: router).test(.live) { client in
            try await body("http://localhost:\(client.port!)/notify")
        }
    }
}
