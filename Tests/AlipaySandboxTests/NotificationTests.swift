import AlipayKit
import AlipaySandbox
import Foundation
import HummingbirdTesting
import Testing

/// Notifications: Alipay's fields, signed with Alipay's key, re-sent on Alipay's schedule until answered `success`.
@Suite struct NotificationTests {
    @Test func paymentNotificationCarriesAlipaysFieldsAndVerifies() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            let client = MerchantClient(notifyURL: notifyURL)
            try await harness.run { http in
                _ = try await client.pay(outTradeNo: "N1", amount: "88.88", client: http)
                try await waitUntil(harness.sandbox, "the notification") { $0.deliveries.count == 1 && $0.pendingNotifications == 0 }
            }
            let body = try #require(merchant.bodies.first)
            let notification = try Fixtures.notificationVerifier.verify(body: body)
            let trade = try #require(await harness.sandbox.trade(outTradeNo: "N1"))
            let p = notification.parameters
            #expect(p["notify_type"] == "trade_status_sync")
            #expect(p["notify_id"].map { $0.wholeMatch(of: /\d{34}/) != nil } == true)
            #expect(p["notify_time"].map { $0.wholeMatch(of: /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/) != nil } == true)
            #expect(p["app_id"] == Fixtures.appId && p["auth_app_id"] == Fixtures.appId)
            #expect(p["charset"] == "utf-8" && p["version"] == "1.0" && p["sign_type"] == "RSA2")
            #expect(p["trade_no"] == trade.tradeNo)
            #expect(p["trade_no"].map { $0.wholeMatch(of: /20\d{6}2200140\d{13}/) != nil } == true)
            #expect(p["out_trade_no"] == "N1")
            #expect(p["buyer_id"].map { $0.wholeMatch(of: /2088\d{12}/) != nil } == true)
            #expect(p["buyer_logon_id"].map { $0.wholeMatch(of: /1\d\d\*{4}\d{4}/) != nil } == true)
            #expect(p["seller_id"] == Fixtures.sellerId)
            #expect(p["seller_email"]?.contains("@") == true)
            #expect(p["trade_status"] == "TRADE_SUCCESS")
            for field in ["total_amount", "receipt_amount", "invoice_amount", "buyer_pay_amount"] {
                #expect(p[field] == "88.88", "\(field)")
            }
            #expect(p["point_amount"] == "0.00")
            #expect(p["subject"] == "Sandbox order")
            #expect(p["gmt_create"] == trade.gmtCreate && p["gmt_payment"] == trade.gmtPayment)
            #expect(p["fund_bill_list"] == #"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"#)
            #expect(notification.fundBillList == [FundBill(fundChannel: "ALIPAYACCOUNT", amount: Amount(fen: 8888))])
            #expect(notification.tradeStatus == .tradeSuccess && notification.totalAmount == Amount(fen: 8888))
            #expect(body.contains("subject=Sandbox+order"), "form-encoded as Alipay's sender does, a space as '+'")
            let delivery = try #require(await harness.sandbox.deliveries().first)
            #expect(delivery.acknowledged && delivery.answer == "success" && delivery.httpStatus == 200 && delivery.attempt == 1)
            #expect(delivery.notifyId == p["notify_id"])
        }
    }

    @Test func alwaysFailingMerchantGetsExactlyEightAttemptsOnAlipaysSchedule() async throws {
        let merchant = Merchant(always: "failure")
        let timeScale = 100_000.0
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness(Fixtures.configuration(timeScale: timeScale))
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "R8", totalAmount: Amount(fen: 100), subject: "retry", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "R8")
                try await waitUntil(harness.sandbox, "the whole schedule") { $0.deliveries.count >= 8 && $0.pendingNotifications == 0 }
            }
            let deliveries = await harness.sandbox.deliveries()
            #expect(deliveries.count == 8)
            #expect(merchant.bodies.count == 8)
            #expect(deliveries.map(\.attempt) == Array(1...8))
            #expect(Set(deliveries.map(\.notifyId)).count == 1, "one notify_id across re-sends")
            #expect(deliveries.allSatisfy { !$0.acknowledged && $0.answer == "failure" })
            let notifyIds = Set(try merchant.bodies.map { try Fixtures.notificationVerifier.verify(body: $0).notifyId })
            #expect(notifyIds == [deliveries[0].notifyId])
            // Each gap is at least the scaled interval after the previous attempt ended.
            let schedule = RetrySchedule(timeScale: timeScale)
            for index in 1..<deliveries.count {
                let previous = deliveries[index - 1]
                let ended = previous.time.addingTimeInterval(Double(previous.durationMs) / 1000)
                let gap = deliveries[index].time.timeIntervalSince(ended)
                let expected = try #require(schedule.delay(afterFailedAttempt: index))
                #expect(gap >= Double(expected.components.seconds) + Double(expected.components.attoseconds) / 1e18 - 0.002, "gap before attempt \(index + 1)")
            }
        }
    }

    @Test func deliveryStopsAtTheFirstSuccess() async throws {
        let merchant = Merchant { count, _ in (count < 3 ? "failure" : "success", nil) }
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "S3", totalAmount: Amount(fen: 100), subject: "stop", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "S3")
                try await waitUntil(harness.sandbox, "the acknowledgement") { $0.pendingNotifications == 0 && !$0.deliveries.isEmpty }
            }
            let deliveries = await harness.sandbox.deliveries()
            #expect(deliveries.map(\.attempt) == [1, 2, 3])
            #expect(deliveries.map(\.acknowledged) == [false, false, true])
            #expect(merchant.bodies.count == 3)
        }
    }

    @Test func anythingButSuccessIsRetried() async throws {
        let merchant = Merchant { count, _ in
            switch count {
            case 1: ("SUCCESS", nil)
            case 2: ("fail", nil)
            default: ("success", nil)
            }
        }
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "ANY", totalAmount: Amount(fen: 100), subject: "answers", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "ANY")
                try await waitUntil(harness.sandbox, "the acknowledgement") { $0.pendingNotifications == 0 && !$0.deliveries.isEmpty }
            }
            let deliveries = await harness.sandbox.deliveries()
            #expect(deliveries.map(\.answer) == ["SUCCESS", "fail", "success"], "only the literal success acknowledges")
            #expect(deliveries.map(\.acknowledged) == [false, false, true])
            #expect(deliveries.map(\.attempt) == [1, 2, 3])
        }
    }

    /// The merchant holds its first answer until the test ends, so the sandbox can only move on by giving up on it;
    /// what the second attempt gets back (on a loaded machine it may time out too) is not what this test is about.
    @Test func noAnswerInTimeIsRetried() async throws {
        let merchant = Merchant { count, _ in count == 1 ? ("success", .seconds(600)) : ("success", nil) }
        try await merchant.serve { notifyURL in
            var configuration = Fixtures.configuration()
            configuration.notifyTimeout = .milliseconds(300)
            let harness = try SandboxHarness(configuration)
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "TO", totalAmount: Amount(fen: 100), subject: "timeout", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "TO")
                try await waitUntil(harness.sandbox, "a second attempt") { $0.deliveries.count >= 2 }
            }
            let deliveries = await harness.sandbox.deliveries()
            let first = try #require(deliveries.first)
            #expect(first.answer == "timeout" && !first.acknowledged && first.httpStatus == nil)
            #expect(first.durationMs >= 250, "gave up after \(first.durationMs) ms, before the notify timeout")
            #expect(deliveries[1].attempt == 2 && deliveries[1].notifyId == first.notifyId)
            let ids = try merchant.bodies.map { try Fixtures.notificationVerifier.verify(body: $0).notifyId }
            #expect(ids.count >= 2 && ids.allSatisfy { $0 == first.notifyId }, "the held attempt reached the merchant")
        }
    }

    @Test func refundsNotifyWithRefundFields() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                let sandbox = harness.sandbox
                _ = try await sandbox.openTrade(NewTrade(outTradeNo: "RN", totalAmount: Amount(fen: 1000), subject: "refund me", notifyUrl: notifyURL))
                _ = try await sandbox.pay(outTradeNo: "RN")
                try await waitUntil(sandbox, "the payment notification") { $0.deliveries.count == 1 && $0.pendingNotifications == 0 }
                _ = try await sandbox.refund(outTradeNo: "RN", tradeNo: nil, amount: Amount(fen: 300), outRequestNo: "RQ1", reason: nil)
                try await waitUntil(sandbox, "the partial refund notification") { $0.deliveries.count == 2 && $0.pendingNotifications == 0 }
                _ = try await sandbox.refund(outTradeNo: "RN", tradeNo: nil, amount: Amount(fen: 700), outRequestNo: "RQ2", reason: "all")
                try await waitUntil(sandbox, "the full refund notification") { $0.deliveries.count == 3 && $0.pendingNotifications == 0 }
            }
            let notifications = try merchant.bodies.map { try Fixtures.notificationVerifier.verify(body: $0) }
            #expect(notifications.map(\.tradeStatus) == [.tradeSuccess, .tradeSuccess, .tradeClosed])
            #expect(Set(notifications.map(\.notifyId)).count == 3)
            let partial = notifications[1]
            #expect(partial.refundFee == Amount(fen: 300))
            #expect(partial.outBizNo == "RQ1")
            #expect(partial.gmtRefund != nil)
            #expect(partial.totalAmount == Amount(fen: 1000))
            let full = notifications[2]
            #expect(full.refundFee == Amount(fen: 1000))
            #expect(full.outBizNo == "RQ2")
            #expect(full.gmtRefund != nil && full.gmtClose != nil)
            #expect(await harness.sandbox.trade(outTradeNo: "RN")?.status == .tradeClosed)
        }
    }

    @Test func closingAnUnpaidTradeNotifiesTradeClosed() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "CL", totalAmount: Amount(fen: 100), subject: "close", notifyUrl: notifyURL))
                _ = try await harness.sandbox.login(outTradeNo: "CL")
                _ = try await harness.sandbox.close(outTradeNo: "CL", tradeNo: nil)
                try await waitUntil(harness.sandbox, "the close notification") { $0.deliveries.count == 1 && $0.pendingNotifications == 0 }
            }
            let notification = try Fixtures.notificationVerifier.verify(body: try #require(merchant.bodies.first))
            #expect(notification.tradeStatus == .tradeClosed)
            #expect(notification.gmtClose != nil && notification.gmtPayment == nil && notification.buyerId == nil)
        }
    }

    @Test func tradeFinishedFollowsWhenConfigured() async throws {
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            var configuration = Fixtures.configuration()
            configuration.finishAfter = .seconds(60)
            let harness = try SandboxHarness(configuration)
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "FIN", totalAmount: Amount(fen: 100), subject: "finish", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "FIN")
                try await waitUntil(harness.sandbox, "TRADE_FINISHED") { $0.deliveries.count == 2 && $0.pendingNotifications == 0 }
            }
            let statuses = try merchant.bodies.map { try Fixtures.notificationVerifier.verify(body: $0).tradeStatus }
            #expect(statuses == [.tradeSuccess, .tradeFinished])
            #expect(await harness.sandbox.trade(outTradeNo: "FIN")?.status == .tradeFinished)
        }
    }

    @Test func noNotifyURLMeansNoNotification() async throws {
        let harness = try SandboxHarness()
        try await harness.run { _ in
            _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "QUIET", totalAmount: Amount(fen: 100), subject: "quiet"))
            _ = try await harness.sandbox.pay(outTradeNo: "QUIET")
            #expect(await harness.sandbox.pendingNotificationCount() == 0)
        }
    }

    @Test func privateKeysNeverReachTheLog() async throws {
        let capture = LogCapture()
        let merchant = Merchant(always: "success")
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness(Fixtures.configuration(), logger: capture.logger())
            let client = MerchantClient(notifyURL: notifyURL)
            try await harness.run { http in
                _ = try await client.pay(outTradeNo: "LOG1", client: http)
                _ = try await client.call(TradeQuery(outTradeNo: "LOG1"), client: http)
                var tampered = try client.parameters(TradeQuery(outTradeNo: "LOG1"))
                tampered["sign"] = "AAAA"
                _ = try await client.get(tampered, client: http)
                try await waitUntil(harness.sandbox, "the notification") { $0.pendingNotifications == 0 && !$0.deliveries.isEmpty }
            }
        }
        let lines = capture.all
        #expect(!lines.isEmpty)
        for key in [Fixtures.alipayKey.pemRepresentation, Fixtures.appKey.pemRepresentation] {
            let chunks = key.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
            for line in lines {
                #expect(!chunks.contains { line.contains($0) }, "a log line contains private key material")
            }
        }
    }
}
